// A worker restarted by `npm start` takes its dead predecessor's work back at once. BullMQ would redeliver a crashed
// worker's jobs only after their lock lapsed (WORKER_LOCK_MS) and the stalled check ran twice — about a minute —
// and the run lease in Postgres would hold the build that long again. The supervisor starts one worker at a time in
// a slot and only after the previous one exited, so whatever the slot's previous BullMQ worker held is abandoned:
// its active jobs go back to the wait list and its run leases are freed, before the new worker takes any job.
import type { Queue } from 'bullmq';
import type { ContainersRepository } from '../db/containers-repository.ts';
import type { Redis } from '../lib/redis.ts';
import type { Logger } from '../logger.ts';

export interface SlotDeps {
  queue: Queue;
  redis: Redis;
  containers: ContainersRepository;
  logger: Logger;
  prefix: string;
}

const slotKey = (deps: Pick<SlotDeps, 'queue' | 'prefix'>, slot: string) => `${deps.prefix}:${deps.queue.name}:worker-slot:${slot}`;

/**
 * Hands back what the slot's previous worker held, then records `workerId` (BullMQ's id of the new worker, the
 * first part of each job lock token it takes) as the slot's holder. Returns how many jobs went back to the queue.
 */
export async function takeOverSlot(deps: SlotDeps, slot: string, workerId: string): Promise<number> {
  const { redis } = deps;
  const previous = await redis.get(slotKey(deps, slot));
  let handedBack = 0;
  if (previous) {
    for (const job of await deps.queue.getActive()) {
      const token = await redis.get(`${deps.prefix}:${deps.queue.name}:${job.id}:lock`);
      if (!token?.startsWith(`${previous}:`)) continue;
      await job.moveToWait(token);
      handedBack++;
    }
  }
  const leases = await deps.containers.releaseRunLeasesOf(slot);
  await redis.set(slotKey(deps, slot), workerId);
  if (handedBack || leases) deps.logger.warn({ slot, jobs: handedBack, leases }, 'took back the jobs of this slot’s previous worker, which died');
  return handedBack;
}

/** A worker stopping cleanly has handed its jobs back itself: its successor has nothing to take over. */
export async function leaveSlot(deps: Pick<SlotDeps, 'queue' | 'redis' | 'prefix'>, slot: string, workerId: string): Promise<void> {
  const key = slotKey(deps, slot);
  if ((await deps.redis.get(key)) === workerId) await deps.redis.del(key);
}
