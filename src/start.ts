// `npm start`: one command for a working console. Prepares the database, then runs the web server and a worker
// as two child processes (the same entry points `npm run web` / `npm run worker` use) and stops both together.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.ts';
import { buildDeps } from './deps.ts';
import { runMain } from './lib/main.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

runMain('launchpad', async () => {
  const config = loadConfig();
  // Creates the database, runs migrations and generates boot secrets before either child starts.
  const deps = await buildDeps(config, 'launchpad');
  await deps.close();

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children.values()) child.kill('SIGTERM');
    setTimeout(() => process.exit(code), 15_000).unref();
    Promise.all([...children.values()].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(() =>
      process.exit(code),
    );
  };

  for (const [name, entry] of [['web', 'src/server.ts'], ['worker', 'worker.ts']] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], { stdio: 'inherit', env: process.env });
    children.set(name, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`launchpad: the ${name} process exited (${signal ?? `code ${code}`}); stopping the others\n`);
      stopAll(code || 1);
    });
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stopAll(0));
});
