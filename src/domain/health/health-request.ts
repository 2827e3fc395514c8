// "Check now" on a container page (web side): queue the worker's check and wait a little for its result, so the
// answer can show it. The check itself runs in the worker, which holds the SSH connections to the nodes.
import type { Queue } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerExtrasRepository } from '../../db/container-extras-repository.ts';
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { HealthRepository } from '../../db/health-repository.ts';
import { enqueueJob } from '../../jobs/enqueue.ts';
import { HEALTH_CHECK_JOB, healthJobId } from '../../jobs/job-types.ts';
import { ConflictError } from '../../lib/errors.ts';
import { findContainerToActOn } from '../containers/container-page.ts';
import type { Container, Viewer } from '../containers/container.ts';
import { healthView, type HealthView } from './health-view.ts';
import type { HealthCheck } from './service-health.ts';

export interface HealthRequestDeps {
  repos: { containers: ContainersRepository; containerExtras: ContainerExtrasRepository; health: HealthRepository };
  queue: Queue;
}

/** How long the request waits for the worker's answer before saying the check is queued. */
export const CHECK_NOW_WAIT_MS = 20_000;

/**
 * Queues a check of the container's services (one per container at a time: pressing again while one is queued or
 * running waits for that one) and answers its result — undefined when the worker has not finished within `waitMs` —
 * with the health section as it now stands.
 */
export async function checkHealthNow(
  deps: HealthRequestDeps,
  viewer: Viewer,
  id: string,
  options: { waitMs?: number } = {},
): Promise<{ container: Container; result: HealthCheck | undefined; view: HealthView }> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  if (container.lifecycle !== 'ready') throw new ConflictError(`Only a ready container's services can be checked; this one is ${container.lifecycle}.`);
  if (container.currentAction) throw new ConflictError(`A ${container.currentAction} is in progress: check again once it has finished.`);
  const services = await deps.repos.containerExtras.services(container.id);
  if (services.length === 0) {
    throw new ConflictError('This container registered no services to check: its template’s scripts call register_service for each one.', 'rule');
  }
  const before = (await deps.repos.health.latest(container.id))?.id ?? 0;
  try {
    await enqueueJob(deps.queue, HEALTH_CHECK_JOB, { containerId: container.id, requestedBy: viewer.id }, { jobId: healthJobId(container.id), replaceFinished: true });
  } catch (err) {
    // A check of this container is already queued or running: its result answers this request too.
    if (!(err instanceof ConflictError)) throw err;
  }
  const deadline = Date.now() + (options.waitMs ?? CHECK_NOW_WAIT_MS);
  for (;;) {
    const latest = await deps.repos.health.latest(container.id);
    const done = latest && latest.id > before ? latest : undefined;
    if (done || Date.now() >= deadline) {
      return { container, result: done, view: { ...healthView(container, services, latest, undefined, true), pending: !done } };
    }
    await sleep(200);
  }
}
