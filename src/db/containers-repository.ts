import type { Knex } from 'knex';
import type { Container, ContainerPatch, Lifecycle, Viewer } from '../domain/containers/container.ts';
import type { LockingAction } from '../domain/containers/lifecycle-actions.ts';
import { seesEveryContainer } from '../domain/roles.ts';
import { patchToRow, toContainer, type ContainerRow } from './container-rows.ts';

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

  /** The container if this user may see it: its owner, or an admin or viewer (who see every container). */
  async findVisible(id: string, user: Viewer): Promise<Container | undefined> {
    if (!isUuid(id)) return undefined;
    const query = this.knex<ContainerRow>('containers').where({ id });
    if (!seesEveryContainer(user.role)) query.andWhere({ owner_id: user.id });
    const row = await query.first();
    return row && toContainer(row);
  }

  async listVisible(user: Viewer): Promise<Container[]> {
    const query = this.knex<ContainerRow>('containers').whereNot({ lifecycle: 'destroyed' }).orderBy('created_at', 'desc');
    if (!seesEveryContainer(user.role)) query.andWhere({ owner_id: user.id });
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
   * Records that the container's CT now lives on node `toNodeId` (someone migrated it in Proxmox), while `action`
   * holds the lock and the row is still on `fromNodeId`, and releases the lock in the same statement (whoever reads
   * the row next sees it moved and free). 'vmid-taken' when another live container is recorded at that VMID on the
   * new node (the partial unique index decides).
   */
  async moveToNode(id: string, action: LockingAction, fromNodeId: number, toNodeId: number): Promise<'moved' | 'vmid-taken' | 'changed'> {
    try {
      const moved = await this.knex('containers')
        .where({ id, node_id: fromNodeId, current_action: action })
        .update({ node_id: toNodeId, current_action: null, current_action_at: null, current_action_by: null });
      return moved > 0 ? 'moved' : 'changed';
    } catch (err) {
      if ((err as { code?: string }).code === '23505') return 'vmid-taken';
      throw err;
    }
  }

  /**
   * Takes the container's action lock. It is this one statement (`… WHERE current_action IS NULL`): of two
   * concurrent requests exactly one gets the row back. The lifecycle the action may start from is checked in the
   * same statement, so e.g. no reboot can slip in after a destroy began. `by`: the username taking it, for whoever
   * is refused meanwhile.
   */
  async claimAction(id: string, action: LockingAction, fromLifecycles: readonly Lifecycle[], by: string): Promise<Container | undefined> {
    if (!isUuid(id)) return undefined;
    const [row] = await this.knex('containers')
      .where({ id })
      .whereNull('current_action')
      .whereIn('lifecycle', fromLifecycles)
      .update({ current_action: action, current_action_at: this.knex.fn.now(), current_action_by: by })
      .returning('*');
    return row && toContainer(row as ContainerRow);
  }

  /** Releases the lock if `action` still holds it (a late release never frees someone else's lock). */
  async releaseAction(id: string, action: LockingAction): Promise<boolean> {
    const released = await this.knex('containers').where({ id, current_action: action }).update({ current_action: null, current_action_at: null, current_action_by: null });
    return released > 0;
  }

  /** Releases a lock taken before `takenBefore` by `action`, whose job turned out to be gone. */
  async releaseStaleAction(id: string, action: LockingAction, takenBefore: Date): Promise<boolean> {
    const released = await this.knex('containers')
      .where({ id, current_action: action })
      .andWhere('current_action_at', '<', takenBefore)
      .update({ current_action: null, current_action_at: null, current_action_by: null });
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

  /**
   * Ready containers whose services may be health-checked now (all of them, or the one `id`): a CT on a node, and no
   * action (current_action) or build run (a run lease with a heartbeat younger than `leaseStaleMs`) holding them.
   */
  async healthCheckable(leaseStaleMs: number, id?: string): Promise<Container[]> {
    if (id !== undefined && !isUuid(id)) return [];
    const query = this.knex<ContainerRow>('containers')
      .where({ lifecycle: 'ready' })
      .whereNotNull('vmid')
      .whereNotNull('node_id')
      .whereNull('current_action')
      .andWhere((q) => q.whereNull('run_token').orWhere('run_heartbeat_at', '<', this.knex.raw("now() - (? || ' milliseconds')::interval", [leaseStaleMs])))
      .orderBy('id');
    if (id !== undefined) query.andWhere({ id });
    return (await query).map(toContainer);
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
