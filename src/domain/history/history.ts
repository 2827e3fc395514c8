// The vocabulary of a container's history: what kinds of happenings it records and what one entry says. A leaf
// module: the repository, the pipeline, the health checker and the pages all speak it.

export const HISTORY_KINDS = ['build', 'action', 'destroy', 'health'] as const;
export type HistoryKind = (typeof HISTORY_KINDS)[number];

export const HISTORY_KIND_LABELS: Record<HistoryKind, string> = {
  build: 'Builds',
  action: 'Power actions',
  destroy: 'Destroy',
  health: 'Health changes',
};

/** How a happening ended. Health entries use the new health state instead. */
export type HistoryOutcome = 'succeeded' | 'failed' | 'cancelled' | 'healthy' | 'degraded' | 'down' | 'unknown';

export interface HistoryEntry {
  id: number;
  containerId: string;
  at: Date;
  kind: HistoryKind;
  /** Who asked for it; null for the worker's own doing (scheduled health checks). */
  userId: number | null;
  username: string | null;
  /** The build attempt this entry belongs to (builds only). */
  attempt: number | null;
  outcome: HistoryOutcome | null;
  /** One sentence a person reads, e.g. "Started by alice", "nginx.service is inactive (failed)". */
  summary: string;
  details: Record<string, unknown>;
}

export type NewHistoryEntry = Omit<HistoryEntry, 'id' | 'at'> & {
  at?: Date;
  /**
   * For writers that may run twice (a job BullMQ delivers again after a worker crash): an entry with the same key
   * for the same container is written once. `build:<attempt>` for a build attempt, `job:<id>@<queued at>` for a job.
   */
  dedupeKey?: string;
};

/** An entry as lists show it: with the hostname of its container (for /activity). */
export type HistoryListing = HistoryEntry & { hostname: string };

/** The part of a container's event log (container_events seq, inclusive) an entry's work wrote: a build attempt's log. */
export interface LogSlice {
  fromSeq: number;
  toSeq: number;
}

export interface HistoryFilter {
  containerId?: string;
  kind?: HistoryKind;
  /** Only the history of containers this user owns (an operator's view; see roles.ts). */
  ownerId?: number;
}

export const isHistoryKind = (value: unknown): value is HistoryKind => HISTORY_KINDS.includes(value as HistoryKind);
