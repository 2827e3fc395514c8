/** Counts open event streams per process and per session, so one browser (or one process) cannot hoard them. */
export class StreamLimits {
  private total = 0;
  private readonly perSession = new Map<string, number>();

  constructor(private readonly max: { perProcess: number; perSession: number }) {}

  get open(): number {
    return this.total;
  }

  /** Returns a release function, or the reason the stream is refused. */
  acquire(sessionId: string): { release: () => void } | { refused: 'process' | 'session' } {
    if (this.total >= this.max.perProcess) return { refused: 'process' };
    const mine = this.perSession.get(sessionId) ?? 0;
    if (mine >= this.max.perSession) return { refused: 'session' };
    this.total++;
    this.perSession.set(sessionId, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perSession.get(sessionId) ?? 1) - 1;
        if (left > 0) this.perSession.set(sessionId, left);
        else this.perSession.delete(sessionId);
      },
    };
  }
}
