// The one way the worker writes progress: every step change and output line becomes a container_events row with
// the next per-container seq (same transaction as the counter), then — after COMMIT — one PUBLISH rings the viewers.
import type { EventsRepository } from '../../db/events-repository.ts';
import type { Logger } from '../../logger.ts';
import { PHASES, snapshotFrom, type PhaseKey, type ProgressSnapshot } from './phases.ts';
import { progressChannel, type ProgressMessage, type Publish } from './progress-channel.ts';
import { isConnectionError } from '../../lib/db-errors.ts';
import type { ContainerPatch, FailureKind } from '../containers/container.ts';
import type { LogStream, NewEvent } from '../containers/container-event.ts';

export interface RecorderOptions {
  /** The most lines one transaction takes from a backlog (default 2,000). */
  maxBatch?: number;
}

export interface RecorderDeps {
  events: EventsRepository;
  publish: Publish;
  logger: Logger;
}

export class EventRecorder {
  private pending: NewEvent[] = [];
  /** A write of the pending lines is scheduled for the end of this event-loop turn. */
  private scheduled: NodeJS.Immediate | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** Writes queued or under way. */
  private writing = 0;
  private readonly maxBatch: number;

  /** A recorder that goes on from where the container's events stand (its last progress event, its lifecycle). */
  static async resume(deps: RecorderDeps, container: { id: string; lifecycle: Parameters<typeof snapshotFrom>[1] }): Promise<EventRecorder> {
    return new EventRecorder(deps, container.id, snapshotFrom(await deps.events.lastProgressEvent(container.id), container.lifecycle));
  }

  constructor(
    private readonly deps: RecorderDeps,
    readonly containerId: string,
    private snapshot: ProgressSnapshot,
    options: RecorderOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 2000;
  }

  get progress(): ProgressSnapshot {
    return this.snapshot;
  }

  /**
   * Buffers one output line. Adaptive batching (issue 18): when nothing is being written, the line is written at
   * the end of this event-loop turn (with whatever else arrived in the same turn) — no timer, so a lone line on a
   * quiet stream is stored and published at once. While a write is under way, lines gather, and the moment it ends
   * the next write takes them all (up to maxBatch): a fast script is stored in few large transactions, a slow one
   * line by line, and no line ever waits for anything but the write before it.
   */
  log(stream: LogStream, text: string): void {
    // PostgreSQL text cannot hold NUL; keep the line, mark the byte.
    this.pending.push({ kind: 'log', stream, text: text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text, at: new Date() });
    if (this.writing === 0) this.scheduled ??= setImmediate(() => void this.flush());
  }

  /** Enters a phase: earlier phases are done, this one is active. */
  async enterPhase(key: PhaseKey, status: string): Promise<void> {
    const now = new Date().toISOString();
    const index = PHASES.findIndex((p) => p.key === key);
    const phases = this.snapshot.phases.map((p, i) => {
      if (i < index && p.state !== 'done') return { ...p, state: 'done' as const, startedAt: p.startedAt ?? now, finishedAt: p.finishedAt ?? now };
      if (i === index) return { key: p.key, state: 'active' as const, startedAt: p.state === 'active' && p.startedAt ? p.startedAt : now };
      if (i > index) return { key: p.key, state: 'pending' as const };
      return p;
    });
    const percent = PHASES[index]!.from;
    await this.record({ kind: 'step', step: key, percent }, { ...this.snapshot, lifecycle: 'creating', phases, percent, status, error: undefined }, {
      lifecycle: 'creating', currentStep: key, percent, error: null,
    });
  }

  /** Progress within the active phase: `fraction` 0..1 of its percent range, and a new status sentence. */
  async advance(fraction: number, status: string): Promise<void> {
    const active = this.snapshot.phases.find((p) => p.state === 'active');
    const phase = PHASES.find((p) => p.key === active?.key);
    if (!phase) return;
    const percent = Math.round(phase.from + (phase.to - phase.from) * Math.min(1, Math.max(0, fraction)));
    if (percent === this.snapshot.percent && status === this.snapshot.status) return;
    await this.record({ kind: 'step', step: phase.key, percent }, { ...this.snapshot, percent, status }, { percent });
  }

  /** A resumed run (retry, or a job redelivered after a crash) leaves a marker in the log. */
  async attempt(attempt: number, resumeFrom: PhaseKey, reason: string): Promise<void> {
    await this.record(
      { kind: 'attempt', step: resumeFrom, text: `Attempt ${attempt}: ${reason}`, data: { attempt } },
      { ...this.snapshot, status: `Attempt ${attempt}: resuming at ${PHASES.find((p) => p.key === resumeFrom)!.label}…` },
      { attempt, lifecycle: 'creating', error: null, finishedAt: null },
    );
  }

  async complete(patch: ContainerPatch & { status: string }): Promise<void> {
    const now = new Date().toISOString();
    const phases = this.snapshot.phases.map((p) => (p.state === 'done' ? p : { ...p, state: 'done' as const, startedAt: p.startedAt ?? now, finishedAt: now }));
    const { status, ...rest } = patch;
    await this.record({ kind: 'complete', percent: 100, text: status }, { lifecycle: 'ready', percent: 100, phases, status }, {
      ...rest, lifecycle: 'ready', percent: 100, currentStep: null, error: null, finishedAt: new Date(),
    });
  }

  /**
   * Back in the queue (Retry): the stepper keeps its phases; the status says what happens next. The Retry's action
   * lock is released in the same commit: once queued, no other Retry or Destroy can be claimed anyway, and the pages
   * that hear this event (src/http/watch-stream.ts) render a queued build (Cancel offered), not a retry in progress.
   */
  async queued(status: string): Promise<void> {
    await this.record({ kind: 'step', text: status }, { ...this.snapshot, lifecycle: 'queued', status, error: undefined }, {
      lifecycle: 'queued', error: null, finishedAt: null, currentAction: null,
    });
  }

  /** Destroying: a lifecycle action, not a phase; the stepper keeps its last state. */
  async destroying(status: string): Promise<void> {
    await this.record({ kind: 'step', text: status }, { ...this.snapshot, lifecycle: 'destroying', status, error: undefined }, { lifecycle: 'destroying', error: null });
  }

  async destroyed(status: string): Promise<void> {
    await this.record({ kind: 'complete', text: status }, { ...this.snapshot, lifecycle: 'destroyed', status, error: undefined }, {
      lifecycle: 'destroyed', error: null, finishedAt: new Date(),
    });
  }

  /** A power action on a built container (start, reboot…) moved on: the status line changes, the build's phases stay. */
  async actionStatus(status: string): Promise<void> {
    await this.record({ kind: 'step', text: status }, { ...this.snapshot, status, error: undefined }, {});
  }

  /** A line of the log that is also the action's status line. */
  async logStatus(text: string): Promise<void> {
    this.log('system', text);
    await this.actionStatus(text);
  }

  /**
   * A power action ended (with `error` when it failed): a terminal event for the viewers. Unlike complete() and
   * actionFailed(), neither the lifecycle nor the build's finish time change — a destroy may already have begun.
   */
  async actionEnded(status: string, error?: string): Promise<void> {
    await this.record({ kind: error ? 'error' : 'complete', text: status }, { ...this.snapshot, status, error }, { error: error ?? null });
  }

  /** A lifecycle action failed without touching the build's phases (e.g. destroy could not reach the node). */
  async actionFailed(lifecycle: 'failed' | 'ready' | 'cancelled', message: string): Promise<void> {
    await this.record({ kind: 'error', text: message }, { ...this.snapshot, lifecycle, status: message, error: message }, { lifecycle, error: message });
  }

  /** `failureKind`: what can mend it ('settings': only new settings; null: Retry may). */
  async fail(message: string, failureKind: FailureKind | null = null): Promise<void> {
    await this.finishActive('failed', message, { kind: 'error', text: message }, failureKind);
  }

  async cancelled(message = 'Cancelled.'): Promise<void> {
    await this.finishActive('cancelled', message, { kind: 'cancelled', text: message });
  }

  /** Writes everything buffered. Resolves once stored (and published, or the publish failed and was logged). */
  flush(): Promise<void> {
    this.cancelScheduled();
    while (this.pending.length) void this.enqueue(this.pending.splice(0, this.maxBatch), {});
    return this.chain;
  }

  /** Stores everything; rejects with the first storage error, if any (a job should fail rather than lose lines). */
  async close(): Promise<void> {
    await this.flush();
    if (this.failure) throw this.failure;
  }

  /**
   * Postgres may be away for a few seconds (restart, failover). Nothing is committed when append throws, so trying
   * again cannot duplicate; lines keep buffering in the meantime.
   */
  private async appendWithRetry(batch: NewEvent[], patch: ContainerPatch) {
    const deadline = Date.now() + 60_000;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await this.deps.events.append(this.containerId, batch, patch);
      } catch (err) {
        if (Date.now() + delay > deadline || !isConnectionError(err)) throw err;
        this.deps.logger.warn({ err: (err as Error).message, containerId: this.containerId }, `database unavailable; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async finishActive(state: 'failed' | 'cancelled', message: string, event: NewEvent, failureKind: FailureKind | null = null): Promise<void> {
    const now = new Date().toISOString();
    const phases = this.snapshot.phases.map((p) => (p.state === 'active' ? { ...p, state, finishedAt: now } : p));
    const failedAt = this.snapshot.phases.find((p) => p.state === 'active')?.key;
    await this.record(
      { ...event, step: failedAt ?? null, percent: this.snapshot.percent },
      { ...this.snapshot, lifecycle: state, phases, status: message, error: message },
      { lifecycle: state, error: message, failureKind, finishedAt: new Date() },
    );
  }

  private async record(event: NewEvent, snapshot: ProgressSnapshot, patch: ContainerPatch): Promise<void> {
    this.snapshot = snapshot;
    // Lines produced before this event are stored before it, in the same order they happened.
    const batch = [...this.pending, { ...event, data: { ...event.data, progress: snapshot } }];
    this.pending = [];
    this.cancelScheduled();
    await this.enqueue(batch, patch);
    if (this.failure) throw this.failure;
  }

  private enqueue(batch: NewEvent[], patch: ContainerPatch): Promise<void> {
    this.writing++;
    this.chain = this.chain.then(async () => {
      try {
        const stored = await this.appendWithRetry(batch, patch);
        if (stored.length === 0) return;
        const message: ProgressMessage = { containerId: this.containerId, fromSeq: stored[0]!.seq, toSeq: stored[stored.length - 1]!.seq, events: stored };
        await this.deps.publish(progressChannel(this.containerId), JSON.stringify(message)).catch((err: Error) =>
          this.deps.logger.warn({ err: err.message, containerId: this.containerId }, 'publish failed; viewers will back-fill from Postgres'),
        );
      } catch (err) {
        this.failure ??= err as Error;
        this.deps.logger.error({ err, containerId: this.containerId }, 'storing progress events failed');
      } finally {
        this.writing--;
        // Lines that gathered during this write go now, all together.
        if (this.writing === 0 && this.pending.length > 0) void this.flush();
      }
    });
    return this.chain;
  }

  private cancelScheduled(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }
}
