// `node --import tsx --import ./test/support/register-module-recorder.mjs …`: records every module loaded.
import { register } from 'node:module';

register('./module-load-hooks.mjs', import.meta.url);
