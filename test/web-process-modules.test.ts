// The web process serves pages and queues jobs; the build pipeline's steps and the SSH library belong to the worker.
// This runs the web process's composition (buildDeps + createApp) in a child with a module-load recorder and reads
// what it actually loaded.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { cloneTestDatabase } from './support/test-deps.ts';
import { REDIS_URL } from './support/database-urls.ts';

const run = promisify(execFile);
let loaded: string[] = [];
let served: { login: number; health: number };
let db: Awaited<ReturnType<typeof cloneTestDatabase>>;

beforeAll(async () => {
  db = await cloneTestDatabase();
  const dir = await mkdtemp(path.join(tmpdir(), 'web-modules-'));
  const file = path.join(dir, 'loaded.txt');
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', './test/support/register-module-recorder.mjs', 'test/support/web-process-modules.ts'], {
      env: {
        ...process.env,
        LOADED_MODULES_FILE: file,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: db.url,
        REDIS_URL,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        SESSION_SECRET: randomBytes(32).toString('hex'),
      },
      timeout: 60_000,
    });
    served = JSON.parse(stdout) as typeof served;
    loaded = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 90_000);

afterAll(() => db?.drop());

describe('the web process', () => {
  it('builds and serves (the recorder saw its own modules load)', () => {
    expect(served.health).toBe(200);
    expect(served.login).toBeLessThan(400); // the sign-in page, or on a fresh database a redirect to /setup
    expect(loaded.some((url) => url.endsWith('/src/app.ts'))).toBe(true);
    expect(loaded.some((url) => url.endsWith('/src/domain/containers/container-actions.ts'))).toBe(true);
  });

  it('does not load the pipeline steps', () => {
    expect(loaded.filter((url) => url.includes('/src/domain/pipeline/steps/'))).toEqual([]);
    expect(loaded.filter((url) => url.endsWith('/src/domain/pipeline/pipeline-runner.ts'))).toEqual([]);
  });

  it('does not load ssh2', () => {
    expect(loaded.filter((url) => url.includes('/node_modules/ssh2/'))).toEqual([]);
  });
});
