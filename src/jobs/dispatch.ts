import type { Job } from 'bullmq';
import type { Deps } from '../deps.ts';

export interface JobContext {
  /** Fires when the worker is asked to stop: a long job checkpoints and hands itself back to the queue. */
  shutdown: AbortSignal;
}

/** A job is a name plus a plain task function given its dependencies. Job data carries ids only, never secrets. */
export type JobHandler = (deps: Deps, job: Job, token: string | undefined, ctx: JobContext) => Promise<unknown>;

const handlers: Record<string, JobHandler> = {};

export function registerJob(name: string, handler: JobHandler): void {
  handlers[name] = handler;
}

export async function dispatchJob(deps: Deps, job: Job, token: string | undefined, ctx: JobContext): Promise<unknown> {
  const handler = handlers[job.name];
  if (!handler) throw new Error(`no handler for job '${job.name}' in this worker (is it older than the web process?)`);
  return handler(deps, job, token, ctx);
}
