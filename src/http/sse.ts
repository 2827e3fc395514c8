// Server-Sent Events framing for Express responses (reference/htmx-sse.md §0, §1.4): `retry:` first, `id:` on
// every message, every line of HTML on its own `data:` line, a heartbeat, no buffering anywhere.
// The heartbeat is an `event: heartbeat` rather than a `:` comment because EventSource never shows comments to the
// page, and the page's watchdog must hear it to tell a quiet build from a dead connection (issue 22). It repeats
// the id of the last message, so a client that takes its cursor from every event keeps the right one.
import zlib from 'node:zlib';
import type { Response } from 'express';
import { streamEncoding } from './compression.ts';

export interface SseWriter {
  /** Writes one event; false once more than the pending-bytes cap is queued for this client (it is then cut). */
  send(id: number, event: string, data: string): boolean;
  /**
   * Resolves once other requests have had a turn of the event loop and this client has taken what was written
   * (false if the stream closed, or the client took nothing for `stallMs` and was cut). A long replay awaits it
   * between batches, so it neither holds the process nor piles up more than one batch for a slow reader.
   */
  writable(): Promise<boolean>;
  /** The bytes of one event as send() writes them; sendEncoded writes such bytes (kept by a cache). */
  encode(id: number, event: string, data: string): Buffer;
  sendEncoded(id: number, frame: Buffer): boolean;
  end(): void;
  readonly closed: boolean;
}

// Every viewer of a container receives the same message (the feed renders it once per process): frame and encode it
// once too, and write the same bytes to each socket. Keyed by the HTML string itself — V8 caches a string's hash,
// so looking up the very same string object is cheap. A few recent, live-sized messages are enough (big replay
// batches go to one viewer each and are not kept).
const recentFrames = new Map<string, { id: number; event: string; frame: Buffer }>();
const RECENT_FRAMES = 16;
const CACHEABLE_CHARS = 128 * 1024;

/** One SSE message: CR, LF and CRLF all end an SSE line; log text had its CRs collapsed upstream, but never trust that here. */
function encodeEvent(id: number, event: string, data: string): Buffer {
  return Buffer.from(`id: ${id}\nevent: ${event}\ndata: ${data.replace(/\r\n|\r|\n/g, '\ndata: ')}\n\n`);
}

function frameFor(id: number, event: string, data: string): Buffer {
  const hit = recentFrames.get(data);
  if (hit && hit.id === id && hit.event === event) return hit.frame;
  const frame = encodeEvent(id, event, data);
  if (data.length <= CACHEABLE_CHARS) {
    recentFrames.set(data, { id, event, frame });
    if (recentFrames.size > RECENT_FRAMES) recentFrames.delete(recentFrames.keys().next().value!);
  }
  return frame;
}

/**
 * Writes queued this turn, per stream, and the streams that have some. Relay side of adaptive batching (issue 18):
 * a viewer gets one socket write — and its compressor one flush — per event-loop turn, however many messages the
 * turn produced. The flush runs in the same turn's check phase (setImmediate): nothing waits for a timer.
 */
const dirty = new Set<EventStream>();
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  for (const stream of dirty) {
    dirty.delete(stream);
    stream.flushQueued();
  }
}

/**
 * One heartbeat timer per interval for every stream in the process, not one per viewer: an idle viewer holds no
 * timer and no closure of its own.
 */
const heartbeats = new Map<number, { timer: NodeJS.Timeout; streams: Set<EventStream> }>();
function joinHeartbeat(stream: EventStream, everyMs: number): void {
  let group = heartbeats.get(everyMs);
  if (!group) {
    const streams = new Set<EventStream>();
    group = { timer: setInterval(() => { for (const s of streams) s.heartbeat(); }, everyMs).unref(), streams };
    heartbeats.set(everyMs, group);
  }
  group.streams.add(stream);
}
function leaveHeartbeat(stream: EventStream, everyMs: number): void {
  const group = heartbeats.get(everyMs);
  if (!group?.streams.delete(stream) || group.streams.size > 0) return;
  clearInterval(group.timer);
  heartbeats.delete(everyMs);
}

export function openEventStream(
  res: Response,
  options: { maxPendingBytes: number; heartbeatMs?: number; retryMs?: number; stallMs?: number; /** the client's cursor */ lastEventId?: number },
): SseWriter {
  const encoding = streamEncoding(res.req);
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
    Connection: 'keep-alive',
    Vary: 'Accept-Encoding',
  });
  if (encoding !== 'identity') res.set('Content-Encoding', encoding);
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  return new EventStream(res, encoding, options);
}

/**
 * One viewer's stream. A class rather than closures: an idle viewer is this object, its response, its socket and
 * (when compressed) its compressor — about what the connection itself costs.
 */
class EventStream implements SseWriter {
  closed = false;
  private lastId: number;
  /** Frames written this turn, sent together at the end of it (see flushDirty). */
  private queued: (string | Buffer)[] = [];
  private queuedBytes = 0;
  private readonly compressor: zlib.Gzip | zlib.BrotliCompress | undefined;
  private readonly heartbeatMs: number;

  constructor(
    private readonly res: Response,
    private readonly encoding: 'br' | 'gzip' | 'identity',
    private readonly options: { maxPendingBytes: number; heartbeatMs?: number; retryMs?: number; stallMs?: number; lastEventId?: number },
  ) {
    this.lastId = options.lastEventId ?? 0;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    if (encoding !== 'identity') {
      this.compressor = createStreamCompressor(encoding);
      this.compressor.pipe(res);
      // A compressor fails only when its stream is already gone; end the response rather than throw.
      this.compressor.on('error', () => res.destroy());
    }
    res.on('close', () => {
      this.release();
      this.compressor?.destroy();
    });
    joinHeartbeat(this, this.heartbeatMs);
    this.queue(`retry: ${options.retryMs ?? 3000}\n\n`);
  }

  send(id: number, event: string, data: string): boolean {
    return this.sendEncoded(id, frameFor(id, event, data));
  }

  encode(id: number, event: string, data: string): Buffer {
    return encodeEvent(id, event, data);
  }

  sendEncoded(id: number, frame: Buffer): boolean {
    if (this.closed) return false;
    this.lastId = id;
    this.queue(frame);
    if (this.pending() > this.options.maxPendingBytes) {
      // A client this far behind is cut; it reconnects with its cursor and resumes from Postgres.
      this.release();
      this.compressor?.destroy();
      this.res.destroy();
      return false;
    }
    return true;
  }

  heartbeat(): void {
    if (!this.closed) this.queue(`id: ${this.lastId}\nevent: heartbeat\ndata:\n\n`);
  }

  async writable(): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.closed) return false;
    const res = this.res;
    if (!res.writableNeedDrain) return true;
    const drained = await new Promise<boolean>((resolve) => {
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => settle(true);
      const onClose = () => settle(false);
      const timer = setTimeout(() => settle(false), this.options.stallMs ?? 30_000);
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
    if (!drained && !this.closed) {
      // Took nothing for stallMs: free the slot; the browser reconnects with its cursor when it can.
      this.release();
      res.destroy();
    }
    return drained && !this.closed;
  }

  end(): void {
    if (this.closed) return;
    this.flushQueued();
    this.release();
    (this.compressor ?? this.res).end();
  }

  /** Everything queued this turn leaves in one write; a compressed stream is flushed once after it. */
  flushQueued(): void {
    const chunks = this.queued;
    if (chunks.length === 0 || this.res.destroyed) return;
    this.queued = [];
    this.queuedBytes = 0;
    const out = this.compressor ?? this.res;
    out.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))));
    // A sync flush keeps the dictionary, so later messages still compress against earlier ones.
    this.compressor?.flush(this.encoding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH);
  }

  private queue(chunk: string | Buffer): void {
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    dirty.add(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushDirty);
    }
  }

  /** Bytes held for this client: queued this turn, in the compressor, and in the response. */
  private pending(): number {
    const c = this.compressor;
    return this.queuedBytes + this.res.writableLength + (c ? c.writableLength + c.readableLength : 0);
  }

  /** Stops everything shared that still knows this stream (idempotent). */
  private release(): void {
    this.closed = true;
    leaveHeartbeat(this, this.heartbeatMs);
    dirty.delete(this);
    this.queued = [];
    this.queuedBytes = 0;
  }
}

/**
 * One compressor per stream, kept small: a viewer holds it for as long as it watches. gzip with a 4 KB window and
 * memLevel 5 costs about 115 KB per stream (measured with 500 streams); the repeated markup of log lines sits well
 * within the window. brotli (only for a client that offers no gzip) at quality 5: the cheaper qualities lose their
 * context at every flush.
 */
function createStreamCompressor(encoding: 'br' | 'gzip'): zlib.BrotliCompress | zlib.Gzip {
  if (encoding === 'br') {
    return zlib.createBrotliCompress({
      chunkSize: 4096,
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_LGWIN]: 16, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT },
    });
  }
  return zlib.createGzip({ level: 6, windowBits: 12, memLevel: 5, chunkSize: 4096 });
}
