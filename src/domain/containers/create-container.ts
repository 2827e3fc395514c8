// Deploy: validate the whole request again (the same checks as the wizard's steps), record the container with its
// root password sealed, and enqueue the build. The deploy id is the container id and the job id, so a double
// submit — sequential or concurrent — finds the first container instead of making a second one.
import { randomUUID } from 'node:crypto';
import type { Deps } from '../../deps.ts';
import { isUuid } from '../../db/containers-repository.ts';
import type { User } from '../../db/users-repository.ts';
import { ConflictError, UnavailableError, ValidationError } from '../../lib/errors.ts';
import type { CreationRequest } from '../wizard/creation-request.ts';
import { checkCreation, refusal, type ValidCreation } from '../wizard/creation-validation.ts';
import { parseVmid, vmidTakenMessage } from '../wizard/field-rules.ts';
import { probeNode } from '../wizard/node-choices.ts';
import { rootPasswordAad } from '../sealed-secrets.ts';
import { CREATE_CONTAINER_JOB } from '../../jobs/job-types.ts';
import { enqueueJob } from '../../jobs/enqueue.ts';

export type CreateContainerDeps = Pick<Deps, 'repos' | 'secrets' | 'nodeLists' | 'queue' | 'logger'>;

/** How many further VMIDs to try when the next free one was claimed meanwhile by another queued container. */
const NEXT_FREE_ATTEMPTS = 20;

type InsertOutcome = 'created' | 'id-exists' | 'vmid-taken';

async function insert(deps: CreateContainerDeps, id: string, owner: User, valid: ValidCreation, vmid: number): Promise<InsertOutcome> {
  const sealed = deps.secrets.seal(valid.password, rootPasswordAad(id));
  const row = {
    id,
    ownerId: owner.id,
    nodeId: valid.node.id,
    templateId: valid.template?.id ?? null,
    vmid,
    hostname: valid.config.hostname,
    config: valid.config as unknown as Record<string, unknown>,
  };
  return deps.repos.containers.tryCreate(row, sealed);
}

/** The next VMIDs after `vmid` that the node says are free (the one it proposed is held by a queued container). */
async function* freeVmidsAfter(deps: CreateContainerDeps, valid: ValidCreation, vmid: number): AsyncGenerator<number> {
  const probe = await probeNode(deps, String(valid.node.id), { nextId: false });
  try {
    for (let candidate = vmid + 1, tries = 0; tries < NEXT_FREE_ATTEMPTS; candidate++, tries++) {
      if (typeof parseVmid(String(candidate)) === 'string') return;
      const free = await probe.isVmidFree(candidate);
      if (free === undefined) return;
      if (free) yield candidate;
    }
  } finally {
    probe.close();
  }
}

async function existing(deps: CreateContainerDeps, id: string, owner: User): Promise<{ containerId: string; created: false }> {
  const container = await deps.repos.containers.findVisible(id, owner);
  if (!container) throw new ConflictError('That deploy id belongs to a container you may not see. Start the wizard again.', 'rule');
  return { containerId: container.id, created: false };
}

/**
 * Creates the container and enqueues its build, or returns the container an earlier submit of the same deploy id
 * created. Throws ValidationError (field → message) when the request is not acceptable, NodeUnavailableError when
 * only the node's silence stands in its way.
 */
export async function createContainer(
  deps: CreateContainerDeps,
  owner: User,
  request: CreationRequest,
): Promise<{ containerId: string; created: boolean }> {
  const id = isUuid(request.deployId) ? request.deployId.toLowerCase() : randomUUID();
  if (await deps.repos.containers.findById(id)) return existing(deps, id, owner);

  const { errors, value, nodeProblem } = await checkCreation(deps, request);
  if (!value) throw refusal(errors, nodeProblem);

  let outcome = await insert(deps, id, owner, value, value.vmid);
  let vmid = value.vmid;
  if (outcome === 'vmid-taken' && value.vmidIsNextFree) {
    for await (const candidate of freeVmidsAfter(deps, value, vmid)) {
      vmid = candidate;
      outcome = await insert(deps, id, owner, value, vmid);
      if (outcome !== 'vmid-taken') break;
    }
  }
  if (outcome === 'id-exists') return existing(deps, id, owner);
  if (outcome === 'vmid-taken') throw new ValidationError({ vmid: vmidTakenMessage(vmid) });

  try {
    await enqueueJob(deps.queue, CREATE_CONTAINER_JOB, { containerId: id, requestedBy: owner.id }, { jobId: id });
  } catch (err) {
    // Without its job nothing would ever build the row: take it back and say so. The wizard draft (and the same
    // deploy id) is kept, so pressing Deploy again once Redis answers creates exactly one container.
    deps.logger.error({ err: (err as Error).message, containerId: id }, 'could not enqueue the create-container job');
    await deps.repos.containers.deleteUnstarted(id);
    throw new UnavailableError(
      'The job queue (Redis) cannot be reached, so nothing was created. Your choices are kept: press Deploy again once Redis is running (redis-cli ping answers PONG).',
    );
  }
  return { containerId: id, created: true };
}
