// A viewer as a browser's EventSource behaves: a real SSE reader (test/support/sse-client.ts) that reconnects after
// `retry:` with Last-Event-ID when the stream drops, and stops after `event: done`. It keeps counters only, not the
// events, so thousands of them fit in one client process.
import type http from 'node:http';
import { connectSse, type SseConnection, type SseEvent } from '../support/sse-client.ts';
import { inBatches, nowMs } from './stats.ts';

export interface ViewerOptions {
  cookie?: string;
  agent: http.Agent;
  /** Every event, with the monotonic time it was parsed. */
  onEvent?: (event: SseEvent, receivedAt: number) => void;
  maxReconnects?: number;
  /** The Accept-Encoding this viewer sends (else BENCH_ACCEPT_ENCODING's, else none). */
  acceptEncoding?: string;
  /** Keep the stream's bytes with their arrival times, parsed only by parseRecorded() (test/support/sse-client.ts). */
  record?: boolean;
}

export class SseViewer {
  lastId: string | undefined;
  events = 0;
  reconnects = 0;
  done = false;
  /** Set when the viewer gave up (refused, or out of reconnects). */
  failure: string | undefined;
  openedAt = 0;
  /** When the response headers arrived, monotonic ms. */
  headersAt = 0;
  private conn: SseConnection | undefined;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly options: ViewerOptions,
  ) {}

  async open(): Promise<void> {
    this.openedAt ||= nowMs();
    // BENCH_ACCEPT_ENCODING=gzip: viewers ask for a compressed stream, as browsers do.
    const encoding = this.options.acceptEncoding ?? process.env.BENCH_ACCEPT_ENCODING;
    const headers = encoding ? { 'Accept-Encoding': encoding } : undefined;
    const conn = await connectSse(this.url, { cookie: this.options.cookie, agent: this.options.agent, lastEventId: this.lastId, headers, record: this.options.record });
    if (conn.status !== 200) {
      conn.close();
      throw new Error(`${this.url} answered ${conn.status}`);
    }
    this.headersAt ||= nowMs();
    this.conn = conn;
    conn.onEvent = (event) => {
      const at = conn.receivedAt ?? nowMs();
      conn.events.length = 0;
      this.events++;
      if (event.id !== undefined) this.lastId = event.id;
      if (event.event === 'done') this.done = true;
      this.options.onEvent?.(event, at);
    };
    void conn.ended.then(() => {
      // What arrived before the drop, before reconnecting from it (a viewer closed by the bench is done with).
      if (!this.closed) conn.parseRecorded();
      this.dropped(conn);
    });
  }

  /** With `record`: parses what arrived so far (events keep the time their bytes arrived). */
  parseRecorded(): void {
    this.conn?.parseRecorded();
  }

  /** With `record`: chunks received and not parsed yet. */
  get unparsed(): number {
    return this.conn?.recordedChunks ?? 0;
  }

  close(): void {
    this.closed = true;
    this.conn?.close();
  }

  private dropped(conn: SseConnection): void {
    if (this.closed || this.done || conn !== this.conn) return;
    if (this.reconnects >= (this.options.maxReconnects ?? 20)) {
      this.failure = `gave up after ${this.reconnects} reconnects`;
      return;
    }
    this.reconnects++;
    setTimeout(() => {
      if (this.closed) return;
      this.open().catch((err: Error) => {
        this.failure = err.message;
      });
    }, conn.retry ?? 3000).unref();
  }
}

/** Opens `count` viewers, `concurrency` handshakes at a time; a viewer that cannot connect is returned with its failure. */
export async function openViewers(
  count: number,
  url: (i: number) => string,
  options: ViewerOptions & { onEventFor?: (i: number) => ViewerOptions['onEvent']; encodingFor?: (i: number) => string | undefined },
  concurrency = 100,
): Promise<SseViewer[]> {
  return inBatches(Array.from({ length: count }, (_, i) => i), concurrency, async (i) => {
    const viewer = new SseViewer(url(i), { ...options, onEvent: options.onEventFor?.(i) ?? options.onEvent, acceptEncoding: options.encodingFor?.(i) ?? options.acceptEncoding });
    await viewer.open().catch((err: Error) => (viewer.failure = err.message));
    return viewer;
  });
}

export function closeViewers(viewers: SseViewer[]): void {
  for (const v of viewers) v.close();
}

/** Log lines (each has its time, `data-t="…"`) in a progress fragment: how many lines one SSE message carried. */
export function countLines(html: string): number {
  let n = 0;
  for (let i = html.indexOf(' data-t="'); i !== -1; i = html.indexOf(' data-t="', i + 9)) n++;
  return n;
}
