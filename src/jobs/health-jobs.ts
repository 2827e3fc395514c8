// The worker's health jobs: "Check now" for one container, and the periodic sweep over every ready container
// (src/domain/health/). A run lease older than 1.5 × WORKER_LOCK_MS belongs to a dead run (as run-lease.ts reads it).
import type { Job } from 'bullmq';
import type { Deps } from '../deps.ts';
import { runHealthCheck } from '../domain/health/health-check.ts';
import { runHealthSweep } from '../domain/health/health-sweep.ts';
import type { JobContext, JobHandlers } from './dispatch.ts';
import { HEALTH_CHECK_JOB, HEALTH_SWEEP_JOB, type JobDataByName } from './job-types.ts';

const leaseStaleMs = (deps: Deps) => Math.round(deps.config.workerLockMs * 1.5);

async function healthCheckJob(deps: Deps, job: Job<JobDataByName['health-check']>, _token: string | undefined, ctx: JobContext) {
  const outcome = await runHealthCheck(deps, job.data.containerId, { trigger: 'user', userId: job.data.requestedBy ?? null }, { leaseStaleMs: leaseStaleMs(deps), signal: ctx.shutdown });
  return typeof outcome === 'object' ? outcome.state : outcome;
}

async function healthSweepJob(deps: Deps, _job: Job<JobDataByName['health-sweep']>, _token: string | undefined, ctx: JobContext) {
  return runHealthSweep(deps, { leaseStaleMs: leaseStaleMs(deps), signal: ctx.shutdown });
}

export const healthJobs: Pick<JobHandlers, typeof HEALTH_CHECK_JOB | typeof HEALTH_SWEEP_JOB> = {
  [HEALTH_CHECK_JOB]: healthCheckJob,
  [HEALTH_SWEEP_JOB]: healthSweepJob,
};
