// What the history lists show: one container's (the section on its page, and /containers/:id/history) and the whole
// console's (/activity), newest first, filtered by kind, a page at a time. /activity follows the containers list's
// rule (roles.ts): admins and viewers see every container's history, an operator only their own containers'.
import type { HistoryRepository } from '../../db/history-repository.ts';
import type { Viewer } from '../containers/container.ts';
import { seesEveryContainer } from '../roles.ts';
import { HISTORY_KIND_LABELS, isHistoryKind, type HistoryKind, type HistoryListing } from './history.ts';

export const HISTORY_PAGE_SIZE = 20;
export const ACTIVITY_PAGE_SIZE = 50;

export interface HistoryQuery {
  kind?: HistoryKind;
  /** 1-based. */
  page: number;
}

export interface HistoryPage {
  query: HistoryQuery;
  entries: HistoryListing[];
  hasNext: boolean;
  /** The filter links: each kind and its label. */
  kinds: Record<HistoryKind, string>;
}

/** Reads ?kind= and ?page= (anything else, or nonsense, means all kinds, page 1). */
export function historyQuery(query: Record<string, unknown>): HistoryQuery {
  const page = typeof query.page === 'string' && /^\d{1,6}$/.test(query.page) && Number(query.page) >= 1 ? Number(query.page) : 1;
  return isHistoryKind(query.kind) ? { kind: query.kind, page } : { page };
}

async function pageOf(history: HistoryRepository, filter: Parameters<HistoryRepository['list']>[0], query: HistoryQuery, size: number): Promise<HistoryPage> {
  const rows = await history.list({ ...filter, kind: query.kind }, { limit: size + 1, offset: (query.page - 1) * size });
  return { query, entries: rows.slice(0, size), hasNext: rows.length > size, kinds: HISTORY_KIND_LABELS };
}

/** One container's history (the caller has checked that the viewer may see the container). */
export function containerHistory(deps: { history: HistoryRepository }, containerId: string, query: HistoryQuery): Promise<HistoryPage> {
  return pageOf(deps.history, { containerId }, query, HISTORY_PAGE_SIZE);
}

/** Every container's history this viewer may see. */
export function loadActivity(deps: { history: HistoryRepository }, viewer: Viewer, query: Record<string, unknown>): Promise<HistoryPage> {
  return pageOf(deps.history, seesEveryContainer(viewer.role) ? {} : { ownerId: viewer.id }, historyQuery(query), ACTIVITY_PAGE_SIZE);
}

/** A page of entries for scripts (Accept: application/json). */
export function historyJson(page: HistoryPage) {
  return {
    entries: page.entries.map((e) => ({
      id: e.id, at: e.at.toISOString(), kind: e.kind, container: { id: e.containerId, hostname: e.hostname },
      username: e.username, attempt: e.attempt, outcome: e.outcome, summary: e.summary,
    })),
    page: page.query.page,
    has_next: page.hasNext,
  };
}
