// The parent side of the bench's IPC: fork a TypeScript entry with an IPC channel, wait until it announces itself,
// call it by name, and stop it (SIGTERM, then SIGKILL) whatever happened.
import { fork, type ChildProcess } from 'node:child_process';

export interface BenchChild<Info = Record<string, unknown>> {
  name: string;
  process: ChildProcess;
  /** What the child announced when it became ready (ports, node details). */
  info: Info;
  call<T = unknown>(op: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** The last few KB of its stdout and stderr, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

interface ResultMessage {
  type: 'result';
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

const running = new Set<ChildProcess>();

/** BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every child (open it in Chrome DevTools) — to find out why. */
const profiling = (name: string) =>
  process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${name}`] : [];

/** Every child still running: run.ts kills these on its way out, however it leaves. */
export function runningChildren(): ChildProcess[] {
  return [...running];
}

export async function startChild<Info = Record<string, unknown>>(
  name: string,
  entry: string,
  options: { env: NodeJS.ProcessEnv; execArgv?: string[]; readyTimeoutMs?: number; readyWhen?: 'announce' | RegExp },
): Promise<BenchChild<Info>> {
  const child = fork(entry, [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...profiling(name), ...(options.execArgv ?? [])],
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let announced: (info: Info) => void;
  const ready = new Promise<Info>((resolve) => (announced = resolve));
  child.on('message', (raw: unknown) => {
    const msg = raw as ResultMessage | { type: 'ready'; info: Info };
    if (msg.type === 'ready') return announced(msg.info);
    const waiter = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.ok) waiter?.resolve(msg.value);
    else waiter?.reject(new Error(`${name}: ${msg.error}`));
  });
  void exited.then(() => {
    for (const w of pending.values()) w.reject(new Error(`${name} exited: ${output.slice(-2000)}`));
    pending.clear();
  });

  const readyWhen = options.readyWhen ?? 'announce';
  const readySignal: Promise<Info> =
    readyWhen === 'announce'
      ? ready
      : new Promise((resolve) => {
          const check = () => readyWhen.test(output) && resolve({} as Info);
          child.stdout!.on('data', check);
          child.stderr!.on('data', check);
        });
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const info = await Promise.race([
    readySignal,
    exited.then(() => Promise.reject(new Error(`${name} exited before it was ready:\n${output.slice(-3000)}`))),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} not ready within ${timeoutMs} ms:\n${output.slice(-3000)}`)), timeoutMs).unref()),
  ]).catch(async (err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });

  return {
    name,
    process: child,
    info,
    call<T>(op: string, args?: unknown, callTimeoutMs = 120_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`${name} is not running:\n${output.slice(-2000)}`));
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: ${op} gave no answer within ${callTimeoutMs} ms`));
        }, callTimeoutMs);
        pending.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v as T)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        child.send({ type: 'call', id, op, args });
      });
    },
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
