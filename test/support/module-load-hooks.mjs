// Node module-loader hooks that append the URL of every module actually loaded to $LOADED_MODULES_FILE (one per
// line). Registered by register-module-recorder.mjs; test/web-process-modules.test.ts reads the list.
import { appendFileSync } from 'node:fs';
import process from 'node:process';

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (process.env.LOADED_MODULES_FILE) appendFileSync(process.env.LOADED_MODULES_FILE, `${url}\n`);
  return result;
}
