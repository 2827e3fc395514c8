// What a page's long-lived stream holds — its relay subscription, its usage watch — let go exactly once: when the
// viewer leaves, or when the stream ends itself, with its last message or because the database is gone. The usage
// stream and the watch stream (usage-stream.ts, watch-stream.ts) both live this way.
import type { ServerResponse } from 'node:http';
import type { SseWriter } from './sse.ts';

export class StreamLife {
  stopped = false;
  private readonly releases: Array<() => void> = [];

  constructor(
    res: ServerResponse,
    private readonly sse: SseWriter,
  ) {
    res.on('close', () => this.stop());
  }

  /** Keeps `release` until the stream stops — or runs it now, when the stream stopped while it was being set up. */
  hold(release: () => void): void {
    if (this.stopped) release();
    else this.releases.push(release);
  }

  stop(): void {
    this.stopped = true;
    for (const release of this.releases.splice(0)) release();
  }

  /** Ends the stream with its last message, `done`: the page's state and the stream that follows it. */
  finish(html: string): void {
    this.stop();
    this.sse.send(0, 'done', html);
    this.sse.end();
  }

  /** Runs `work`; if it fails (the database unreachable), the stream ends: the browser reconnects and is answered afresh. */
  orEnd(work: Promise<unknown>): void {
    void work.catch(() => {
      this.stop();
      this.sse.end();
    });
  }
}
