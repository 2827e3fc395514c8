// The one way a job reaches the queue: typed by name (src/jobs/job-types.ts), with one retention policy.
import type { Queue } from 'bullmq';
import { ConflictError } from '../lib/errors.ts';
import type { JobDataByName, JobName } from './job-types.ts';

/** Finished jobs kept for inspection (BullMQ's own counts), then dropped. */
const RETENTION = { removeOnComplete: 1000, removeOnFail: 5000 };

const LIVE_JOB_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

export interface EnqueueOptions {
  jobId: string;
  /**
   * Replace a finished job with the same id (BullMQ keeps completed/failed jobs for a while, and adding one with the
   * same id would do nothing); a live one is a conflict. Without it, a second add of the same id is a no-op — a
   * double submit enqueues once.
   */
  replaceFinished?: boolean;
  /** With replaceFinished: how long a still-active previous job may take to return (a power action releases its lock just before its job ends). */
  settleMs?: number;
}

export async function enqueueJob<N extends JobName>(queue: Queue, name: N, data: JobDataByName[N], options: EnqueueOptions): Promise<void> {
  const { jobId, replaceFinished = false, settleMs = 0 } = options;
  if (replaceFinished) {
    const previous = await queue.getJob(jobId);
    if (previous) {
      const deadline = Date.now() + settleMs;
      let state = await previous.getState();
      while (state === 'active' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        state = await previous.getState();
      }
      if (LIVE_JOB_STATES.has(state)) throw new ConflictError('This container already has work in progress. Wait for it to finish.');
      await previous.remove();
    }
  }
  await queue.add(name, data, { jobId, ...RETENTION });
}

/** Whether a job with this id is waiting or running (not finished, not gone). */
export async function isJobLive(queue: Queue, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId);
  return !!job && LIVE_JOB_STATES.has(await job.getState());
}

/**
 * Runs the job `name` every `everyMs` (a BullMQ job scheduler named after the job: one however many workers start);
 * 0 removes the schedule.
 */
export async function scheduleRepeating<N extends JobName>(queue: Queue, name: N, data: JobDataByName[N], everyMs: number): Promise<void> {
  if (everyMs <= 0) {
    await queue.removeJobScheduler(name);
    return;
  }
  await queue.upsertJobScheduler(name, { every: everyMs }, { name, data, opts: RETENTION });
}
