// One build attempt on its own: its outcome, its phases as it left them, and only its log lines — a retry appends to
// the container's one log, and attempt 2 must not hide attempt 1. Also the slice log.txt?attempt=N streams.
import type { EventsRepository } from '../../db/events-repository.ts';
import type { HistoryRepository } from '../../db/history-repository.ts';
import { NotFoundError } from '../../lib/errors.ts';
import type { ContainerEvent } from '../containers/container-event.ts';
import { findVisibleContainer, LOG_LINES_IN_PAGE, type ContainerPageDeps } from '../containers/container-page.ts';
import type { Container, Viewer } from '../containers/container.ts';
import { snapshotFrom, type ProgressSnapshot } from '../progress/phases.ts';
import { derivedSlice, recordedSlice } from './attempt-slices.ts';
import type { HistoryEntry, HistoryOutcome, LogSlice } from './history.ts';

export interface AttemptView {
  container: Container;
  attempt: number;
  /** How many attempts the build has had so far (for links to the others). */
  attempts: number;
  /** Its history entry, once it has ended. */
  entry?: HistoryEntry;
  /** How it ended; `running` while it runs, `interrupted` when a worker restart cut it short and the next resumed it. */
  state: HistoryOutcome | 'running' | 'interrupted';
  progress: ProgressSnapshot;
  logEntries: ContainerEvent[];
  /** It wrote more lines than the page shows (all are in log.txt?attempt=N). */
  truncated: boolean;
}

/** The attempt number in a URL, or a 404 naming what to do. */
function attemptNumber(container: Container, raw: unknown): number {
  const n = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= container.attempt)) {
    throw new NotFoundError(container.attempt ? `Build attempt ${String(raw)} (this container has had ${container.attempt})` : 'A build attempt (none has started yet)');
  }
  return n;
}

async function sliceOf(deps: { events: EventsRepository; history: HistoryRepository }, container: Container, attempt: number): Promise<{ slice: LogSlice; entry?: HistoryEntry }> {
  const entry = await deps.history.findBuild(container.id, attempt);
  const slice = recordedSlice(entry?.details) ?? derivedSlice(await deps.events.attemptStarts(container.id), attempt, container.lastSeq);
  if (!slice) throw new NotFoundError(`The log of build attempt ${attempt}`);
  return { slice, entry };
}

/** The part of the log build attempt `raw` wrote (for log.txt?attempt=N). */
export async function attemptLogSlice(deps: { events: EventsRepository; history: HistoryRepository }, container: Container, raw: unknown): Promise<LogSlice> {
  return (await sliceOf(deps, container, attemptNumber(container, raw))).slice;
}

export async function loadAttemptPage(deps: ContainerPageDeps, viewer: Viewer, id: string, raw: unknown): Promise<AttemptView> {
  const container = await findVisibleContainer(deps, viewer, id);
  const attempt = attemptNumber(container, raw);
  const { slice, entry } = await sliceOf(deps, container, attempt);
  const [last, lines] = await Promise.all([
    deps.events.lastProgressEvent(container.id, slice.toSeq),
    deps.events.logEntries(container.id, { afterSeq: slice.fromSeq - 1, uptoSeq: slice.toSeq, limit: LOG_LINES_IN_PAGE + 1 }),
  ]);
  const latest = attempt === container.attempt;
  return {
    container,
    attempt,
    attempts: container.attempt,
    entry,
    state: entry?.outcome ?? (latest && container.lifecycle === 'creating' ? 'running' : latest ? 'unknown' : 'interrupted'),
    progress: snapshotFrom(last, container.lifecycle),
    logEntries: lines.slice(0, LOG_LINES_IN_PAGE),
    truncated: lines.length > LOG_LINES_IN_PAGE,
  };
}
