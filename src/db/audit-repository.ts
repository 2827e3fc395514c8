import type { Knex } from 'knex';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEntry {
  id: number;
  at: Date;
  userId: number | null;
  username: string | null;
  remoteAddress: string | null;
  action: string;
  target: string | null;
  containerId: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditFilter {
  username?: string;
  action?: string;
  containerId?: string;
  /** A container's hostname, as its entries' target names it. */
  containerName?: string;
}

interface AuditRow {
  id: string;
  at: Date;
  user_id: number | null;
  username: string | null;
  remote_address: string | null;
  action: string;
  target: string | null;
  container_id: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
}

const toEntry = (r: AuditRow): AuditEntry => ({
  id: Number(r.id),
  at: r.at,
  userId: r.user_id,
  username: r.username,
  remoteAddress: r.remote_address,
  action: r.action,
  target: r.target,
  containerId: r.container_id,
  outcome: r.outcome,
  details: r.details,
});

export class AuditRepository {
  constructor(private readonly knex: Knex) {}

  async insert(entry: NewAuditEntry): Promise<void> {
    await this.knex('audit_entries').insert({
      user_id: entry.userId,
      username: entry.username,
      remote_address: entry.remoteAddress,
      action: entry.action,
      target: entry.target,
      container_id: entry.containerId,
      outcome: entry.outcome,
      details: JSON.stringify(entry.details),
    });
  }

  /** Newest first; one row more than `limit` tells the caller there is a next page. */
  async list(filter: AuditFilter, page: { limit: number; offset: number }): Promise<AuditEntry[]> {
    const q = this.knex<AuditRow>('audit_entries').orderBy('id', 'desc').limit(page.limit).offset(page.offset);
    // Usernames are matched whatever their case; a container by its id, or by the hostname its entries name.
    if (filter.username) q.whereRaw('lower(username) = lower(?)', [filter.username]);
    if (filter.action) q.where('action', filter.action);
    if (filter.containerId) q.where('container_id', filter.containerId);
    if (filter.containerName) q.whereNotNull('container_id').andWhereRaw('lower(target) = lower(?)', [filter.containerName]);
    return (await q).map(toEntry);
  }

  async actions(): Promise<string[]> {
    const rows = await this.knex('audit_entries').distinct('action').orderBy('action');
    return rows.map((r: { action: string }) => r.action);
  }
}
