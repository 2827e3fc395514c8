// Deploy: validate the whole request again (the same checks as the wizard's steps), record the container with its
// root password sealed, and enqueue the build. The deploy id is the container id and the job id, so a double
// submit — sequential or concurrent — finds the first container instead of making a second one.
import { randomUUID } from 'node:crypto';
import type { Deps } from '../../deps.ts';
import { isUuid } from '../../db/containers-repository.ts';
import type { User } from '../../db/users-repository.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import { rootPasswordAad } from '../pipeline/pipeline-runner.ts';
import type { CreationRequest } from '../wizard/creation-request.ts';
import { checkCreation, type ValidCreation } from '../wizard/creation-validation.ts';
import { parseVmid, vmidTakenMessage } from '../wizard/field-rules.ts';
import { probeNode } from '../wizard/node-choices.ts';
import { CREATE_CONTAINER_JOB, type CreateContainerJobData } from './container-config.ts';

export type CreateContainerDeps = Pick<Deps, 'repos' | 'secrets' | 'queue' | 'logger'>;

/** How many further VMIDs to try when the next free one was claimed meanwhile by another queued container. */
const NEXT_FREE_ATTEMPTS = 20;

type InsertOutcome = 'created' | 'id-exists' | 'vmid-taken';

// The INSERT itself detects a double submit (primary key) and a VMID another live container on the node holds
// (containers_node_vmid_live): no check-then-insert window.
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
  try {
    await deps.repos.containers.create(row, sealed);
    return 'created';
  } catch (err) {
    const { code, constraint } = err as { code?: string; constraint?: string };
    if (code !== '23505') throw err;
    // The primary key is checked before the VMID index (index creation order), so a twin request reads as such.
    if (constraint === 'containers_pkey') return 'id-exists';
    if (constraint === 'containers_node_vmid_live') return 'vmid-taken';
    throw err;
  }
}

/** The next VMIDs after `vmid` that the node says are free (the one it proposed is held by a queued container). */
async function* freeVmidsAfter(deps: CreateContainerDeps, valid: ValidCreation, vmid: number): AsyncGenerator<number> {
  const probe = await probeNode(deps, String(valid.node.id));
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
  if (!container) throw new ConflictError('That deploy id belongs to a container you may not see. Start the wizard again.');
  return { containerId: container.id, created: false };
}

/**
 * Creates the container and enqueues its build, or returns the container an earlier submit of the same deploy id
 * created. Throws ValidationError (field → message) when the request is not acceptable.
 */
export async function createContainer(
  deps: CreateContainerDeps,
  owner: User,
  request: CreationRequest,
): Promise<{ containerId: string; created: boolean }> {
  const id = isUuid(request.deployId) ? request.deployId.toLowerCase() : randomUUID();
  if (await deps.repos.containers.findById(id)) return existing(deps, id, owner);

  const { errors, value } = await checkCreation(deps, request);
  if (!value) throw new ValidationError(errors);

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

  const data: CreateContainerJobData = { containerId: id };
  try {
    await deps.queue.add(CREATE_CONTAINER_JOB, data, { jobId: id, removeOnComplete: 1000, removeOnFail: 5000 });
  } catch (err) {
    // The row exists; without its job nothing would ever build it. Say so on its page, where Retry is offered.
    deps.logger.error({ err, containerId: id }, 'could not enqueue the create-container job');
    await deps.repos.containers.update(id, {
      lifecycle: 'failed',
      error: 'The build could not be queued because Redis did not answer. Press Retry once Redis is reachable again.',
      finishedAt: new Date(),
    });
  }
  return { containerId: id, created: true };
}
