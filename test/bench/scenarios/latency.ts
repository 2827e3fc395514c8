// (b) Latency: 1,000 viewers of one container while the producer writes 100 lines/s for 10 s through the design's
// recorder. Publish → receive pairs the producer's PUBLISH time (by seq) with the time the bytes of the first message
// whose id reached that seq arrived at the viewer; produce → receive uses the time embedded in every line (`t=<ms>`),
// so it also counts any batching a design does (Launchpad's is adaptive: no timer, a line waits only for the write
// before it). Both clocks are CLOCK_MONOTONIC of the same machine. The viewers are read by two processes, which
// parse what arrived after the run: a small C program where the machine can build one (test/bench/native-readers.ts,
// which also gives the kernel's receive time of each message: when the server's write reached the viewer's socket),
// else Node (test/bench/bench-viewers.ts).
import type { BenchContext, Side } from '../context.ts';
import type { ProcessStats } from '../bench-rpc.ts';
import path from 'node:path';
import { startChild } from '../bench-child.ts';
import { buildRecorder, nativeReader, type ViewerReader } from '../native-readers.ts';
import type { ViewerReport } from '../bench-viewers.ts';
import { sleep, summarize, waitUntil } from '../stats.ts';

interface SteadyRun {
  produced: number;
  producedForMs: number;
  sent: Array<[number, number]>;
  drainCapped: boolean;
}

/** Processes that read the viewers' streams (test/bench/bench-viewers.ts): one thread cannot read 100,000 chunks a second. */
const READERS = 2;

/** `encodingFor` gives a viewer's Accept-Encoding; its figures are also kept per encoding (`byEncoding`). */
async function measure(ctx: BenchContext, readers: ViewerReader[], side: Side, viewers: number, rate: number, durationMs: number, encodingFor?: (i: number) => string | undefined) {
  await ctx.settle();
  const container = await ctx.newContainer();
  // Viewer i is read by reader i % READERS.
  const share = (r: number) => Array.from({ length: viewers }, (_, i) => i).filter((i) => i % readers.length === r);
  const opened = await Promise.all(
    readers.map((reader, r) =>
      reader.call<number>('open', { urls: share(r).map(() => side.streamUrl(container.id)), cookie: side.cookie, encodings: share(r).map((i) => encodingFor?.(i) ?? null) }, 120_000),
    ),
  );
  try {
    const connected = opened.reduce((n, c) => n + c, 0);
    await waitUntil(async () => (await side.viewers()) >= connected, 60_000, 200);
    await sleep(500);
    await Promise.all([side.server.call('resetLoop'), ctx.producer.call('resetLoop')]);
    const webBefore = await side.stats();

    const run = await ctx.producer.call<SteadyRun>('steadyLines', { containerId: container.id, design: side.design, rate, durationMs, drainCapMs: 20_000 }, durationMs + 60_000);
    const lastSeq = Math.max(0, ...run.sent.map(([seq]) => seq));
    // The readers parse once the streams have been quiet for half a second (parsing earlier would hold up the arrival
    // of the last messages); a viewer still short of the last seq then is given until 15 s after the run.
    let unparsed = -1;
    await waitUntil(async () => {
      const now = (await Promise.all(readers.map((r) => r.call<number>('unparsed')))).reduce((n, c) => n + c, 0);
      const quiet = now === unparsed;
      unparsed = now;
      if (!quiet) return false;
      unparsed = 0;
      return (await Promise.all(readers.map((r) => r.call<boolean>('parse', { lastSeq }, 60_000)))).every(Boolean);
    }, 15_000, 500);
    const reports = await Promise.all(readers.map((r) => r.call<ViewerReport[]>('report', undefined, 60_000)));
    const received: ViewerReport[] = new Array(viewers);
    reports.forEach((list, r) => share(r).forEach((i, k) => (received[i] = list[k]!)));
    const produceToReceive = received.flatMap((r) => r.produceToReceive);
    const produceToSocket = received.flatMap((r) => r.produceToSocket ?? []);
    const reconnects = (await Promise.all(readers.map((r) => r.call<number>('reconnects')))).reduce((n, c) => n + c, 0);
    const [web, producer] = await Promise.all([side.stats(), ctx.producer.call<ProcessStats>('stats')]);

    // For each viewer, walk its messages and the publishes in seq order together.
    const sent = [...run.sent].sort((a, b) => a[0] - b[0]);
    const publishToReceive: number[] = [];
    const publishToSocket: number[] = [];
    const byEncoding = new Map<string, number[]>();
    // Per message: the first and the last viewer to get it (the spread is the cost of writing to all of them).
    const firstViewer = new Array<number>(sent.length).fill(Infinity);
    const lastViewer = new Array<number>(sent.length).fill(-Infinity);
    let unmatched = 0;
    for (const [i, mine] of received.entries()) {
      if (mine.failure) continue;
      const encoding = encodingFor?.(i) ?? 'identity';
      if (!byEncoding.has(encoding)) byEncoding.set(encoding, []);
      const mineByEncoding = byEncoding.get(encoding)!;
      let j = 0;
      sent.forEach(([seq, at], k) => {
        while (j < mine.ids.length && mine.ids[j]! < seq) j++;
        if (j >= mine.ids.length) return void unmatched++;
        const latency = mine.times[j]! - at;
        publishToReceive.push(latency);
        if (mine.socketTimes?.[j]) publishToSocket.push(mine.socketTimes[j]! - at);
        mineByEncoding.push(latency);
        firstViewer[k] = Math.min(firstViewer[k]!, latency);
        lastViewer[k] = Math.max(lastViewer[k]!, latency);
      });
    }
    const reached = firstViewer.map((first, k) => [first, lastViewer[k]!]).filter(([first]) => Number.isFinite(first));
    const linesDelivered = received.reduce((n, r) => n + r.lines, 0);
    return {
      viewers: connected,
      produced: run.produced,
      producedForMs: run.producedForMs,
      publishes: sent.length,
      producerFellBehind: run.drainCapped,
      linesDelivered,
      webCpuMs: web.cpuMs - webBefore.cpuMs,
      webCpuPerLineUs: ((web.cpuMs - webBefore.cpuMs) * 1000) / Math.max(1, linesDelivered),
      publishToReceive: summarize(publishToReceive),
      /** Only with the native readers: publish → the kernel's receipt of the bytes in the viewer's socket. */
      publishToSocket: publishToSocket.length ? summarize(publishToSocket) : undefined,
      byEncoding: Object.fromEntries([...byEncoding].map(([encoding, times]) => [encoding, summarize(times)])),
      firstViewerPerMessage: summarize(reached.map(([first]) => first!)),
      spreadPerMessage: summarize(reached.map(([first, last]) => last! - first!)),
      produceToReceive: summarize(produceToReceive),
      produceToSocket: produceToSocket.length ? summarize(produceToSocket) : undefined,
      undelivered: connected * run.produced - linesDelivered,
      unmatchedPublishes: unmatched,
      reconnects,
      webLoop: web.loop,
      producerLoop: producer.loop,
    };
  } finally {
    await Promise.all(readers.map((r) => r.call('close')));
    await waitUntil(async () => (await side.viewers()) === 0, 30_000, 200);
  }
}

export async function latency(ctx: BenchContext, viewers = 1_000, rate = 100, durationMs = 10_000) {
  // BENCH_READERS=node keeps the Node readers even where the C one builds (to compare the two instruments).
  const recorder = process.env.BENCH_READERS === 'node' ? { unavailable: 'BENCH_READERS=node' } : await buildRecorder();
  const readers: ViewerReader[] =
    'binary' in recorder
      ? Array.from({ length: READERS }, (_, r) => nativeReader(`viewers-${r + 1}`, recorder.binary))
      : await Promise.all(Array.from({ length: READERS }, (_, r) => startChild(`viewers-${r + 1}`, path.resolve('test/bench/bench-viewers.ts'), { env: process.env })));
  ctx.log(`latency: viewers read by ${'binary' in recorder ? 'the native reader (test/bench/sse-recorder.c)' : `Node (${recorder.unavailable})`}`);
  ctx.details.latencyReaders = 'binary' in recorder ? 'native' : 'node';
  try {
    await measureBoth(ctx, readers, viewers, rate, durationMs);
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
  }
}

async function measureBoth(ctx: BenchContext, readers: ViewerReader[], viewers: number, rate: number, durationMs: number) {
  const lp = await measure(ctx, readers, ctx.sides.launchpad, viewers, rate, durationMs);
  const socket = (m: typeof lp) => (m.publishToSocket ? `; at the viewer's socket p50 ${m.publishToSocket.p50.toFixed(1)} ms, p99 ${m.publishToSocket.p99.toFixed(1)} ms` : '');
  ctx.log(`latency Launchpad: p50 ${lp.publishToReceive.p50.toFixed(1)} ms, p99 ${lp.publishToReceive.p99.toFixed(1)} ms${socket(lp)}`);
  const nv = await measure(ctx, readers, ctx.sides.naive, viewers, rate, durationMs);
  ctx.log(`latency naive: p50 ${nv.publishToReceive.p50.toFixed(1)} ms, p99 ${nv.publishToReceive.p99.toFixed(1)} ms${socket(nv)}`);
  // Issue 21: what compressing costs a live viewer. Every other viewer asks for gzip (as browsers do) in one run,
  // so both halves see the same machine at the same moments; the difference of their p99s is the compressor's.
  // A fifth of the viewers: at 1,000 the machine is full (see "Why the misses happen" in docs/performance.md) and
  // the two halves would only show its queue.
  const mixed = await measure(ctx, readers, ctx.sides.launchpad, Math.round(viewers / 5), rate, durationMs, (i) => (i % 2 ? 'gzip' : undefined));
  const gzipP99 = mixed.byEncoding.gzip?.p99 ?? NaN;
  const plainP99 = mixed.byEncoding.identity?.p99 ?? NaN;
  ctx.log(`latency Launchpad, ${mixed.viewers} viewers, half of them gzip: p99 ${gzipP99.toFixed(1)} ms gzip, ${plainP99.toFixed(1)} ms plain`);
  ctx.details.latency = { viewers, rate, durationMs, launchpad: lp, naive: nv, launchpadHalfGzip: mixed };
  const s = '(b) latency';
  ctx.rows.push(
    { scenario: s, metric: 'publish → receive p50', unit: 'ms', launchpad: lp.publishToReceive.p50, naive: nv.publishToReceive.p50, better: 'lower', target: { op: '<=', value: 10, label: '≤ 10 ms' } },
    { scenario: s, metric: 'publish → receive p99', unit: 'ms', launchpad: lp.publishToReceive.p99, naive: nv.publishToReceive.p99, better: 'lower', target: { op: '<=', value: 40, label: '≤ 40 ms' } },
    ...(lp.publishToSocket && nv.publishToSocket
      ? [
          { scenario: s, metric: 'publish → in the viewer’s socket p50', unit: 'ms', launchpad: lp.publishToSocket.p50, naive: nv.publishToSocket.p50, better: 'lower' as const },
          { scenario: s, metric: 'publish → in the viewer’s socket p99', unit: 'ms', launchpad: lp.publishToSocket.p99, naive: nv.publishToSocket.p99, better: 'lower' as const },
        ]
      : []),
    { scenario: s, metric: 'publish → receive max', unit: 'ms', launchpad: lp.publishToReceive.max, naive: nv.publishToReceive.max, better: 'lower' },
    { scenario: s, metric: 'publish → FIRST viewer, median message', unit: 'ms', launchpad: lp.firstViewerPerMessage.p50, naive: nv.firstViewerPerMessage.p50, better: 'lower' },
    { scenario: s, metric: 'first → last viewer of a message, median', unit: 'ms', launchpad: lp.spreadPerMessage.p50, naive: nv.spreadPerMessage.p50, better: 'lower' },
    { scenario: s, metric: 'line produced → receive p50 (incl. batching)', unit: 'ms', launchpad: lp.produceToReceive.p50, naive: nv.produceToReceive.p50, better: 'lower', target: { op: '<=', value: 20, label: '≤ 20 ms' } },
    { scenario: s, metric: 'line produced → receive p99 (incl. batching)', unit: 'ms', launchpad: lp.produceToReceive.p99, naive: nv.produceToReceive.p99, better: 'lower', target: { op: '<=', value: 60, label: '≤ 60 ms' } },
    ...(lp.produceToSocket && nv.produceToSocket
      ? [
          { scenario: s, metric: 'line produced → in the viewer’s socket p50', unit: 'ms', launchpad: lp.produceToSocket.p50, naive: nv.produceToSocket.p50, better: 'lower' as const },
          { scenario: s, metric: 'line produced → in the viewer’s socket p99', unit: 'ms', launchpad: lp.produceToSocket.p99, naive: nv.produceToSocket.p99, better: 'lower' as const },
        ]
      : []),
    { scenario: s, metric: 'lines not delivered within 15 s', unit: '', launchpad: lp.undelivered, naive: nv.undelivered, target: { op: '==', value: 0, label: '0' } },
    { scenario: s, metric: 'web CPU per line delivered to a viewer', unit: 'µs', launchpad: lp.webCpuPerLineUs, naive: nv.webCpuPerLineUs, better: 'lower' },
    { scenario: s, metric: 'web event-loop delay p99', unit: 'ms', launchpad: lp.webLoop.p99, naive: nv.webLoop.p99, better: 'lower' },
    { scenario: s, metric: `${Math.round(viewers / 5)} viewers, half gzip: their p99 − the plain half's`, unit: 'ms', launchpad: gzipP99 - plainP99, naive: undefined, launchpadOnly: true, target: { op: '<=', value: 5, label: '≤ 5 ms' } },
  );
}
