import type { Knex } from 'knex';
import type { HistoryEntry, HistoryFilter, HistoryKind, HistoryOutcome, NewHistoryEntry } from '../domain/history/history.ts';

interface HistoryRow {
  id: string;
  container_id: string;
  at: Date;
  kind: HistoryKind;
  user_id: number | null;
  username: string | null;
  attempt: number | null;
  outcome: HistoryOutcome | null;
  summary: string;
  details: Record<string, unknown>;
}

const toEntry = (r: HistoryRow): HistoryEntry => ({
  id: Number(r.id),
  containerId: r.container_id,
  at: r.at,
  kind: r.kind,
  userId: r.user_id,
  username: r.username,
  attempt: r.attempt,
  outcome: r.outcome,
  summary: r.summary,
  details: r.details,
});

export class HistoryRepository {
  constructor(private readonly knex: Knex) {}

  async record(entry: NewHistoryEntry): Promise<void> {
    await this.knex('container_history').insert({
      container_id: entry.containerId,
      ...(entry.at ? { at: entry.at } : {}),
      kind: entry.kind,
      user_id: entry.userId,
      username: entry.username,
      attempt: entry.attempt,
      outcome: entry.outcome,
      summary: entry.summary,
      details: JSON.stringify(entry.details),
    });
  }

  /** Newest first; one row more than `limit` tells the caller there is a next page. */
  async list(filter: HistoryFilter, page: { limit: number; offset: number }): Promise<HistoryEntry[]> {
    const q = this.knex<HistoryRow>('container_history').orderBy('id', 'desc').limit(page.limit).offset(page.offset);
    if (filter.containerId) q.where('container_id', filter.containerId);
    if (filter.kind) q.where('kind', filter.kind);
    return (await q).map(toEntry);
  }
}
