import type { Knex } from 'knex';
import type { LockingAction } from '../domain/pipeline/lifecycle-action-pipeline.ts';
import type { Lifecycle } from '../domain/progress/phases.ts';

export interface Container {
  id: string;
  ownerId: number;
  /** null only for a destroyed container whose node was removed from Launchpad since (see removedNodeName). */
  nodeId: number | null;
  /** The name its node had when that node was removed (destroyed containers only), for display. */
  removedNodeName: string | null;
  templateId: number | null;
  vmid: number | null;
  hostname: string;
  config: Record<string, unknown>;
  rootPasswordEnc: string | null;
  lifecycle: Lifecycle;
  currentStep: string | null;
  percent: number;
  error: string | null;
  ip: string | null;
  lastSeq: number;
  lastLineNo: number;
  attempt: number;
  createdAt: Date;
  finishedAt: Date | null;
  /** The lifecycle action holding the container's lock (start, reboot, destroy…), or null when none runs. */
  currentAction: LockingAction | null;
  currentActionAt: Date | null;
  /** Its CT carries Launchpad's mark (see ct-mark.ts); false for rows recorded before marks existed. */
  marksCt: boolean;
  /** When a create request was first about to be sent to the node (null: never — the CT was never created). */
  createRequestedAt: Date | null;
  /** The create task's UPID, once the node accepted the request. */
  createUpid: string | null;
  /** The Proxmox task a run is following right now (re-read after a crash), or null. */
  pendingTask: PendingTask | null;
}

/**
 * A task being followed: the log line number the run had reached before it began, and its UPID once the node
 * answered (before that, `since`: when it was requested, in Unix seconds, to find it in the node's task list).
 */
export interface PendingTask {
  upid: string | null;
  afterLineNo: number;
  since: number;
}

export interface ContainerRow {
  id: string;
  owner_id: number;
  node_id: number | null;
  removed_node_name: string | null;
  template_id: number | null;
  vmid: number | null;
  hostname: string;
  config: Record<string, unknown>;
  root_password_enc: string | null;
  lifecycle: Lifecycle;
  current_step: string | null;
  percent: number;
  error: string | null;
  ip: string | null;
  last_seq: number;
  last_line_no: number;
  attempt: number;
  created_at: Date;
  finished_at: Date | null;
  current_action: LockingAction | null;
  current_action_at: Date | null;
  marks_ct: boolean;
  create_requested_at: Date | null;
  create_upid: string | null;
  pending_task: PendingTask | null;
  run_owner: string | null;
}

export const toContainer = (r: ContainerRow): Container => ({
  id: r.id,
  ownerId: r.owner_id,
  nodeId: r.node_id,
  removedNodeName: r.removed_node_name,
  templateId: r.template_id,
  vmid: r.vmid,
  hostname: r.hostname,
  config: r.config,
  rootPasswordEnc: r.root_password_enc,
  lifecycle: r.lifecycle,
  currentStep: r.current_step,
  percent: r.percent,
  error: r.error,
  ip: r.ip,
  lastSeq: r.last_seq,
  lastLineNo: r.last_line_no,
  attempt: r.attempt,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
  currentAction: r.current_action,
  currentActionAt: r.current_action_at,
  marksCt: r.marks_ct,
  createRequestedAt: r.create_requested_at,
  createUpid: r.create_upid,
  pendingTask: r.pending_task,
});

/** Columns a caller may change on a container (the event recorder applies these with its events). */
export interface ContainerPatch {
  lifecycle?: Lifecycle;
  currentStep?: string | null;
  percent?: number;
  error?: string | null;
  ip?: string | null;
  vmid?: number | null;
  attempt?: number;
  finishedAt?: Date | null;
  createRequestedAt?: Date;
  createUpid?: string;
  pendingTask?: PendingTask | null;
}

export function patchToRow(patch: ContainerPatch): Partial<ContainerRow> {
  const row: Partial<ContainerRow> = {};
  if (patch.lifecycle !== undefined) row.lifecycle = patch.lifecycle;
  if (patch.currentStep !== undefined) row.current_step = patch.currentStep;
  if (patch.percent !== undefined) row.percent = Math.round(patch.percent);
  if (patch.error !== undefined) row.error = patch.error;
  if (patch.ip !== undefined) row.ip = patch.ip;
  if (patch.vmid !== undefined) row.vmid = patch.vmid;
  if (patch.attempt !== undefined) row.attempt = patch.attempt;
  if (patch.finishedAt !== undefined) row.finished_at = patch.finishedAt;
  if (patch.createRequestedAt !== undefined) row.create_requested_at = patch.createRequestedAt;
  if (patch.createUpid !== undefined) row.create_upid = patch.createUpid;
  if (patch.pendingTask !== undefined) row.pending_task = patch.pendingTask;
  return row;
}

export interface NewContainer {
  id: string;
  ownerId: number;
  nodeId: number;
  templateId: number | null;
  vmid: number | null;
  hostname: string;
  config: Record<string, unknown>;
}

export class ContainersRepository {
  constructor(private readonly knex: Knex) {}

  /** Inserts the row and, in the same transaction, the sealed root password (sealing needs the row id as AAD). */
  async create(input: NewContainer, rootPasswordEnc: string | null): Promise<Container> {
    const [row] = await this.knex<ContainerRow>('containers')
      .insert({
        id: input.id,
        owner_id: input.ownerId,
        node_id: input.nodeId,
        template_id: input.templateId,
        vmid: input.vmid,
        hostname: input.hostname,
        config: input.config,
        root_password_enc: rootPasswordEnc,
        marks_ct: true,
      })
      .returning('*');
    return toContainer(row!);
  }

  /**
   * Inserts unless this id exists already (a double submit) or another live container on the node holds the VMID.
   * The INSERT itself decides — no check-then-insert window.
   */
  async tryCreate(input: NewContainer, rootPasswordEnc: string | null): Promise<'created' | 'id-exists' | 'vmid-taken'> {
    try {
      await this.create(input, rootPasswordEnc);
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

  /** Removes a container no worker has touched yet (its job could not be queued): nothing to keep. */
  async deleteUnstarted(id: string): Promise<void> {
    await this.knex('containers').where({ id, lifecycle: 'queued', last_seq: 0 }).delete();
  }

  async findById(id: string): Promise<Container | undefined> {
    if (!isUuid(id)) return undefined;
    const row = await this.knex<ContainerRow>('containers').where({ id }).first();
    return row && toContainer(row);
  }

  /** The container if this user may see it: its owner, or an admin. */
  async findVisible(id: string, user: { id: number; isAdmin: boolean }): Promise<Container | undefined> {
    if (!isUuid(id)) return undefined;
    const query = this.knex<ContainerRow>('containers').where({ id });
    if (!user.isAdmin) query.andWhere({ owner_id: user.id });
    const row = await query.first();
    return row && toContainer(row);
  }

  async listVisible(user: { id: number; isAdmin: boolean }): Promise<Container[]> {
    const query = this.knex<ContainerRow>('containers').whereNot({ lifecycle: 'destroyed' }).orderBy('created_at', 'desc');
    if (!user.isAdmin) query.andWhere({ owner_id: user.id });
    return (await query).map(toContainer);
  }

  async update(id: string, patch: ContainerPatch): Promise<void> {
    await this.knex('containers').where({ id }).update(patchToRow(patch));
  }

  /**
   * Claims a VMID for this container unless another live container on the node holds it. Returns false when taken
   * (the partial unique index decides, so two workers can never claim the same number).
   */
  async claimVmid(id: string, nodeId: number, vmid: number): Promise<boolean> {
    try {
      await this.knex('containers').where({ id, node_id: nodeId }).update({ vmid });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === '23505') return false;
      throw err;
    }
  }

  /**
   * Takes the container's action lock. It is this one statement (`… WHERE current_action IS NULL`): of two
   * concurrent requests exactly one gets the row back. The lifecycle the action may start from is checked in the
   * same statement, so e.g. no reboot can slip in after a destroy began.
   */
  async claimAction(id: string, action: LockingAction, fromLifecycles: readonly Lifecycle[]): Promise<Container | undefined> {
    if (!isUuid(id)) return undefined;
    const [row] = await this.knex('containers')
      .where({ id })
      .whereNull('current_action')
      .whereIn('lifecycle', fromLifecycles)
      .update({ current_action: action, current_action_at: this.knex.fn.now() })
      .returning('*');
    return row && toContainer(row as ContainerRow);
  }

  /** Releases the lock if `action` still holds it (a late release never frees someone else's lock). */
  async releaseAction(id: string, action: LockingAction): Promise<boolean> {
    const released = await this.knex('containers').where({ id, current_action: action }).update({ current_action: null, current_action_at: null });
    return released > 0;
  }

  /** Releases a lock taken before `takenBefore` by `action`, whose job turned out to be gone. */
  async releaseStaleAction(id: string, action: LockingAction, takenBefore: Date): Promise<boolean> {
    const released = await this.knex('containers')
      .where({ id, current_action: action })
      .andWhere('current_action_at', '<', takenBefore)
      .update({ current_action: null, current_action_at: null });
    return released > 0;
  }

  /**
   * Takes the run lease unless a live run holds it (heartbeat younger than `staleAfterMs`). Exactly one caller wins.
   */
  async acquireRunLease(id: string, token: string, staleAfterMs: number, owner: string | null = null): Promise<boolean> {
    const rows = await this.knex('containers')
      .where({ id })
      .andWhere((q) => q.whereNull('run_token').orWhere('run_heartbeat_at', '<', this.knex.raw("now() - (? || ' milliseconds')::interval", [staleAfterMs])))
      .update({ run_token: token, run_heartbeat_at: this.knex.fn.now(), run_owner: owner })
      .returning('id');
    return rows.length === 1;
  }

  /** Keeps the lease alive; false when another run has taken it over (this run must stop). */
  async renewRunLease(id: string, token: string): Promise<boolean> {
    const rows = await this.knex('containers').where({ id, run_token: token }).update({ run_heartbeat_at: this.knex.fn.now() }).returning('id');
    return rows.length === 1;
  }

  async releaseRunLease(id: string, token: string): Promise<void> {
    await this.knex('containers').where({ id, run_token: token }).update({ run_token: null, run_heartbeat_at: null, run_owner: null });
  }

  /** Frees every lease a dead worker slot held (its successor, started by the supervisor, knows it is gone). */
  async releaseRunLeasesOf(owner: string): Promise<number> {
    return this.knex('containers').where({ run_owner: owner }).update({ run_token: null, run_heartbeat_at: null, run_owner: null });
  }

  /** last_seq for each of these containers, in one query (the SSE relay's periodic check for lost messages). */
  async lastSeqs(ids: string[]): Promise<Map<string, { lastSeq: number; lifecycle: Lifecycle }>> {
    if (ids.length === 0) return new Map();
    const rows = await this.knex<ContainerRow>('containers').whereIn('id', ids).select('id', 'last_seq', 'lifecycle');
    return new Map(rows.map((r) => [r.id, { lastSeq: r.last_seq, lifecycle: r.lifecycle }]));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);
