// The worker's container jobs: build (create-container), destroy and the power actions (container-action). All run
// through the same event recorder, so the page and the SSE stream show them the same way.
import { DelayedError, type Job } from 'bullmq';
import type { Deps } from '../deps.ts';
import { runDestroyPipeline } from '../domain/pipeline/destroy-pipeline.ts';
import { runLifecycleAction } from '../domain/pipeline/lifecycle-action-pipeline.ts';
import { WorkerShutdown, runCreatePipeline, type PipelineDeps } from '../domain/pipeline/pipeline-runner.ts';
import { CancelRequests } from './cancel-requests.ts';
import { acquireRunLease } from './run-lease.ts';
import type { JobContext, JobHandlers } from './dispatch.ts';
import { DESTROY_CONTAINER_JOB, CREATE_CONTAINER_JOB, CONTAINER_ACTION_JOB, type JobDataByName } from './job-types.ts';
import { isPowerAction } from '../domain/containers/lifecycle-actions.ts';
import type { JobRequest } from '../domain/history/record-history.ts';

function pipelineDeps(deps: Deps): PipelineDeps {
  return {
    repos: deps.repos,
    secrets: deps.secrets,
    publish: (channel, message) => deps.redis.publish(channel, message),
    logger: deps.logger,
    timings: { pollMs: deps.config.pvePollMs },
    usage: deps.usage,
  };
}

async function createContainerJob(deps: Deps, job: Job<JobDataByName['create-container']>, token: string | undefined, ctx: JobContext) {
  const { containerId } = job.data;
  const lease = await acquireRunLease({ containers: deps.repos.containers, logger: deps.logger }, containerId, deps.config.workerLockMs, deps.config.workerSlot);
  if (!lease) {
    // Another run of this container is alive (this is a redelivery): look again shortly; once it has finished,
    // the pipeline sees a settled container and does nothing.
    if (token) {
      await job.moveToDelayed(Date.now() + Math.round(deps.config.workerLockMs / 2), token);
      throw new DelayedError();
    }
    return 'skipped';
  }
  const cancels = new CancelRequests(deps.redis);
  const watch = cancels.watch(containerId);
  try {
    const signal = AbortSignal.any([watch.signal, ctx.shutdown, lease.signal]);
    const outcome = await runCreatePipeline(pipelineDeps(deps), containerId, signal, { requestedBy: job.data.requestedBy });
    if (outcome === 'interrupted' && token) {
      // Hand the job back: the next worker picks it up at once and resumes (steps check the real state).
      await lease.release();
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (outcome === 'cancelled') await cancels.clear(containerId);
    return outcome;
  } finally {
    watch.stop();
    await lease.release();
  }
}

/**
 * Who queued a job, and its name across deliveries: the id is reused for the container's next job of its kind
 * (action-<id>, destroy-<id>), the time it was queued is not. A redelivered job writes no second history entry.
 */
const requestOf = (job: Job<{ requestedBy?: number }>): JobRequest => ({ requestedBy: job.data.requestedBy, key: `job:${job.id}@${job.timestamp}` });

/**
 * Not cut short by a worker shutdown either: stopping the vzdestroy task halfway would leave a CT with some of its
 * volumes gone. A destroy takes seconds; the worker lets it finish before it exits.
 */
async function destroyContainerJob(deps: Deps, job: Job<JobDataByName['destroy-container']>) {
  return runDestroyPipeline(pipelineDeps(deps), job.data.containerId, { request: requestOf(job), from: job.data.from });
}

/**
 * Not cut short by a worker shutdown: a power action takes seconds (a shutdown at most its timeout), and stopping
 * the Proxmox task halfway would leave the CT in between. A job redelivered after a crash re-runs idempotently.
 */
async function containerActionJob(deps: Deps, job: Job<JobDataByName['container-action']>) {
  const { containerId, action } = job.data;
  if (!isPowerAction(action)) throw new Error(`unknown container action '${String(action)}'`);
  return runLifecycleAction(pipelineDeps(deps), containerId, action, { resumed: job.attemptsStarted > 1, request: requestOf(job) });
}

export const containerJobs: Pick<JobHandlers, typeof CREATE_CONTAINER_JOB | typeof DESTROY_CONTAINER_JOB | typeof CONTAINER_ACTION_JOB> = {
  [CREATE_CONTAINER_JOB]: createContainerJob,
  [DESTROY_CONTAINER_JOB]: destroyContainerJob,
  [CONTAINER_ACTION_JOB]: containerActionJob,
};

export { WorkerShutdown };
