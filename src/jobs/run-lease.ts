// At most one pipeline run per container, whatever BullMQ does. BullMQ's job lock lives in Redis and can lapse
// while the run is alive (Redis restarted, the process paused), and then the job is delivered again; the lease in
// Postgres makes the second delivery wait instead of building the same container twice.
import { randomUUID } from 'node:crypto';
import type { ContainersRepository } from '../db/containers-repository.ts';
import type { Logger } from '../logger.ts';

export class LeaseLost extends Error {
  override name = 'LeaseLost';
  constructor() {
    super('Another worker took over this build (this one had stopped renewing its lease); stopping here.');
  }
}

export interface RunLease {
  /** Fires if another run takes the lease over: stop at once. */
  signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * Takes the container's run lease and keeps it alive every `lockMs / 3`; it is considered abandoned after
 * `1.5 × lockMs` without a heartbeat (a crashed worker). Returns undefined while another live run holds it.
 */
export async function acquireRunLease(
  deps: { containers: ContainersRepository; logger: Logger },
  containerId: string,
  lockMs: number,
  /** The worker slot (WORKER_SLOT) of this process: its restarted successor frees the lease at once. */
  owner?: string,
): Promise<RunLease | undefined> {
  const token = randomUUID();
  if (!(await deps.containers.acquireRunLease(containerId, token, Math.round(lockMs * 1.5), owner ?? null))) return undefined;
  const controller = new AbortController();
  const timer = setInterval(() => {
    deps.containers.renewRunLease(containerId, token).then(
      (held) => held || controller.abort(new LeaseLost()),
      // The database is away for a moment: keep running, the next heartbeat tries again.
      (err: Error) => deps.logger.warn({ err: err.message, containerId }, 'could not renew the run lease'),
    );
  }, Math.max(200, Math.round(lockMs / 3)));
  timer.unref();
  return {
    signal: controller.signal,
    async release() {
      clearInterval(timer);
      await deps.containers.releaseRunLease(containerId, token).catch(() => undefined);
    },
  };
}
