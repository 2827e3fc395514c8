// Child process of test/web-process-modules.test.ts: builds the web process as src/server.ts does (deps, then
// createApp), serves one page and one fragment, and exits; the module recorder has noted everything loaded.
import request from 'supertest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { buildDeps } from '../../src/deps.ts';

const deps = await buildDeps(loadConfig(), 'web');
const app = createApp(deps);
const login = await request(app).get('/login');
const health = await request(app).get('/healthz');
await deps.close();
process.stdout.write(JSON.stringify({ login: login.status, health: health.status }));
process.exit(0);
