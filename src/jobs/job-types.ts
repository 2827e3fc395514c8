// The worker's jobs by name, with the data each carries: ids only, never secrets. A leaf module: the web side queues
// these (src/jobs/enqueue.ts), the worker runs them (src/jobs/job-handlers.ts), and the compiler checks both agree.
import type { PowerAction } from '../domain/containers/lifecycle-actions.ts';

// requestedBy: the id of the user whose Deploy, Retry, Destroy or power action queued the job, for the container's
// history (jobs queued before it existed lack it).
export interface JobDataByName {
  /** Builds a container: its job id is the container id, so a double submit enqueues once. */
  'create-container': { containerId: string; requestedBy?: number };
  /** `from`: the lifecycle before the destroy, which a refused or failed destroy returns to (absent in older jobs: failed). */
  'destroy-container': { containerId: string; requestedBy?: number; from?: 'ready' | 'failed' | 'cancelled' };
  /** A power action: one per container at a time (job id `action-<containerId>`). */
  'container-action': { containerId: string; action: PowerAction; requestedBy?: number };
  /** Runs a template in a throw-away Debian-mode CT ("Test in the simulator"; job id `template-test-<runId>`). */
  'template-test': { runId: string };
  /** "Check now": one container's service health (job id `health-<containerId>`). */
  'health-check': { containerId: string; requestedBy?: number };
  /** The periodic sweep over every ready container (its job scheduler id is the job name). */
  'health-sweep': Record<string, never>;
}

export type JobName = keyof JobDataByName;

export const CREATE_CONTAINER_JOB = 'create-container' satisfies JobName;
export const DESTROY_CONTAINER_JOB = 'destroy-container' satisfies JobName;
export const CONTAINER_ACTION_JOB = 'container-action' satisfies JobName;
export const TEMPLATE_TEST_JOB = 'template-test' satisfies JobName;
export const HEALTH_CHECK_JOB = 'health-check' satisfies JobName;
export const HEALTH_SWEEP_JOB = 'health-sweep' satisfies JobName;

export const actionJobId = (containerId: string) => `action-${containerId}`;
export const destroyJobId = (containerId: string) => `destroy-${containerId}`;
export const healthJobId = (containerId: string) => `health-${containerId}`;
