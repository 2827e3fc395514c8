// The child side of the bench's IPC: a child announces itself once ready and answers named calls from run.ts.
// Calls travel over the fork() channel, so the measured servers grow no bench-only HTTP routes.
import { monitorEventLoopDelay } from 'node:perf_hooks';

export type Handlers = Record<string, (args: never) => unknown>;

interface CallMessage {
  type: 'call';
  id: number;
  op: string;
  args: unknown;
}

export function serveRpc(handlers: Handlers, onDisconnect: () => void = () => process.exit(1)): void {
  if (!process.send) throw new Error('a bench child must be started by run.ts (no IPC channel)');
  process.on('message', (raw: unknown) => {
    const msg = raw as CallMessage;
    if (msg?.type !== 'call') return;
    const handler = handlers[msg.op] as ((args: unknown) => unknown) | undefined;
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no bench call named ${msg.op}`);
        return handler(msg.args);
      })
      .then(
        (value) => process.send!({ type: 'result', id: msg.id, ok: true, value }),
        (err: Error) => process.send!({ type: 'result', id: msg.id, ok: false, error: err?.stack ?? String(err) }),
      );
  });
  // run.ts went away (crash, ^C): a bench child never outlives it.
  process.on('disconnect', onDisconnect);
}

export function announce(info: Record<string, unknown> = {}): void {
  process.send!({ type: 'ready', info });
}

export interface ProcessStats {
  memory: NodeJS.MemoryUsage;
  /** CPU time used since the process started, in ms (user + system). */
  cpuMs: number;
  /** Event-loop delay since the last reset, in ms. */
  loop: { p50: number; p99: number; max: number; mean: number; count: number };
}

/** Memory and event-loop delay of this process, plus gc() (children run with --expose-gc). */
export function processProbe() {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const ms = (ns: number) => ns / 1e6;
  return {
    stats: (): ProcessStats => ({
      memory: process.memoryUsage(),
      cpuMs: ((u) => (u.user + u.system) / 1000)(process.cpuUsage()),
      loop: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max), mean: ms(loop.mean), count: loop.count },
    }),
    resetLoop: () => loop.reset(),
    gc: async () => {
      // Two passes plus a turn of the loop: the first collects, the second frees what finalizers released.
      globalThis.gc?.();
      await new Promise((r) => setImmediate(r));
      globalThis.gc?.();
      return typeof globalThis.gc === 'function';
    },
  };
}
