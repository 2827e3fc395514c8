// Render once (issue 18): the stored past of a log never changes, so a replay batch — the `size` events after a
// given seq, shown against a given stepper — becomes the same SSE bytes for every viewer that replays it. The web
// process keeps those bytes, least recently used first out, within a byte budget; a replay that finds its batch
// here is a byte copy with no query and no rendering. Only full batches are kept: a short batch is the log's tail,
// which may still grow. Why in memory rather than stored at build end: docs/performance.md.
import type { ProgressSnapshot } from './phases.ts';

export interface CachedBatch {
  /** The framed SSE message, ready for the socket. */
  frame: Buffer;
  /** The last event's seq (the message's id). */
  lastSeq: number;
  logLines: number;
  /** The batch holds a complete / error / cancelled event. */
  terminal: boolean;
  /** The stepper the viewer shows after this batch, and the seq of the event it came from (0: none). */
  shownAfter: ProgressSnapshot | undefined;
  shownSeqAfter: number;
}

export class ReplayCache {
  private readonly entries = new Map<string, CachedBatch>();
  /** Batches being read and rendered right now: viewers that ask meanwhile wait for the same work. */
  private readonly loading = new Map<string, Promise<{ batch: CachedBatch; full: boolean } | undefined>>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  static key(containerId: string, afterSeq: number, size: number, shownSeq: number): string {
    return `${containerId}:${afterSeq}:${size}:${shownSeq}`;
  }

  get(key: string): CachedBatch | undefined {
    const hit = this.entries.get(key);
    if (!hit) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Most recently used goes last; eviction takes from the front.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit;
  }

  /**
   * The batch for `key`: from the cache, else from the load already under way for it, else from `load` (kept when
   * it was full). A hundred viewers opening the same finished log at once cause one query and one rendering per
   * batch, not a hundred.
   */
  async getOrLoad(key: string, load: () => Promise<{ batch: CachedBatch; full: boolean } | undefined>): Promise<{ batch: CachedBatch; full: boolean } | undefined> {
    const hit = this.get(key);
    if (hit) return { batch: hit, full: true };
    let pending = this.loading.get(key);
    if (!pending) {
      pending = load().then((loaded) => {
        if (loaded?.full) this.set(key, loaded.batch);
        return loaded;
      });
      this.loading.set(key, pending);
      void pending.finally(() => this.loading.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  set(key: string, batch: CachedBatch): void {
    const cost = batch.frame.length + 256;
    if (cost > this.maxBytes / 4 || this.entries.has(key)) return;
    this.entries.set(key, batch);
    this.bytes += cost;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= old.frame.length + 256;
    }
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }
}

/** The web process's cache: 64 MiB holds about 25 fully replayed 10,000-line logs. */
export const replayCache = new ReplayCache(64 * 2 ** 20);
