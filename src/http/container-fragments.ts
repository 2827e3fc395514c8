// Every piece of HTML about a container — its page, its live stream, the list — rendered from Eta partials here.
// Each element that shows the container's state (heading line, header badge, stepper, status panel with its
// actions, usage, service health, history, configuration, log line count) is one partial rendered by `state()` for the page
// and, out of band, for the stream: the stream's last message is what a reload would render, so a page left open
// never goes stale.
import type { ContainerEvent } from '../domain/containers/container-event.ts';
import type { ContainerListView } from '../domain/containers/container-list.ts';
import type { ContainerStateView } from '../domain/containers/container-page.ts';
import type { LiveStatus } from '../domain/containers/container.ts';
import type { UsageView } from '../domain/usage/usage.ts';
import type { HealthView } from '../domain/health/health-view.ts';
import { ansiToHtml } from '../domain/progress/ansi-html.ts';
import { PHASE_LABELS, type PhaseProgress, type ProgressSnapshot } from '../domain/progress/phases.ts';
import { progressAfter, type ProgressFragments, type StreamMessage } from '../domain/progress/progress-feed.ts';
import type { Views } from '../views.ts';

/** The state elements of a container page, each a rendered partial whose root carries its id. */
export interface ContainerStateParts {
  heading: string;
  badge: string;
  stepper: string;
  statusPanel: string;
  config: string;
  lineCount: string;
  /** Live usage (empty and hidden for a container without a CT to measure). */
  usage: string;
  /** Its services' health (empty and hidden for a container without services, or not built). */
  health: string;
  /**
   * Its history's first page, all kinds. Out of band it replaces only a section showing that same view: a page
   * whose reader chose a filter or an older page keeps it.
   */
  history: string;
  /**
   * The page's one stream: the build's progress, the built CT's usage, or a stopped build's quiet watch; swapping it
   * switches streams.
   */
  streamSlot: string;
}

export interface ContainerFragments extends ProgressFragments {
  /** The page's state elements in place, or (oob) as out-of-band swaps for the stream. */
  state(view: ContainerStateView, csrfToken: string, oob: boolean): ContainerStateParts;
  /**
   * The stream's last message: every state element, out of band, as a reload would render it. `progressAfter` (the
   * watch stream's hand-over): the slot opens the progress stream from that seq, whatever the state's own stream.
   */
  final(view: ContainerStateView, csrfToken: string, progressAfter?: number): string;
  /** Every state element but the stream slot, out of band: the usage stream's answer to a CT that started or stopped. */
  refresh(view: ContainerStateView, csrfToken: string): string;
  /**
   * Log rows for these events (non-log events other than attempt markers are skipped). The page's rows carry their
   * ids (permalinks work without scripts); the stream's (`numbered: false`) do not: the log viewer numbers them.
   */
  logRows(events: ContainerEvent[], numbered?: boolean): string;
  /** The list's poll answer: the table body, and the filter counts out of band. */
  listUpdate(list: ContainerListView, csrfToken: string): string;
  /** The health section alone, in place: the answer to "Check now". */
  health(view: HealthView, csrfToken: string): string;
  /** The usage panel and the Proxmox status badge, out of band: one message for every viewer of the container. */
  usageUpdate(usage: UsageView, status: LiveStatus | undefined, containerId: string): string;
  /** The live status badge in place: the answer to a panel that was rendered without it and asks once. */
  liveStatus(containerId: string, status: LiveStatus | undefined): string;
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
  a !== undefined && a.key === b.key && a.state === b.state && a.startedAt === b.startedAt && a.finishedAt === b.finishedAt;

export function createContainerFragments(views: Views, options: { heartbeatMs: number }): ContainerFragments {
  const stepper = (progress: ProgressSnapshot, oob: boolean) => views.render('partials/progress/stepper', { progress, labels: PHASE_LABELS, oob });
  const badge = (lifecycle: string, oob: boolean) => views.render('partials/containers/lifecycle-badge', { lifecycle, id: 'lifecycle-badge', oob });
  const lineCount = (lines: number, oob: boolean) => views.render('partials/progress/log-count', { lines, oob });
  const logRows = (events: ContainerEvent[], numbered = true) => {
    const entries = events.filter((e) => e.kind === 'log' || e.kind === 'attempt').map(logEntry);
    return entries.length ? views.render('partials/progress/log-batch', { entries, numbered }) : '';
  };
  const state = (view: ContainerStateView, csrfToken: string, oob: boolean, progressAfter?: number): ContainerStateParts => ({
    heading: views.render('partials/containers/heading-line', { container: view.container, nodeName: view.nodeName, deployAgain: view.deployAgain, oob }),
    badge: badge(view.container.lifecycle, oob),
    stepper: stepper(view.progress, oob),
    statusPanel: views.render('partials/progress/status-panel', { view, csrfToken, oob }),
    config: views.render('partials/containers/config-summary', { items: view.config, oob }),
    lineCount: lineCount(view.container.lastLineNo, oob),
    usage: usagePanel(view.usage, oob),
    health: healthPanel(view.health, csrfToken, oob),
    history: views.render('partials/history/section', { containerId: view.container.id, history: view.history, oob }),
    streamSlot: views.render('partials/containers/stream-slot', {
      container: view.container,
      stream: progressAfter === undefined ? view.stream : 'progress',
      after: progressAfter ?? view.container.lastSeq,
      heartbeatMs: options.heartbeatMs,
      historySeen: view.history.entries[0]?.id ?? 0,
      oob,
    }),
  });
  const usagePanel = (usage: UsageView | undefined, oob: boolean) => views.render('partials/containers/usage-panel', { usage, now: Date.now(), oob });
  const healthPanel = (health: HealthView, csrfToken: string, oob: boolean) => views.render('partials/containers/health', { health, csrfToken, oob });

  return {
    state,
    logRows,
    health: (view, csrfToken) => healthPanel(view, csrfToken, false),
    final: (view, csrfToken, progressAfter) => Object.values(state(view, csrfToken, true, progressAfter)).join(''),
    refresh: (view, csrfToken) => {
      const { streamSlot: _keep, ...parts } = state(view, csrfToken, true);
      return Object.values(parts).join('');
    },
    // Sent at every poll: without the partials' trailing newlines, which would pile up as text nodes in the page.
    usageUpdate: (usage, status, containerId) =>
      usagePanel(usage, true).trim() + views.render('partials/containers/live-status', { containerId, status, oob: true }).trim(),
    // Trimmed too: swapped in place of the badge, a trailing newline would stay in the page as a text node that a
    // reload (the badge rendered inline) does not have.
    liveStatus: (containerId, status) => views.render('partials/containers/live-status', { containerId, status, oob: false }).trim(),
    listUpdate: (list, csrfToken) =>
      views.render('partials/containers/list-rows', { list, csrfToken }) + views.render('partials/containers/list-filters', { list, oob: true }),
    /**
     * One SSE message for a contiguous batch of events. With new log rows it is a `log` message: the rows themselves,
     * which the page's log sink (stream-slot.eta) appends to #log-lines — without their ids or the line count, which
     * the log viewer derives from the list (public/js/log-viewer.js) — and what the batch changed in the header badge
     * and the stepper, out of band (htmx applies those first and appends the rest). Without rows it is a `progress`
     * message of out-of-band changes only. Given the snapshot the viewer shows (`shown`), only the summary (status
     * line and bar) and the phase rows that differ are sent; without it, the whole stepper.
     */
    streamBatch: (events, shown) => {
      const rows = logRows(events, false);
      const message = (html: string): StreamMessage => ({ event: rows ? 'log' : 'progress', html });
      let html = rows;
      const progress = progressAfter(events, undefined);
      if (!progress || progress === shown) return message(html);
      if (!shown || shown.lifecycle !== progress.lifecycle) html += badge(progress.lifecycle, true);
      // Turning destroyed changes how every row looks (stepper.eta): the whole stepper then.
      const turnedDestroyed = shown !== undefined && shown.lifecycle !== 'destroyed' && progress.lifecycle === 'destroyed';
      if (!shown || shown.phases.length !== progress.phases.length || turnedDestroyed) return message(html + stepper(progress, true));
      if (shown.status !== progress.status || shown.percent !== progress.percent || shown.lifecycle !== progress.lifecycle) {
        html += views.render('partials/progress/progress-summary', { progress, oob: true });
      }
      progress.phases.forEach((phase, i) => {
        if (samePhase(shown.phases[i], phase)) return;
        html += views.render('partials/progress/step-row', { phase, label: PHASE_LABELS[phase.key], oob: true });
      });
      return message(html);
    },
  };
}
