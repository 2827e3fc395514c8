// Response compression, negotiated: brotli where the client offers it, else gzip, else none.
// - Pages, fragments, JSON and log.txt go through the `compression` middleware (brotli quality 5: about 1.6 ms for a
//   100 KB page, 10 % smaller than gzip -9; quality 6 and up cost 4–100× the time for under 1 % more).
// - Built assets are precompressed by the build (src/build/hash-assets.ts) and served as they are.
// - The SSE stream compresses itself (src/http/sse.ts), preferring gzip (see streamEncoding): a container's live
//   messages in one context shared by its viewers, anything else deflated once for all its viewers; brotli (only for
//   a client without gzip) with one compressor per stream.
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import compression from 'compression';
import type { RequestHandler } from 'express';

export type Encoding = 'br' | 'gzip' | 'identity';

/** Whether the client's Accept-Encoding takes `name` (RFC 9110 §12.5.3: `q=0` refuses, `*` stands for the rest). */
function accepts(req: IncomingMessage, name: string): boolean {
  const header = req.headers['accept-encoding'];
  if (!header) return false;
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    q.set(token, qParam ? Number(qParam.slice(2)) || 0 : 1);
  }
  return (q.get(name) ?? q.get('*') ?? 0) > 0;
}

/** br if the client accepts it, else gzip, else identity. */
export function preferredEncoding(req: IncomingMessage): Encoding {
  return accepts(req, 'br') ? 'br' : accepts(req, 'gzip') ? 'gzip' : 'identity';
}

/**
 * The event stream's encoding: gzip first, even when br is offered. Flushed after every message, brotli's cheap
 * qualities (0–1) lose their context at each flush and send 2–3× what gzip sends; from quality 2 up a brotli
 * compressor holds about 290 KB per viewer for as long as it watches, while gzip shares one compression per message
 * — and one context per container — among all viewers and holds nothing per viewer (src/http/sse.ts, gzip-chain.ts).
 * Measured in docs/performance.md. br only for a client that offers no gzip.
 */
export function streamEncoding(req: IncomingMessage): Encoding {
  return accepts(req, 'gzip') ? 'gzip' : accepts(req, 'br') ? 'br' : 'identity';
}

export function compressResponses(): RequestHandler {
  const compress = compression({
    // The event stream compresses (and flushes) itself; everything else compressible is compressed here.
    filter: (req, res) => !String(res.getHeader('Content-Type') ?? '').startsWith('text/event-stream') && compression.filter(req, res),
    brotli: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT } },
    level: 6,
    threshold: 1024,
  });
  // A request for an event stream skips the middleware altogether: the stream compresses itself, and each of the
  // thousands of streams a process may hold is spared the wrappers the middleware puts on every response.
  return (req, res, next) => (req.headers.accept === 'text/event-stream' ? next() : compress(req, res, next));
}
