// A live stream is authorised once, when it opens, and may then stay open for hours (a built CT's usage stream never
// ends on its own). When an account loses what its streams were opened with — it is disabled or deleted, its role
// changes, its password changes (its sessions end), one of its API tokens is revoked, one of its browsers signs out
// — the change is announced on one Redis channel. Every web process hears it on one subscriber and closes the streams
// it holds for that account; the browser reconnects and is authorised afresh (or sent to sign in), a script sees its
// stream cut. What a held stream costs here is one entry in a map of user id → open streams and the close listener
// that removes it: no timer and no subscription of its own.
import { createHash } from 'node:crypto';
import type { Redis } from '../../lib/redis.ts';
import type { Logger } from '../../logger.ts';

/**
 * What changed for an account. `account`: disabled, deleted or given another role — every stream it holds closes.
 * `sessions`: its password changed or was reset, which ends its sessions — the streams its browsers opened close.
 * `token`: one API token revoked — that token's streams close. `session`: one browser session signed out — its
 * streams close (`session`: its sessionKey).
 */
export type AccessChange = { userId: number } & (
  | { what: 'account' | 'sessions' }
  | { what: 'token'; tokenId: number }
  | { what: 'session'; session: string }
);

/** Who opened a stream: the account, and the API token it came with (none: a browser session, named by its sessionKey). */
export interface StreamHolder {
  userId: number;
  tokenId: number | undefined;
  session?: string;
}

/** A browser session as streams and announcements name it: a digest of its id (a session id is never published). */
export const sessionKey = (sessionId: string): string => createHash('sha256').update(`launchpad-stream:${sessionId}`).digest('base64url').slice(0, 22);

/** Who holds a stream opened by this account with this API token, or else with this browser session. */
export const streamHolder = (userId: number, tokenId: number | undefined, sessionId: string): StreamHolder => ({
  userId,
  tokenId,
  session: tokenId === undefined ? sessionKey(sessionId) : undefined,
});

/** An open stream as far as closing it goes: its response (destroyed, the stream ends where it is). */
export interface Closable {
  destroy(): unknown;
}

/** The part the account pages use: say that an account's access changed (after the change is stored). */
export interface AccessAnnouncer {
  announce(change: AccessChange): Promise<void>;
}

export interface AccessChangesDeps {
  /** PUBLISH. */
  redis: Redis;
  /** Made on first listen(): a connection of its own for SUBSCRIBE (the worker never opens it). */
  subscriber: () => Redis;
  logger: Logger;
  /** Key prefix (the queue prefix), so installs and test files sharing one Redis stay apart. */
  prefix: string;
}

/**
 * How long a change is remembered after it was heard: a stream whose credentials were read just before a change
 * arrived, and that registers just after, is refused rather than kept (reading and registering take milliseconds).
 */
const REMEMBER_MS = 60_000;

/** What a stream was opened with: its API token's id, else its browser session's key. */
type Credential = number | string | undefined;
const credentialOf = (holder: StreamHolder): Credential => holder.tokenId ?? holder.session;

function closes(change: AccessChange, held: Credential): boolean {
  if (change.what === 'token') return held === change.tokenId;
  if (change.what === 'session') return held === change.session;
  return change.what === 'account' || typeof held !== 'number';
}

function isAccessChange(value: unknown): value is AccessChange {
  const v = value as Partial<{ userId: unknown; what: unknown; tokenId: unknown; session: unknown }> | null;
  if (typeof v !== 'object' || v === null || !Number.isInteger(v.userId)) return false;
  return v.what === 'account' || v.what === 'sessions' || (v.what === 'token' && Number.isInteger(v.tokenId)) || (v.what === 'session' && typeof v.session === 'string');
}

export class AccessChanges implements AccessAnnouncer {
  /** This process's open streams by account, each with what it was opened with (credentialOf). */
  private readonly open = new Map<number, Map<Closable, Credential>>();
  private recent: Array<{ seq: number; at: number; change: AccessChange }> = [];
  private heardSoFar = 0;
  private sub: Redis | undefined;

  constructor(private readonly deps: AccessChangesDeps) {}

  private get channel(): string {
    return `${this.deps.prefix}:access:changes`;
  }

  /** How many changes this process has heard: taken before a stream's credentials are read, and given to watch(). */
  get heard(): number {
    return this.heardSoFar;
  }

  /** Streams this process holds open for accounts (for tests). */
  get watching(): number {
    let n = 0;
    for (const streams of this.open.values()) n += streams.size;
    return n;
  }

  /**
   * Closes the account's affected streams here at once and tells every other web process. Never throws: the change
   * itself is stored already (new requests are refused); with Redis away, other processes' streams stay open until
   * they reconnect, which is logged.
   */
  async announce(change: AccessChange): Promise<void> {
    this.apply(change);
    await this.deps.redis.publish(this.channel, JSON.stringify(change)).catch((err: Error) =>
      this.deps.logger.error({ err: err.message, userId: change.userId, what: change.what }, 'could not tell the other web processes that an account lost access: its live views there stay open until they reconnect'),
    );
  }

  /** Starts hearing announcements: the web process does from the start, so no stream opens before it listens. */
  listen(): void {
    if (this.sub) return;
    const sub = (this.sub = this.deps.subscriber());
    sub.on('message', (_channel: string, payload: string) => this.hear(payload));
    // (Again after a reconnect: ioredis re-subscribes by itself, and once more does no harm.)
    sub.on('ready', () => void sub.subscribe(this.channel).catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'could not listen for access changes; retrying when Redis is back')));
    if (sub.status === 'wait') sub.connect().catch(() => undefined);
  }

  /**
   * Closes `stream` when its holder loses access. `checkedAfter`: `heard` as it was before the holder's credentials
   * were read. Returns the function that forgets the stream (call it when the stream closes), or undefined — nothing
   * registered — when a change about the holder was heard since then: the caller refuses the stream.
   */
  watch(stream: Closable, holder: StreamHolder, checkedAfter: number): (() => void) | undefined {
    const held = credentialOf(holder);
    for (const { seq, change } of this.recent) {
      if (seq > checkedAfter && change.userId === holder.userId && closes(change, held)) return undefined;
    }
    let streams = this.open.get(holder.userId);
    if (!streams) this.open.set(holder.userId, (streams = new Map()));
    streams.set(stream, held);
    return () => {
      const current = this.open.get(holder.userId);
      if (current?.delete(stream) && current.size === 0) this.open.delete(holder.userId);
    };
  }

  async close(): Promise<void> {
    this.open.clear();
    if (this.sub) await this.sub.quit().catch(() => this.sub?.disconnect());
  }

  private hear(payload: string): void {
    let change: unknown;
    try {
      change = JSON.parse(payload);
    } catch {
      change = undefined;
    }
    if (!isAccessChange(change)) return void this.deps.logger.warn('unreadable access change ignored');
    this.apply(change);
  }

  private apply(change: AccessChange): void {
    const now = performance.now();
    this.recent.push({ seq: ++this.heardSoFar, at: now, change });
    while (this.recent.length > 0 && now - this.recent[0]!.at > REMEMBER_MS) this.recent.shift();
    const streams = this.open.get(change.userId);
    if (!streams) return;
    for (const [stream, held] of streams) {
      if (!closes(change, held)) continue;
      streams.delete(stream);
      stream.destroy();
    }
    if (streams.size === 0) this.open.delete(change.userId);
  }
}
