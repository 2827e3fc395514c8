/** Why a stream is refused: the process is full, or this browser session (or API token), or this account, holds its share. */
export type StreamRefusal = 'process' | 'session' | 'user';

/**
 * Counts open event streams per process, per account and per session (an API token counts as a session of its own),
 * so one browser, one account — however many sessions and tokens it has — or one process cannot hoard them.
 */
export class StreamLimits {
  private total = 0;
  private readonly perSession = new Map<string, number>();
  private readonly perUser = new Map<number, number>();

  constructor(private readonly max: { perProcess: number; perSession: number; perUser: number }) {}

  get open(): number {
    return this.total;
  }

  /** Returns a release function, or the reason the stream is refused. */
  acquire(holder: { userId: number; sessionId: string }): { release: () => void } | { refused: StreamRefusal } {
    if (this.total >= this.max.perProcess) return { refused: 'process' };
    const { userId, sessionId } = holder;
    const session = this.perSession.get(sessionId) ?? 0;
    if (session >= this.max.perSession) return { refused: 'session' };
    const user = this.perUser.get(userId) ?? 0;
    if (user >= this.max.perUser) return { refused: 'user' };
    this.total++;
    this.perSession.set(sessionId, session + 1);
    this.perUser.set(userId, user + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        countDown(this.perSession, sessionId);
        countDown(this.perUser, userId);
      },
    };
  }
}

function countDown<K>(counts: Map<K, number>, key: K): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
