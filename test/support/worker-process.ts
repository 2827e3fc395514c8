// Real web and worker processes (src/server.ts, worker.ts) against a test's database and queue, for crash,
// graceful-shutdown and scale-out tests.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Config } from '../../src/config.ts';

export interface AppProcess {
  child: ChildProcess;
  output: () => string;
  ready: Promise<void>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export type WorkerProcess = AppProcess;

function startAppProcess(entry: string, readyText: string, config: Config, env: Record<string, string>): AppProcess {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: {
      ...process.env,
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
      QUEUE_PREFIX: config.queuePrefix,
      ENCRYPTION_KEY: config.encryptionKey!.toString('base64'),
      SESSION_SECRET: config.sessionSecret!,
      LOG_LEVEL: 'info',
      LOGIN_LIMIT_PER_IP: String(config.loginLimits.perIp),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes(readyText)) markReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => output, ready, exited, kill: (signal = 'SIGTERM') => child.kill(signal) };
}

/** A worker with short locks and polls, so crash recovery takes seconds. */
export function startWorkerProcess(config: Config, overrides: Record<string, string> = {}): AppProcess {
  return startAppProcess('worker.ts', 'worker ready', config, { WORKER_LOCK_MS: '2000', PVE_POLL_MS: '50', ...overrides });
}

export function startWebProcess(config: Config, port: number, overrides: Record<string, string> = {}): AppProcess {
  return startAppProcess('src/server.ts', 'console listening', config, { PORT: String(port), SSE_MAX_STREAMS_PER_SESSION: '50', ...overrides });
}
