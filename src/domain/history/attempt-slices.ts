// Which part of a container's one event log belongs to build attempt N. A retry appends to the same log after an
// `attempt` marker; an attempt's entry in the history records the slice it wrote when it ended, and an attempt
// without one (running now, or cut short by a worker restart) runs from its marker to the next one.
import type { LogSlice } from './history.ts';

/** From the attempt's marker (attempt 1: the log's start) to just before the next attempt's, or to `lastSeq`. */
export function derivedSlice(starts: Map<number, number>, attempt: number, lastSeq: number): LogSlice | undefined {
  const fromSeq = starts.get(attempt);
  if (fromSeq === undefined) return undefined;
  const next = Math.min(...[...starts.values()].filter((seq) => seq > fromSeq));
  return { fromSeq, toSeq: Number.isFinite(next) ? next - 1 : lastSeq };
}

/** The slice an entry recorded (details.fromSeq / toSeq), if it did. */
export function recordedSlice(details: Record<string, unknown> | undefined): LogSlice | undefined {
  const { fromSeq, toSeq } = details ?? {};
  return typeof fromSeq === 'number' && typeof toSeq === 'number' ? { fromSeq, toSeq } : undefined;
}
