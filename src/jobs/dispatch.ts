import type { Job } from 'bullmq';
import type { Deps } from '../deps.ts';
import type { JobDataByName, JobName } from './job-types.ts';

export interface JobContext {
  /** Fires when the worker is asked to stop: a long job checkpoints and hands itself back to the queue. */
  shutdown: AbortSignal;
}

/** A job is a name plus a plain task function given its dependencies. Job data carries ids only, never secrets. */
export type JobHandler<N extends JobName> = (deps: Deps, job: Job<JobDataByName[N]>, token: string | undefined, ctx: JobContext) => Promise<unknown>;

/** Every job name with its handler: a job added to job-types.ts without one here does not compile. */
export type JobHandlers = { [N in JobName]: JobHandler<N> };

export function jobDispatcher(handlers: JobHandlers) {
  return (deps: Deps, job: Job, token: string | undefined, ctx: JobContext): Promise<unknown> => {
    const handler = (handlers as Partial<Record<string, JobHandler<JobName>>>)[job.name];
    if (!handler) throw new Error(`no handler for job '${job.name}' in this worker (is it older than the web process?)`);
    return handler(deps, job, token, ctx);
  };
}
