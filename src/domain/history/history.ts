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

export type NewHistoryEntry = Omit<HistoryEntry, 'id' | 'at'> & { at?: Date };

export interface HistoryFilter {
  containerId?: string;
  kind?: HistoryKind;
}

export const isHistoryKind = (value: unknown): value is HistoryKind => HISTORY_KINDS.includes(value as HistoryKind);
