import type { Knex } from 'knex';
import type { HistoryEntry, HistoryFilter, HistoryKind, HistoryListing, HistoryOutcome, NewHistoryEntry } from '../domain/history/history.ts';

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

const COLUMNS = ['id', 'container_id', 'at', 'kind', 'user_id', 'username', 'attempt', 'outcome', 'summary', 'details'].map((c) => `container_history.${c}`);

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

  /** Writes the entry; false when one with the same dedupeKey was already written for this container. */
  async record(entry: NewHistoryEntry): Promise<boolean> {
    const insert = this.knex('container_history').insert({
      container_id: entry.containerId,
      ...(entry.at ? { at: entry.at } : {}),
      kind: entry.kind,
      user_id: entry.userId,
      username: entry.username,
      attempt: entry.attempt,
      outcome: entry.outcome,
      summary: entry.summary,
      details: JSON.stringify(entry.details),
      dedupe_key: entry.dedupeKey ?? null,
    });
    if (!entry.dedupeKey) {
      await insert;
      return true;
    }
    const rows = await insert.onConflict(['container_id', 'dedupe_key']).ignore().returning('id');
    return rows.length > 0;
  }

  /**
   * Newest first (by when it happened), with each entry's container hostname; one row more than `limit` tells the
   * caller there is a next page.
   */
  async list(filter: HistoryFilter, page: { limit: number; offset: number }): Promise<HistoryListing[]> {
    const q = this.knex('container_history')
      .join('containers', 'containers.id', 'container_history.container_id')
      .orderBy([{ column: 'container_history.at', order: 'desc' }, { column: 'container_history.id', order: 'desc' }])
      .limit(page.limit)
      .offset(page.offset)
      .select([...COLUMNS, 'containers.hostname']);
    if (filter.containerId) q.where('container_history.container_id', filter.containerId);
    if (filter.kind) q.where('container_history.kind', filter.kind);
    if (filter.ownerId !== undefined) q.where('containers.owner_id', filter.ownerId);
    return (await q).map((r: HistoryRow & { hostname: string }) => ({ ...toEntry(r), hostname: r.hostname }));
  }

  /** The id of a container's newest entry (0 when it has none): what a page shows first, in the list's order. */
  async newestId(containerId: string): Promise<number> {
    const row: { id: number } | undefined = await this.knex('container_history')
      .where('container_id', containerId)
      .orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .first('id');
    return row ? Number(row.id) : 0;
  }

  /** The entry of one build attempt, if it has ended. */
  async findBuild(containerId: string, attempt: number): Promise<HistoryEntry | undefined> {
    const row: HistoryRow | undefined = await this.knex('container_history')
      .where({ container_id: containerId, kind: 'build', attempt })
      .orderBy('id', 'desc')
      .first(...COLUMNS);
    return row && toEntry(row);
  }
}
