// The bench's native reader (test/bench/sse-recorder.c via native-readers.ts; the latency scenario's and the replay
// storm's viewers) is an instrument: it must give the same events, in order, as the server sent them — plain and
// gzip'd — with their line counts, times that make sense (the kernel's receipt of a message's bytes never after this
// reader read them, both after the server wrote them), and know which streams the server ended.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecorder, nativeReader } from './bench/native-readers.ts';
import type { ViewerReport } from './bench/bench-viewers.ts';
import { nowMs } from './bench/stats.ts';

let server: http.Server;
let base: string;
/** When the server wrote each message, per path. */
const written = new Map<string, number[]>();
const requests: Array<{ cookie: string | undefined; encoding: string | undefined }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push({ cookie: req.headers.cookie, encoding: req.headers['accept-encoding'] });
    const gzip = req.headers['accept-encoding'] === 'gzip';
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) });
    const out = gzip ? zlib.createGzip() : undefined;
    out?.on('data', (chunk: Buffer) => res.write(chunk));
    const mine: number[] = [];
    written.set(req.url!, mine);
    let seq = 0;
    const timer = setInterval(() => {
      seq++;
      const message = `id: ${seq}\nevent: ${seq % 2 ? 'log' : 'progress'}\ndata: <li data-t="x">line ${seq} t=${nowMs()}</li>\n\n`;
      mine[seq] = nowMs();
      if (out) out.write(message, () => out.flush(zlib.constants.Z_SYNC_FLUSH));
      else res.write(message);
      if (seq === 5) {
        clearInterval(timer);
        // /ended/…: the server ends the stream after its last message, as a finished build's replay does.
        if (req.url!.startsWith('/ended')) {
          if (!out) res.end();
          else out.once('end', () => res.end()).end();
        }
      }
    }, 20);
    req.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('the native SSE reader', () => {
  it('records every message, plain and gzip, with the times each arrived', async (ctx) => {
    const recorder = await buildRecorder();
    if (!('binary' in recorder)) return ctx.skip(recorder.unavailable);
    const reader = nativeReader('test-reader', recorder.binary);
    try {
      const urls = [`${base}/a`, `${base}/b`];
      expect(await reader.call<number>('open', { urls, cookie: 'sid=secret', encodings: [null, 'gzip'] })).toBe(2);
      await new Promise((r) => setTimeout(r, 400));
      expect(await reader.call<boolean>('parse', { lastSeq: 5 })).toBe(true);
      const reports = await reader.call<ViewerReport[]>('report');
      expect(requests).toEqual([{ cookie: 'sid=secret', encoding: undefined }, { cookie: 'sid=secret', encoding: 'gzip' }]);
      for (const [i, r] of reports.entries()) {
        const at = written.get(new URL(urls[i]!).pathname)!;
        expect(r.failure).toBeUndefined();
        expect(r.ids).toEqual([1, 2, 3, 4, 5]);
        expect(r.lines).toBe(5);
        r.ids.forEach((seq, k) => {
          expect(r.socketTimes![k]).toBeGreaterThanOrEqual(at[seq]!);
          expect(r.socketTimes![k]).toBeLessThanOrEqual(r.times[k]! + 0.01);
          expect(r.times[k]! - at[seq]!).toBeLessThan(1_000);
        });
        expect(r.produceToReceive.every((ms) => ms >= -1 && ms < 1_000)).toBe(true);
        expect(r.eventLines).toEqual([1, 1, 1, 1, 1]);
      }
      expect(await reader.call<number>('ended')).toBe(0);
    } finally {
      await reader.stop();
    }
  });

  it('counts the streams the server has ended (the replay storm waits for all of them)', async (ctx) => {
    const recorder = await buildRecorder();
    if (!('binary' in recorder)) return ctx.skip(recorder.unavailable);
    const reader = nativeReader('test-reader', recorder.binary);
    try {
      const urls = [`${base}/ended/a`, `${base}/ended/b`, `${base}/open`];
      expect(await reader.call<number>('open', { urls, cookie: undefined, encodings: [null, 'gzip', null] })).toBe(3);
      await new Promise((r) => setTimeout(r, 400));
      expect(await reader.call<number>('ended')).toBe(2);
      await reader.call('parse', { lastSeq: 5 });
      const reports = await reader.call<ViewerReport[]>('report');
      expect(reports.map((r) => r.failure)).toEqual(['the stream ended (closed by the server)', 'the stream ended (closed by the server)', undefined]);
      expect(reports.map((r) => r.ids)).toEqual([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]);
    } finally {
      await reader.stop();
    }
  });
});
