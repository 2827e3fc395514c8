// One viewer's feed of a container's progress: subscribe first, replay what the viewer lacks from Postgres, then
// go live — dropping anything already sent and back-filling from Postgres whenever seq jumps. The result, on one
// connection, is every event after the cursor exactly once and in order. Once the replay is done, an `event: live`
// tells the page how many log lines it caught up (its indicator says "Live — caught up 240 lines").
import type { EventsRepository } from '../../db/events-repository.ts';
import type { EventRelay, RelayListener } from './event-relay.ts';
import { initialSnapshot, type ProgressSnapshot } from './phases.ts';
import type { ProgressMessage } from './progress-channel.ts';
import { type Container, isTerminal } from '../containers/container.ts';
import { type CachedBatch, ReplayCache } from './replay-cache.ts';
import type { ContainerEvent } from '../containers/container-event.ts';

/**
 * One SSE message for a batch: `log` when it appends log rows — its HTML is the rows, which the page's log sink
 * appends to #log-lines, and the stepper's out-of-band changes — else `progress` (out-of-band changes only).
 */
export interface StreamMessage {
  event: 'log' | 'progress';
  html: string;
}

/** How a batch of events reads in the stream (src/http/container-fragments.ts renders it). */
export interface ProgressFragments {
  /** One SSE message for a contiguous batch; `shown` is the stepper snapshot the viewer shows before it. */
  streamBatch(events: ContainerEvent[], shown?: ProgressSnapshot): StreamMessage;
}

/** The snapshot the viewer shows after this batch: the newest one it carries, else the one it had. */
export function progressAfter(events: ContainerEvent[], shown: ProgressSnapshot | undefined): ProgressSnapshot | undefined {
  return lastProgressIn(events)?.progress ?? shown;
}

/** The newest stepper snapshot a batch carries, with the seq of its event. */
function lastProgressIn(events: ContainerEvent[]): { progress: ProgressSnapshot; seq: number } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const progress = events[i]!.kind !== 'log' ? (events[i]!.data?.progress as ProgressSnapshot | undefined) : undefined;
    if (progress) return { progress, seq: events[i]!.seq };
  }
  return undefined;
}

export interface FeedSink {
  /** Writes one message; returns false when the viewer cannot keep up and the feed must stop. */
  send(id: number, event: StreamMessage['event'] | 'done' | 'live', html: string): boolean;
  /** Writes a live message that every viewer of the container gets alike (see SseWriter.sendShared). */
  sendShared(id: number, event: StreamMessage['event'], html: string): boolean;
  /** The bytes send() would write for this message, and writing such bytes (a cached replay batch). */
  encode(id: number, event: StreamMessage['event'], html: string): Buffer;
  sendEncoded(id: number, frame: Buffer): boolean;
  /** Resolves when the next replay batch may be sent (false: the viewer is gone); see SseWriter.writable. */
  writable(): Promise<boolean>;
  /** The viewer has not taken much of what was sent yet (see SseWriter.behind). */
  behind(): boolean;
  end(): void;
}

export interface FeedDeps {
  events: EventsRepository;
  /** The container as it stands (viewers finishing together may share one read: see src/lib/single-flight.ts). */
  readContainer(id: string): Promise<Container | undefined>;
  relay: EventRelay;
  fragments: ProgressFragments;
  /**
   * The fragments a finished container's page ends with (every state element, as a reload shows it), out of band.
   * Its database reads go through replayLimit too.
   */
  finalFragments(container: Container): Promise<string>;
  replayBatchSize?: number;
  /**
   * Runs a replay query. The process shares one limit among all viewers so that many viewers back-filling at once
   * never take every database connection (pages and /healthz must still get one).
   */
  replayLimit?: <T>(query: () => Promise<T>) => Promise<T>;
  /** Replay batches already rendered (none: every replay renders afresh). */
  replayCache?: ReplayCache;
}

const TERMINAL_EVENTS = new Set(['complete', 'error', 'cancelled']);

/**
 * Nothing more will happen on its own: the build has ended and no action (start, reboot…) holds the container.
 * A destroyed container's lock no longer matters: no action can start on it.
 */
export function isSettled(container: Pick<Container, 'lifecycle' | 'currentAction'>): boolean {
  return isTerminal(container.lifecycle) && (!container.currentAction || container.lifecycle === 'destroyed');
}

// A message reaches every viewer of its container as the same object: render it once per process, not per viewer.
// What it renders to depends on the stepper the viewer shows before it; viewers that are live share that snapshot
// object (the previous message's), so they share the rendering.
const rendered = new WeakMap<ProgressMessage, { shown: ProgressSnapshot | undefined; message: StreamMessage }>();

/** What a page rendered before a container's first event shows (one object: viewers starting there share renderings). */
const UNTOUCHED: ProgressSnapshot = Object.freeze(initialSnapshot());

export class ProgressFeed implements RelayListener {
  lastSent: number;
  private buffering = true;
  /** Log lines sent before the `live` marker: what the replay caught up. */
  private replayedLines: number | undefined = 0;
  private buffer: ProgressMessage[] = [];
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private unsubscribe: (() => void) | undefined;
  /** The stepper snapshot this viewer shows (what its page rendered, then what we sent): the stream sends changes only. */
  private shown: ProgressSnapshot | undefined;
  /** The seq of the event `shown` came from (0: none) — what a cached replay batch was rendered against. */
  private shownSeq = 0;
  /** Catching a slow reader up from Postgres: live messages are not kept meanwhile, only that some came. */
  private catchingUp = false;
  private missedWhileCatchingUp = false;

  constructor(
    private readonly deps: FeedDeps,
    readonly containerId: string,
    cursor: number,
    private readonly sink: FeedSink,
  ) {
    this.lastSent = cursor;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.deps.relay.subscribe(this.containerId, this);
    await this.run(async () => {
      await this.loadShownProgress();
      await this.backfill();
      this.buffering = false;
      const buffered = this.buffer;
      this.buffer = [];
      for (const message of buffered) await this.deliver(message);
      await this.finishIfTerminal();
      const caughtUp = this.replayedLines;
      this.replayedLines = undefined;
      if (!this.closed && !this.sink.send(this.lastSent, 'live', String(caughtUp))) this.stop();
    });
  }

  /** The viewer went away (or was cut): stop listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
  }

  onMessage(message: ProgressMessage): void {
    if (this.closed) return;
    // Postgres has it; the catch-up reads it (nothing is held for a reader that is taking its time).
    if (this.catchingUp) {
      this.missedWhileCatchingUp = true;
      return;
    }
    if (this.buffering) this.buffer.push(message);
    else void this.run(() => this.deliver(message));
  }

  onResync(): void {
    if (!this.closed && !this.buffering) void this.run(() => this.backfill());
  }

  /** Everything touching lastSent runs one step at a time, in arrival order. */
  private run(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await step();
      } catch {
        // The database is unreachable: end this stream; the browser reconnects with its cursor and resumes.
        this.stop();
      }
    });
    return this.chain;
  }

  private async deliver(message: ProgressMessage): Promise<void> {
    if (message.toSeq <= this.lastSent) return;
    // A message was lost in between: Postgres has it (and this one too, committed before it was published).
    if (message.fromSeq > this.lastSent + 1) return this.backfill();
    // A reader slower than the build (a slow link, a busy browser): rather than pile messages on it until it is cut
    // and has to reconnect, let it take what it holds, then catch it up from Postgres at its own pace, as a replay.
    if (this.sink.behind()) return this.catchUp();
    const fresh = message.fromSeq > this.lastSent ? message.events : message.events.filter((e) => e.seq > this.lastSent);
    const hit = fresh === message.events ? rendered.get(message) : undefined;
    let out = hit && hit.shown === this.shown ? hit.message : undefined;
    if (out === undefined) {
      out = this.deps.fragments.streamBatch(fresh, this.shown);
      if (fresh === message.events) rendered.set(message, { shown: this.shown, message: out });
    }
    await this.emit(fresh, out);
  }

  /**
   * The stepper the page rendered at the cursor. At 0 that is the stepper of a container no event has touched yet
   * (queued, every phase pending: what the wizard's redirect shows), so the first change sends what changed, not
   * the whole stepper again.
   */
  private async loadShownProgress(): Promise<void> {
    if (this.lastSent === 0) {
      this.shown = UNTOUCHED;
      return;
    }
    const query = () => this.deps.events.lastProgressEvent(this.containerId, this.lastSent);
    const event = await (this.deps.replayLimit ? this.deps.replayLimit(query) : query());
    this.shown = event?.data?.progress as ProgressSnapshot | undefined;
    this.shownSeq = this.shown ? event!.seq : 0;
  }

  /** Waits for the reader to take what it holds, then sends what it missed from Postgres, until nothing is missing. */
  private async catchUp(): Promise<void> {
    this.catchingUp = true;
    try {
      do {
        this.missedWhileCatchingUp = false;
        if (!(await this.sink.writable())) return this.stop();
        await this.backfill();
      } while (this.missedWhileCatchingUp && !this.closed);
    } finally {
      this.catchingUp = false;
    }
  }

  private async backfill(): Promise<void> {
    const size = this.deps.replayBatchSize ?? 1000;
    const cache = this.deps.replayCache;
    for (;;) {
      if (this.closed) return;
      const after = this.lastSent;
      const load = async () => {
        const events = await this.limited(() => this.deps.events.listAfter(this.containerId, after, size));
        // A full batch is immutable (events are only ever appended after it); the tail may still grow.
        return events.length === 0 ? undefined : { batch: this.prepare(events), full: events.length === size };
      };
      const loaded = cache ? await cache.getOrLoad(ReplayCache.key(this.containerId, after, size, this.shownSeq), load) : await load();
      if (!loaded) return;
      const { batch, full } = loaded;
      await this.emitPrepared(batch);
      if (!full) return;
      // A replay can be hundreds of batches: let other requests and viewers run in between, and send the next batch
      // only once this viewer has taken the last one (a slow reader is paced instead of cut and restarted).
      if (!(await this.sink.writable())) return this.stop();
    }
  }

  private limited<T>(query: () => Promise<T>): Promise<T> {
    return this.deps.replayLimit ? this.deps.replayLimit(query) : query();
  }

  /** A replay batch as bytes, with what the feed needs to know about it afterwards. */
  private prepare(events: ContainerEvent[]): CachedBatch {
    const last = events[events.length - 1]!;
    const progress = lastProgressIn(events);
    const message = this.deps.fragments.streamBatch(events, this.shown);
    return {
      frame: this.sink.encode(last.seq, message.event, message.html),
      lastSeq: last.seq,
      logLines: events.filter((e) => e.kind === 'log').length,
      terminal: events.some((e) => TERMINAL_EVENTS.has(e.kind)),
      shownAfter: progress?.progress ?? this.shown,
      shownSeqAfter: progress?.seq ?? this.shownSeq,
    };
  }

  private async emitPrepared(batch: CachedBatch): Promise<void> {
    if (this.closed) return;
    this.lastSent = batch.lastSeq;
    this.shown = batch.shownAfter;
    this.shownSeq = batch.shownSeqAfter;
    if (this.replayedLines !== undefined) this.replayedLines += batch.logLines;
    if (!this.sink.sendEncoded(batch.lastSeq, batch.frame)) {
      this.stop();
      return;
    }
    if (batch.terminal) await this.finishIfTerminal();
  }

  private async emit(events: ContainerEvent[], message: StreamMessage): Promise<void> {
    if (this.closed || events.length === 0) return;
    const last = events[events.length - 1]!;
    this.lastSent = last.seq;
    const progress = lastProgressIn(events);
    if (progress) {
      this.shown = progress.progress;
      this.shownSeq = progress.seq;
    }
    if (this.replayedLines !== undefined) this.replayedLines += events.filter((e) => e.kind === 'log').length;
    if (!this.sink.sendShared(last.seq, message.event, message.html)) {
      this.stop();
      return;
    }
    if (events.some((e) => TERMINAL_EVENTS.has(e.kind))) await this.finishIfTerminal();
  }

  private async finishIfTerminal(): Promise<void> {
    // Like replay queries, these go through the shared limit: a hundred replays ending together would otherwise
    // take every pooled connection at once.
    const container = await this.limited(() => this.deps.readContainer(this.containerId));
    if (!container) return this.stop();
    if (isSettled(container) && this.lastSent >= container.lastSeq) await this.finish(container);
  }

  private async finish(container: Container): Promise<void> {
    if (this.closed) return;
    // finalFragments runs its reads through the same limit itself (one slot per read, never one held around many).
    const html = await this.deps.finalFragments(container);
    if (this.sink.send(this.lastSent, 'done', html || 'done')) this.stop();
  }

  private stop(): void {
    if (this.closed) return;
    this.close();
    this.sink.end();
  }
}
