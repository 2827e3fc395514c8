// Renders progress fragments through the same Eta partials for the page and for the SSE stream.
import type { ContainerEvent } from '../../db/events-repository.ts';
import type { Views } from '../../views.ts';
import { ansiToHtml } from './ansi-html.ts';
import { PHASE_LABELS, initialSnapshot, type Lifecycle, type ProgressSnapshot } from './phases.ts';


/** The snapshot carried by the newest non-log event, or the one a container in this state starts with. */
export function snapshotFrom(event: ContainerEvent | undefined, lifecycle: Lifecycle): ProgressSnapshot {
  const stored = event?.data?.progress as ProgressSnapshot | undefined;
  return stored ?? initialSnapshot(lifecycle);
}

const logEntry = (e: ContainerEvent) => ({
  seq: e.seq,
  kind: e.kind,
  lineNo: e.lineNo,
  stream: e.stream,
  text: e.text ?? '',
  html: e.kind === 'log' ? ansiToHtml(e.text ?? '') : '',
  iso: e.createdAt,
  time: e.createdAt.slice(11, 19),
});

export interface ProgressFragments {
  stepper(progress: ProgressSnapshot, oob: boolean): string;
  /** Log rows for these events (non-log events other than attempt markers are skipped). */
  logRows(events: ContainerEvent[]): string;
  /**
   * One SSE message for a contiguous batch of events: new log rows appended to #log-lines, and the stepper
   * replaced when the batch moved it. Every part is an out-of-band swap; the stream's sink swaps nothing itself.
   */
  streamBatch(events: ContainerEvent[]): string;
}

export function createProgressFragments(views: Views): ProgressFragments {
  const fragments: ProgressFragments = {
    stepper: (progress, oob) => views.render('partials/progress/stepper', { progress, labels: PHASE_LABELS, oob }),
    logRows: (events) => {
      const entries = events.filter((e) => e.kind === 'log' || e.kind === 'attempt').map(logEntry);
      return entries.length ? views.render('partials/progress/log-batch', { entries }) : '';
    },
    streamBatch: (events) => {
      let html = '';
      const rows = fragments.logRows(events);
      if (rows) html += `<div hx-swap-oob="beforeend:#log-lines">\n${rows}</div>\n`;
      const last = [...events].reverse().find((e) => e.kind !== 'log');
      const progress = last?.data?.progress as ProgressSnapshot | undefined;
      if (progress) html += fragments.stepper(progress, true);
      return html;
    },
  };
  return fragments;
}
