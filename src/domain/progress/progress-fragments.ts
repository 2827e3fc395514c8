// Renders progress fragments through the same Eta partials for the page and for the SSE stream.
import type { ContainerEvent } from '../../db/events-repository.ts';
import type { Views } from '../../views.ts';
import { ansiToHtml } from './ansi-html.ts';
import { PHASE_LABELS, initialSnapshot, type Lifecycle, type PhaseProgress, type ProgressSnapshot } from './phases.ts';


/** The snapshot carried by the newest non-log event, or the one a container in this state starts with. */
export function snapshotFrom(event: ContainerEvent | undefined, lifecycle: Lifecycle): ProgressSnapshot {
  const stored = event?.data?.progress as ProgressSnapshot | undefined;
  return stored ?? initialSnapshot(lifecycle);
}

const logEntry = (e: ContainerEvent) => ({
  kind: e.kind,
  lineNo: e.lineNo,
  stream: e.stream,
  text: e.text ?? '',
  html: e.kind === 'log' ? ansiToHtml(e.text ?? '') : '',
  time: e.createdAt.slice(11, 19),
});

const samePhase = (a: PhaseProgress | undefined, b: PhaseProgress) =>
  a !== undefined && a.state === b.state && a.startedAt === b.startedAt && a.finishedAt === b.finishedAt;

export interface ProgressFragments {
  stepper(progress: ProgressSnapshot, oob: boolean): string;
  /** Log rows for these events (non-log events other than attempt markers are skipped). */
  logRows(events: ContainerEvent[]): string;
  /**
   * One SSE message for a contiguous batch of events: new log rows appended to #log-lines, and what the batch
   * changed in the stepper. Given the snapshot the viewer shows (`shown`), only the summary (status line and bar)
   * and the phase rows that differ are sent; without it, the whole stepper. Every part is an out-of-band swap; the
   * stream's sink swaps nothing itself.
   */
  streamBatch(events: ContainerEvent[], shown?: ProgressSnapshot): string;
}

/** The snapshot the viewer shows after this batch: the newest one it carries, else the one it had. */
export function progressAfter(events: ContainerEvent[], shown: ProgressSnapshot | undefined): ProgressSnapshot | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const progress = events[i]!.kind !== 'log' ? (events[i]!.data?.progress as ProgressSnapshot | undefined) : undefined;
    if (progress) return progress;
  }
  return shown;
}

export function createProgressFragments(views: Views): ProgressFragments {
  const fragments: ProgressFragments = {
    stepper: (progress, oob) => views.render('partials/progress/stepper', { progress, labels: PHASE_LABELS, oob }),
    logRows: (events) => {
      const entries = events.filter((e) => e.kind === 'log' || e.kind === 'attempt').map(logEntry);
      return entries.length ? views.render('partials/progress/log-batch', { entries }) : '';
    },
    streamBatch: (events, shown) => {
      let html = '';
      const rows = fragments.logRows(events);
      if (rows) html += `<div hx-swap-oob="beforeend:#log-lines">\n${rows}</div>\n`;
      const progress = progressAfter(events, undefined);
      if (!progress || progress === shown) return html;
      if (!shown || shown.phases.length !== progress.phases.length) return html + fragments.stepper(progress, true);
      if (shown.status !== progress.status || shown.percent !== progress.percent || shown.lifecycle !== progress.lifecycle) {
        html += views.render('partials/progress/progress-summary', { progress, oob: true });
      }
      progress.phases.forEach((phase, i) => {
        if (samePhase(shown.phases[i], phase) && shown.phases[i]!.key === phase.key) return;
        html += views.render('partials/progress/step-row', { phase, label: PHASE_LABELS[phase.key], oob: true });
      });
      return html;
    },
  };
  return fragments;
}
