// What the buttons on a container do, on the web side: Cancel, Retry, Destroy, Forget and the power actions (start,
// stop, shutdown, reboot). The work itself happens in the worker; here we check the state, take the container's
// action lock where one action at a time matters, record what was asked, and queue the job.
import type { Queue } from 'bullmq';
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import type { HistoryRepository } from '../../db/history-repository.ts';
import { CancelRequests } from '../../jobs/cancel-requests.ts';
import type { Redis } from '../../lib/redis.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import type { Logger } from '../../logger.ts';
import { EventRecorder } from '../progress/event-recorder.ts';
import { findContainerToActOn } from './container-page.ts';
import { liveStatusOf, type LiveStatusDeps } from './container-list.ts';
import { proxmoxClientFor } from '../nodes/node-access.ts';
import { confirmOwnCt, mayBeOwnConfig } from '../pipeline/ct-mark.ts';
import type { ContainerExtrasRepository } from '../../db/container-extras-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { Container, Viewer, Lifecycle, LiveStatus } from './container.ts';
import { snapshotFrom } from '../progress/phases.ts';
import { CREATE_CONTAINER_JOB, CONTAINER_ACTION_JOB, actionJobId, destroyJobId, DESTROY_CONTAINER_JOB } from '../../jobs/job-types.ts';
import { credentialAad } from '../sealed-secrets.ts';
import { ACTION_WORDS, actionInProgress, isPowerAction, type LockingAction, type PowerAction } from './lifecycle-actions.ts';
import { enqueueJob, isJobLive } from '../../jobs/enqueue.ts';
import { recordFollowed, recordForgotten, recordQueuedBuildCancelled } from '../history/record-history.ts';

export interface ContainerActionDeps {
  repos: { containers: ContainersRepository; events: EventsRepository; history: HistoryRepository };
  queue: Queue;
  redis: Redis;
  logger: Logger;
}

async function recorderFor(deps: ContainerActionDeps, containerId: string, lifecycle: Parameters<typeof snapshotFrom>[1]) {
  return EventRecorder.resume({ events: deps.repos.events, publish: (c, m) => deps.redis.publish(c, m), logger: deps.logger }, { id: containerId, lifecycle });
}

/** A lock older than this whose job is gone (the web process died before enqueueing, or the job failed) is lost. */
const LOST_LOCK_AFTER_MS = 30_000;

/**
 * Takes the container's action lock or says why not: “A reboot is in progress.” A lock left behind by a request or
 * job that died is taken over once it is clearly abandoned.
 */
async function claimAction(
  deps: ContainerActionDeps,
  viewer: { username: string },
  container: Container,
  action: LockingAction,
  from: readonly Lifecycle[],
): Promise<Container> {
  for (let tries = 0; ; tries++) {
    const claimed = await deps.repos.containers.claimAction(container.id, action, from, viewer.username);
    if (claimed) return claimed;
    const now = (await deps.repos.containers.findById(container.id)) ?? container;
    if (now.currentAction) {
      if (tries === 0 && (await releaseIfLost(deps, now))) continue;
      throw new ConflictError(`${actionInProgress({ ...now, currentAction: now.currentAction }, viewer.username)} Wait for it to finish, then try again.`);
    }
    throw new ConflictError(`This container is ${now.lifecycle}: it cannot ${ACTION_WORDS[action].noun} now.`);
  }
}

async function releaseIfLost(deps: ContainerActionDeps, container: Container): Promise<boolean> {
  const action = container.currentAction!;
  const takenBefore = new Date(Date.now() - LOST_LOCK_AFTER_MS);
  if (!container.currentActionAt || container.currentActionAt >= takenBefore) return false;
  if (isPowerAction(action)) {
    if (await isJobLive(deps.queue, actionJobId(container.id))) return false;
  }
  const released = await deps.repos.containers.releaseStaleAction(container.id, action, takenBefore);
  if (released) deps.logger.warn({ containerId: container.id, action }, 'released an abandoned container action lock');
  return released;
}

export async function cancelContainer(deps: ContainerActionDeps, viewer: Viewer & { username: string }, id: string): Promise<void> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  if (container.lifecycle === 'queued') {
    const job = await deps.queue.getJob(container.id);
    if (job && (await job.getState()) !== 'active' && (await job.remove().then(() => true, () => false))) {
      const recorder = await recorderFor(deps, container.id, container.lifecycle);
      await recorder.cancelled(`Cancelled by ${viewer.username} before a worker started.`);
      await recorder.close();
      await recordQueuedBuildCancelled(deps.repos, container, viewer);
      return;
    }
  } else if (container.lifecycle !== 'creating') {
    throw new ConflictError(`There is nothing to cancel: the container is ${container.lifecycle}.`);
  }
  await new CancelRequests(deps.redis).request(container.id, viewer.username);
}

export async function retryContainer(deps: ContainerActionDeps, viewer: Viewer & { username: string }, id: string): Promise<void> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  if (container.lifecycle !== 'failed' && container.lifecycle !== 'cancelled') {
    throw new ConflictError(`Only a failed or cancelled build can be retried; this one is ${container.lifecycle}.`, 'rule');
  }
  // Held while the request flips the lifecycle to queued, as Destroy's is: of a Retry and a Destroy (or two Retries)
  // pressed at once, one goes ahead and the other hears why not. The flip itself releases it (recorder.queued); the
  // release below is for a flip that failed.
  await claimAction(deps, viewer, container, 'retry', ['failed', 'cancelled']);
  try {
    await new CancelRequests(deps.redis).clear(container.id);
    const recorder = await recorderFor(deps, container.id, container.lifecycle);
    await recorder.queued(`Retry requested by ${viewer.username}; waiting for a worker…`);
    await recorder.close();
    // The build settles (failed, cancelled) just before its job returns: it still writes the attempt's history entry.
    const data = { containerId: container.id, requestedBy: viewer.id };
    await enqueueJob(deps.queue, CREATE_CONTAINER_JOB, data, { jobId: container.id, replaceFinished: true, settleMs: 2_000 });
  } finally {
    await deps.repos.containers.releaseAction(container.id, 'retry');
  }
}

export async function destroyContainer(
  deps: ContainerActionDeps,
  viewer: Viewer & { username: string },
  id: string,
  confirmHostname: unknown,
): Promise<void> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  if (container.lifecycle === 'destroyed') throw new ConflictError('This container is already destroyed.');
  if (container.lifecycle === 'destroying') throw new ConflictError('This container is already being destroyed.');
  if (container.lifecycle === 'creating' || container.lifecycle === 'queued') {
    throw new ConflictError('The container is still being built. Cancel the build first, then destroy it.');
  }
  if (confirmHostname !== container.hostname) {
    throw new ValidationError({ confirm_hostname: `Type the hostname “${container.hostname}” exactly to confirm.` });
  }
  // Held only while the request flips the lifecycle: once it is `destroying`, no power action can start.
  await claimAction(deps, viewer, container, 'destroy', ['ready', 'failed', 'cancelled']);
  try {
    const recorder = await recorderFor(deps, container.id, container.lifecycle);
    await recorder.destroying(`Destroy requested by ${viewer.username}; waiting for a worker…`);
    await recorder.close();
    const from = container.lifecycle as 'ready' | 'failed' | 'cancelled';
    await enqueueJob(deps.queue, DESTROY_CONTAINER_JOB, { containerId: container.id, requestedBy: viewer.id, from }, { jobId: destroyJobId(container.id), replaceFinished: true });
  } finally {
    await deps.repos.containers.releaseAction(container.id, 'destroy');
  }
}

/** Start, stop, shut down or reboot a ready container: take the lock, say so in its log, queue the job. */
export async function requestPowerAction(deps: ContainerActionDeps, viewer: Viewer & { username: string }, id: string, action: PowerAction): Promise<void> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  await claimAction(deps, viewer, container, action, ['ready']);
  const words = ACTION_WORDS[action];
  const recorder = await recorderFor(deps, container.id, container.lifecycle);
  try {
    await recorder.actionStatus(`${words.label} requested by ${viewer.username}; waiting for a worker…`);
    const data = { containerId: container.id, action, requestedBy: viewer.id };
    await enqueueJob(deps.queue, CONTAINER_ACTION_JOB, data, { jobId: actionJobId(container.id), replaceFinished: true, settleMs: 2_000 });
  } catch (err) {
    // No job will release it: release here, and end the entry in the log so viewers are not left waiting.
    await deps.repos.containers.releaseAction(container.id, action);
    const message = `${words.label} was not queued: ${(err as Error).message}`;
    await recorder.actionEnded(message, message).catch(() => undefined);
    throw err;
  } finally {
    await recorder.close().catch(() => undefined);
  }
}

/**
 * Drops a container whose CT was removed outside Launchpad, whose VMID another guest now holds, whose CT was never
 * created, or whose CT was converted to a template (which stays in Proxmox, no longer Launchpad's to manage). The
 * node is asked again now — only a node that answers without our CT, or with it as a template, allows it — and the
 * entry becomes `destroyed`, its history kept. Nothing is ever sent to the node.
 */
export async function forgetContainer(deps: ContainerActionDeps & LiveStatusDeps, viewer: Viewer & { username: string }, id: string): Promise<void> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  const claimed = await claimAction(deps, viewer, container, 'forget', ['ready', 'failed', 'cancelled']);
  try {
    let live = await liveStatusOf(deps, claimed);
    if (live.state === 'running' || live.state === 'stopped') live = (await foreignGuestAt(deps, claimed)) ?? live;
    if (live.state === 'unknown') throw new ConflictError(`Launchpad cannot confirm that the CT is gone: ${live.reason ?? 'its node did not answer'}`);
    if (live.state !== 'missing' && live.state !== 'not-created' && live.state !== 'template') {
      throw new ConflictError(`CT ${claimed.vmid ?? ''} still exists on its node, so there is nothing to forget. Destroy it instead.`, 'rule');
    }
    const recorder = await recorderFor(deps, claimed.id, claimed.lifecycle);
    if (live.reason) recorder.log('system', live.reason);
    const words = FORGOTTEN_BECAUSE[live.state](claimed.vmid);
    await recorder.destroyed(`Forgotten by ${viewer.username}; ${words}.`);
    await recorder.close();
    await recordForgotten(deps.repos, claimed.id, viewer, `Forgotten: ${words}.`);
  } finally {
    await deps.repos.containers.releaseAction(container.id, 'forget');
  }
}

/**
 * A CT migrated to another node of the cluster in Proxmox: the entry follows it there, so Launchpad manages it on
 * that node from now on. Only when the new node is one of Launchpad's (its API token and SSH access are what every
 * later action uses) and the CT there carries this container's mark; nothing is sent to either node but reads.
 * Answers the node it followed the CT to.
 */
export async function followMovedCt(deps: ContainerActionDeps & LiveStatusDeps, viewer: Viewer & { username: string }, id: string): Promise<string> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  const claimed = await claimAction(deps, viewer, container, 'follow', ['ready']);
  try {
    const from = await deps.repos.nodes.findById(claimed.nodeId);
    if (!from || claimed.vmid === null) throw new ConflictError('This container has no CT on a node Launchpad knows, so there is nothing to follow.', 'rule');
    const vmid = claimed.vmid;
    // The cluster's list, as the page read it: `movedTo` only for this container's own CT on another node.
    const live = await liveStatusOf(deps, claimed);
    const movedTo = live.movedTo;
    if (movedTo === undefined) {
      const here = live.state === 'running' || live.state === 'stopped' || live.state === 'template';
      throw new ConflictError(here ? `CT ${vmid} is on ${from.name}, where Launchpad already manages it: there is nothing to follow.` : `Nothing to follow: ${live.reason ?? 'the node did not say where the CT is'}`, 'rule');
    }
    const to = await deps.repos.nodes.findByName(movedTo);
    if (!to) {
      throw new ConflictError(
        `CT ${vmid} is on node ${movedTo}, which is not one of Launchpad's nodes. Add ${movedTo} under Nodes (its API address, token and SSH access), ` +
          `then follow the CT there; or migrate it back to ${from.name} in Proxmox.`,
        'rule',
      );
    }
    const api = proxmoxClientFor(to, deps.secrets);
    try {
      await confirmOwnCt(api, to.name, claimed, vmid);
    } finally {
      api.close();
    }
    const moved = await deps.repos.containers.moveToNode(claimed.id, 'follow', from.id, to.id);
    if (moved === 'vmid-taken') {
      throw new ConflictError(`Another live entry in Launchpad is recorded at VMID ${vmid} on ${to.name}; open it (it may be a stale entry to Forget), then follow this one.`, 'rule');
    }
    if (moved === 'changed') throw new ConflictError('This container changed while it was being followed: reload the page and try again.');
    // The lock went with the move: open pages re-rendered by the log line below show the container free, on its new node.
    const text = `Followed CT ${vmid} to ${to.name}, where it was migrated outside Launchpad (from ${from.name}); Launchpad manages it there from now on.`;
    const recorder = await recorderFor(deps, claimed.id, claimed.lifecycle);
    recorder.log('system', `${text} Requested by ${viewer.username}.`);
    await recorder.close();
    await recordFollowed(deps.repos, claimed.id, viewer, text);
    return to.name;
  } finally {
    await deps.repos.containers.releaseAction(container.id, 'follow');
  }
}

/** How the log and the history say why an entry was forgotten. */
const FORGOTTEN_BECAUSE: Record<'missing' | 'not-created' | 'template', (vmid: number | null) => string> = {
  missing: () => 'the CT was already gone',
  'not-created': () => 'no CT was ever created',
  template: (vmid) => `CT ${vmid} stays in Proxmox as a template`,
};

/**
 * A guest the list takes for ours (same hostname and tag) may still carry another container's mark: read its config
 * (nothing is changed on the node) and say so, so that it can be forgotten.
 */
async function foreignGuestAt(deps: LiveStatusDeps, container: Container): Promise<LiveStatus | undefined> {
  const node = await deps.repos.nodes.findById(container.nodeId);
  if (!node || !container.vmid) return undefined;
  const api = proxmoxClientFor(node, deps.secrets);
  try {
    const config = await api.getLxcConfig(node.name, container.vmid);
    if (mayBeOwnConfig(config, container)) return undefined;
    return { state: 'missing', reason: `VMID ${container.vmid} on ${node.name} now belongs to another guest (“${config.hostname ?? container.vmid}”) that is not marked as this container's; Launchpad leaves it alone.` };
  } finally {
    api.close();
  }
}

/** Opens the stored credentials for someone allowed to see them, and records that they were revealed (not what). */
export async function revealCredentials(
  deps: ContainerActionDeps & { repos: { containerExtras: ContainerExtrasRepository }; secrets: SecretBox },
  viewer: Viewer & { username: string },
  id: string,
): Promise<{ hostname: string; credentials: Array<{ key: string; value: string }> }> {
  const container = await findContainerToActOn(deps.repos, viewer, id);
  const sealed = await deps.repos.containerExtras.sealedCredentials(container.id);
  const credentials = sealed.map((c) => ({ key: c.key, value: deps.secrets.open(c.valueEnc, credentialAad(container.id, c.key)) }));
  const recorder = await recorderFor(deps, container.id, container.lifecycle);
  recorder.log('system', `Credentials (${sealed.map((c) => c.key).join(', ') || 'none'}) revealed to ${viewer.username}.`);
  await recorder.close();
  return { hostname: container.hostname, credentials };
}
