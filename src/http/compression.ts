// Response compression, negotiated: brotli where the client offers it, else gzip, else none.
// - Pages, fragments, JSON and log.txt go through the `compression` middleware (brotli quality 4: fast enough per
//   request, close to gzip -9 in size).
// - Built assets are precompressed by the build (src/build/hash-assets.ts) and served as they are.
// - The SSE stream compresses itself (src/http/sse.ts): one compressor per stream, flushed after every message.
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import compression from 'compression';
import type { RequestHandler } from 'express';

export type Encoding = 'br' | 'gzip' | 'identity';

/** br if the client accepts it, else gzip, else identity (RFC 9110 §12.5.3: `q=0` refuses, `*` stands for the rest). */
export function preferredEncoding(req: IncomingMessage): Encoding {
  const header = req.headers['accept-encoding'];
  if (!header) return 'identity';
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    q.set(token, qParam ? Number(qParam.slice(2)) || 0 : 1);
  }
  const accepts = (name: string) => (q.get(name) ?? q.get('*') ?? 0) > 0;
  if (accepts('br')) return 'br';
  if (accepts('gzip')) return 'gzip';
  return 'identity';
}

export function compressResponses(): RequestHandler {
  return compression({
    // The event stream compresses (and flushes) itself; everything else compressible is compressed here.
    filter: (req, res) => !String(res.getHeader('Content-Type') ?? '').startsWith('text/event-stream') && compression.filter(req, res),
    brotli: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT } },
    level: 6,
    threshold: 1024,
  });
}
