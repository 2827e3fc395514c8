// The web process's single Redis subscriber for progress messages. Viewers register per container (ref-counted
// channel subscriptions); a message is parsed once and handed to every viewer of that container.
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { Redis } from '../../lib/redis.ts';
import type { Logger } from '../../logger.ts';
import { progressChannel, type ProgressMessage } from './progress-channel.ts';

export interface RelayListener {
  /** A committed batch of events arrived. */
  onMessage(message: ProgressMessage): void;
  /**
   * Messages may have been missed (the subscriber reconnected, or the periodic check found the container ahead of
   * what this viewer was sent): read from Postgres.
   */
  onResync(lastSeq?: number): void;
  /** The highest seq this listener has delivered, for the periodic check. */
  readonly lastSent: number;
}

export class EventRelay {
  private readonly listeners = new Map<string, Set<RelayListener>>();
  private everReady = false;
  private checkTimer: NodeJS.Timeout | undefined;
  /** What the database had at the previous check, per watched container. */
  private seenAtLastCheck = new Map<string, number>();
  /** Messages that arrived this event-loop turn, per container, handed on together at the end of it. */
  private arrived = new Map<string, ProgressMessage[]>();
  private handOnScheduled = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly deps: { containers: ContainersRepository; logger: Logger },
    /** How often to compare each watched container's last_seq with what its viewers have: catches lost publishes. */
    private readonly checkEveryMs = 5_000,
  ) {
    subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.dispatch(channel.toString(), payload));
    subscriber.on('ready', () => {
      // ioredis re-subscribes on reconnect; anything published meanwhile is lost, so everyone back-fills.
      if (this.everReady) {
        deps.logger.info('progress subscriber reconnected; viewers back-fill from Postgres');
        for (const set of this.listeners.values()) for (const l of set) l.onResync();
      }
      this.everReady = true;
    });
  }

  get viewerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** Resolves once the subscription is active, so nothing published after this is missed. */
  async subscribe(containerId: string, listener: RelayListener): Promise<() => void> {
    let set = this.listeners.get(containerId);
    if (!set) {
      set = new Set();
      this.listeners.set(containerId, set);
    }
    set.add(listener);
    if (set.size === 1) await this.subscriber.subscribe(progressChannel(containerId));
    this.checkTimer ??= setInterval(() => void this.checkForLostMessages(), this.checkEveryMs).unref();
    return () => {
      const current = this.listeners.get(containerId);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(containerId);
      void this.subscriber.unsubscribe(progressChannel(containerId)).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.listeners.clear();
    if (this.subscriber.status === 'wait') this.subscriber.disconnect();
    else await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }

  private dispatch(channel: string, payload: Buffer): void {
    const id = channel.slice('container:'.length, -':events'.length);
    const set = this.listeners.get(id);
    if (!set || set.size === 0) return;
    let message: ProgressMessage;
    try {
      message = JSON.parse(payload.toString('utf8')) as ProgressMessage;
    } catch {
      this.deps.logger.warn({ channel }, 'unreadable progress message ignored');
      return;
    }
    const list = this.arrived.get(id);
    if (list) list.push(message);
    else this.arrived.set(id, [message]);
    if (!this.handOnScheduled) {
      this.handOnScheduled = true;
      setImmediate(() => this.handOn());
    }
  }

  /**
   * Adaptive batching on the relay side (issue 18): the messages of one container that arrived in the same
   * event-loop turn reach its viewers as one message — rendered, framed and written once. A quiet stream's message
   * goes on in the turn it arrived; a process that falls behind catches up in larger steps instead of falling
   * further behind. Only contiguous messages are joined, so a viewer still sees every gap (and back-fills it).
   */
  private handOn(): void {
    this.handOnScheduled = false;
    const arrived = this.arrived;
    this.arrived = new Map();
    for (const [id, messages] of arrived) {
      const set = this.listeners.get(id);
      if (!set) continue;
      for (const message of joinContiguous(messages)) for (const listener of set) listener.onMessage(message);
    }
  }

  /** One query per interval for all watched containers, not one per viewer. */
  private async checkForLostMessages(): Promise<void> {
    if (this.listeners.size === 0) return;
    try {
      const seqs = await this.deps.containers.lastSeqs([...this.listeners.keys()]);
      const previous = this.seenAtLastCheck;
      this.seenAtLastCheck = new Map();
      for (const [id, set] of this.listeners) {
        const latest = seqs.get(id)?.lastSeq;
        if (latest === undefined) continue;
        this.seenAtLastCheck.set(id, latest);
        // A viewer still short of what the database held one interval ago has missed a message; one merely
        // behind the newest commit is probably receiving it right now.
        const due = previous.get(id);
        if (due === undefined) continue;
        for (const l of set) if (l.lastSent < due) l.onResync(due);
      }
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'periodic progress check failed');
    }
  }
}

/** Runs of messages whose seqs follow on, each joined into one message. */
function joinContiguous(messages: ProgressMessage[]): ProgressMessage[] {
  if (messages.length === 1) return messages;
  const joined: ProgressMessage[] = [];
  let run: ProgressMessage | undefined;
  for (const m of messages) {
    if (run && m.fromSeq === run.toSeq + 1) {
      run.toSeq = m.toSeq;
      run.events.push(...m.events);
    } else {
      run = { ...m, events: [...m.events] };
      joined.push(run);
    }
  }
  return joined;
}
