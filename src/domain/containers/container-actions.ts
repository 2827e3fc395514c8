// What the buttons on a container do, on the web side: Cancel, Retry and Destroy. The work itself happens in the
// worker; here we check the state, record what was asked, and queue the job.
import type { Queue } from 'bullmq';
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import { CancelRequests } from '../../jobs/cancel-requests.ts';
import type { Redis } from '../../lib/redis.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import type { Logger } from '../../logger.ts';
import { EventRecorder } from '../progress/event-recorder.ts';
import { snapshotFrom } from '../progress/progress-fragments.ts';
import { CREATE_CONTAINER_JOB } from './container-config.ts';
import { findVisibleContainer, type Viewer } from './container-page.ts';
import { credentialAad } from '../pipeline/steps/finalizing-step.ts';
import type { ContainerExtrasRepository } from '../../db/container-extras-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';

export const DESTROY_CONTAINER_JOB = 'destroy-container';

export interface ContainerActionDeps {
  repos: { containers: ContainersRepository; events: EventsRepository };
  queue: Queue;
  redis: Redis;
  logger: Logger;
}

async function recorderFor(deps: ContainerActionDeps, containerId: string, lifecycle: Parameters<typeof snapshotFrom>[1]) {
  return new EventRecorder(
    { events: deps.repos.events, publish: (c, m) => deps.redis.publish(c, m), logger: deps.logger },
    containerId,
    snapshotFrom(await deps.repos.events.lastProgressEvent(containerId), lifecycle),
  );
}

/** Replaces a finished job with the same id (BullMQ keeps completed/failed jobs for a while). */
async function enqueue(queue: Queue, name: string, jobId: string, containerId: string): Promise<void> {
  const previous = await queue.getJob(jobId);
  if (previous) {
    const state = await previous.getState();
    if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') {
      throw new ConflictError('This container already has work in progress. Wait for it to finish.');
    }
    await previous.remove();
  }
  await queue.add(name, { containerId }, { jobId, removeOnComplete: 1000, removeOnFail: 5000 });
}

export async function cancelContainer(deps: ContainerActionDeps, viewer: Viewer & { username: string }, id: string): Promise<void> {
  const container = await findVisibleContainer(deps.repos, viewer, id);
  if (container.lifecycle === 'queued') {
    const job = await deps.queue.getJob(container.id);
    if (job && (await job.getState()) !== 'active' && (await job.remove().then(() => true, () => false))) {
      const recorder = await recorderFor(deps, container.id, container.lifecycle);
      await recorder.cancelled(`Cancelled by ${viewer.username} before a worker started.`);
      await recorder.close();
      return;
    }
  } else if (container.lifecycle !== 'creating') {
    throw new ConflictError(`There is nothing to cancel: the container is ${container.lifecycle}.`);
  }
  await new CancelRequests(deps.redis).request(container.id, viewer.username);
}

export async function retryContainer(deps: ContainerActionDeps, viewer: Viewer & { username: string }, id: string): Promise<void> {
  const container = await findVisibleContainer(deps.repos, viewer, id);
  if (container.lifecycle !== 'failed' && container.lifecycle !== 'cancelled') {
    throw new ConflictError(`Only a failed or cancelled build can be retried; this one is ${container.lifecycle}.`);
  }
  await new CancelRequests(deps.redis).clear(container.id);
  const recorder = await recorderFor(deps, container.id, container.lifecycle);
  await recorder.queued(`Retry requested by ${viewer.username}; waiting for a worker…`);
  await recorder.close();
  await enqueue(deps.queue, CREATE_CONTAINER_JOB, container.id, container.id);
}

export async function destroyContainer(
  deps: ContainerActionDeps,
  viewer: Viewer & { username: string },
  id: string,
  confirmHostname: unknown,
): Promise<void> {
  const container = await findVisibleContainer(deps.repos, viewer, id);
  if (container.lifecycle === 'destroyed') throw new ConflictError('This container is already destroyed.');
  if (container.lifecycle === 'destroying') throw new ConflictError('This container is already being destroyed.');
  if (container.lifecycle === 'creating' || container.lifecycle === 'queued') {
    throw new ConflictError('The container is still being built. Cancel the build first, then destroy it.');
  }
  if (confirmHostname !== container.hostname) {
    throw new ValidationError({ confirm_hostname: `Type the hostname “${container.hostname}” exactly to confirm.` });
  }
  const recorder = await recorderFor(deps, container.id, container.lifecycle);
  await recorder.destroying(`Destroy requested by ${viewer.username}; waiting for a worker…`);
  await recorder.close();
  await enqueue(deps.queue, DESTROY_CONTAINER_JOB, `destroy-${container.id}`, container.id);
}

/** Opens the stored credentials for someone allowed to see them, and records that they were revealed (not what). */
export async function revealCredentials(
  deps: ContainerActionDeps & { repos: { containerExtras: ContainerExtrasRepository }; secrets: SecretBox },
  viewer: Viewer & { username: string },
  id: string,
): Promise<{ hostname: string; credentials: Array<{ key: string; value: string }> }> {
  const container = await findVisibleContainer(deps.repos, viewer, id);
  const sealed = await deps.repos.containerExtras.sealedCredentials(container.id);
  const credentials = sealed.map((c) => ({ key: c.key, value: deps.secrets.open(c.valueEnc, credentialAad(container.id, c.key)) }));
  const recorder = await recorderFor(deps, container.id, container.lifecycle);
  recorder.log('system', `Credentials (${sealed.map((c) => c.key).join(', ') || 'none'}) revealed to ${viewer.username}.`);
  await recorder.close();
  return { hostname: container.hostname, credentials };
}
