// Server-Sent Events framing for Express responses (reference/htmx-sse.md §0, §1.4): `retry:` first, `id:` on
// every message, every line of HTML on its own `data:` line, a heartbeat, no buffering anywhere.
// The heartbeat is an `event: heartbeat` rather than a `:` comment because EventSource never shows comments to the
// page, and the page's watchdog must hear it to tell a quiet build from a dead connection (issue 22). It repeats
// the id of the last message, so a client that takes its cursor from every event keeps the right one.
import type { Writable } from 'node:stream';
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

function frameFor(id: number, event: string, data: string): Buffer {
  const hit = recentFrames.get(data);
  if (hit && hit.id === id && hit.event === event) return hit.frame;
  // CR, LF and CRLF all end an SSE line; log text had its CRs collapsed upstream, but never trust that here.
  const lines = data.split(/\r\n|\r|\n/);
  const frame = Buffer.from(`id: ${id}\nevent: ${event}\n${lines.map((l) => `data: ${l}`).join('\n')}\n\n`);
  if (data.length <= CACHEABLE_CHARS) {
    recentFrames.set(data, { id, event, frame });
    if (recentFrames.size > RECENT_FRAMES) recentFrames.delete(recentFrames.keys().next().value!);
  }
  return frame;
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
  const compressor = encoding === 'identity' ? undefined : createStreamCompressor(encoding);
  compressor?.pipe(res);
  // A compressor fails only when its stream is already gone; end the response rather than throw.
  compressor?.on('error', () => res.destroy());
  const out: Writable = compressor ?? res;
  // Every message leaves at once: the compressor is flushed after each write (a sync flush, which keeps the
  // dictionary, so later messages still compress against earlier ones).
  const write = (chunk: string | Buffer) => {
    out.write(chunk);
    compressor?.flush(encoding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH);
  };
  // Bytes queued for this client: in the compressor (not yet compressed, or compressed but not yet on the socket)
  // and in the response.
  const pending = () => res.writableLength + (compressor ? compressor.writableLength + compressor.readableLength : 0);
  write(`retry: ${options.retryMs ?? 3000}\n\n`);

  let closed = false;
  let lastId = options.lastEventId ?? 0;
  const heartbeat = setInterval(() => write(`id: ${lastId}\nevent: heartbeat\ndata:\n\n`), options.heartbeatMs ?? 15_000);
  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    out.end();
  };
  res.on('close', () => {
    closed = true;
    clearInterval(heartbeat);
    compressor?.destroy();
  });

  return {
    get closed() {
      return closed;
    },
    send(id, event, data) {
      if (closed) return false;
      lastId = id;
      write(frameFor(id, event, data));
      if (pending() > options.maxPendingBytes) {
        // A client this far behind is cut; it reconnects with its cursor and resumes from Postgres.
        closed = true;
        clearInterval(heartbeat);
        compressor?.destroy();
        res.destroy();
        return false;
      }
      return true;
    },
    async writable() {
      await new Promise((resolve) => setImmediate(resolve));
      if (closed) return false;
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
        const timer = setTimeout(() => settle(false), options.stallMs ?? 30_000);
        res.on('drain', onDrain);
        res.on('close', onClose);
      });
      if (!drained && !closed) {
        // Took nothing for stallMs: free the slot; the browser reconnects with its cursor when it can.
        closed = true;
        clearInterval(heartbeat);
        res.destroy();
      }
      return drained && !closed;
    },
    end,
  };
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
