// A real worker process (worker.ts) against a test's database and queue, for crash and scale-out tests.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Config } from '../../src/config.ts';

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  ready: Promise<void>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function startWorkerProcess(config: Config, overrides: Record<string, string> = {}): WorkerProcess {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
      QUEUE_PREFIX: config.queuePrefix,
      ENCRYPTION_KEY: config.encryptionKey!.toString('base64'),
      SESSION_SECRET: config.sessionSecret!,
      LOG_LEVEL: 'info',
      WORKER_LOCK_MS: '2000',
      PVE_POLL_MS: '50',
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('worker ready')) markReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => output, ready, exited, kill: (signal = 'SIGTERM') => child.kill(signal) };
}

/** A real web process (src/server.ts) on its own port, against a test's database. */
export function startWebProcess(config: Config, port: number, overrides: Record<string, string> = {}): WorkerProcess {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
      QUEUE_PREFIX: config.queuePrefix,
      ENCRYPTION_KEY: config.encryptionKey!.toString('base64'),
      SESSION_SECRET: config.sessionSecret!,
      LOG_LEVEL: 'info',
      SSE_MAX_STREAMS_PER_SESSION: '50',
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('console listening')) markReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => output, ready, exited, kill: (signal = 'SIGTERM') => child.kill(signal) };
}
