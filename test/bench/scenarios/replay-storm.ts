// (e) Many viewers replaying at once: 100 new viewers of the same 10,000-line log, all connected together. The
// database pool (10 connections per process) must not run dry: every viewer gets every line, and /healthz — which
// needs a pooled connection too — keeps answering, probed every 100 ms throughout (from a process of its own). The
// viewers are read by the native reader where it builds, else by Node in the bench's process (see nativeViewers).
import { spawn } from 'node:child_process';
import type { BenchContext, Side } from '../context.ts';
import type { PoolPeak } from '../pool-watch.ts';
import type { ViewerReport } from '../bench-viewers.ts';
import { buildRecorder, nativeReader } from '../native-readers.ts';
import { SseViewer, countLines } from '../sse-viewer.ts';
import { inBatches, nowMs, sleep, summarize } from '../stats.ts';

/**
 * Asks /healthz every 100 ms until stopped, from a process of its own: the bench's own process may be busy parsing a
 * million lines for the 100 viewers (the Node readers), and a probe sharing its event loop would time the bench's lag,
 * not the server's.
 */
const PROBE = `
const url = process.argv[1];
const latencies = [];
let failures = 0;
let stopping = false;
process.stdin.on('end', () => { stopping = true; });
process.stdin.resume();
(async () => {
  // A process's first fetch loads its HTTP client and opens the connection: not the server's time.
  await fetch(url).then((res) => res.arrayBuffer()).catch(() => undefined);
  process.stdout.write('ready\\n');
  while (!stopping) {
    const start = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.status !== 200) failures++;
    } catch {
      failures++;
    }
    latencies.push(performance.now() - start);
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(JSON.stringify({ latencies, failures }) + '\\n');
})();
`;

async function probeHealth(url: string): Promise<{ stop(): Promise<{ latencies: number[]; failures: number }> }> {
  const child = spawn(process.execPath, ['-e', PROBE, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.startsWith('ready\n')) ready();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([isReady, exited]);
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return JSON.parse(out.replace(/^ready\n/, '')) as { latencies: number[]; failures: number };
    },
  };
}

interface StormViewer {
  seen: number;
  /** From the start of the storm to the arrival of the bytes that completed the last line; NaN when they never did. */
  ms: number;
  failure: string | undefined;
  reconnects: number;
}

/**
 * The viewers read by the native reader (test/bench/sse-recorder.c), as the latency scenario's are: it only records
 * bytes and their arrival times, and they are parsed after the storm. Read by Node in the bench's own process, the
 * 100 viewers' million lines were parsed as they arrived on a machine of 2 cores shared with the server: the slowest
 * viewer's time was mostly that queue (the web process used 0.47 s of CPU for the whole storm).
 */
async function nativeViewers(binary: string, url: string, cookie: string | undefined, viewers: number, lines: number, start: number, deadline: number): Promise<StormViewer[]> {
  const reader = nativeReader('storm-viewers', binary);
  try {
    await reader.call('open', { urls: Array.from({ length: viewers }, () => url), cookie, encodings: Array.from({ length: viewers }, () => null) });
    // A replay of a finished build ends its stream; one that keeps it open is done once nothing more arrives for 3 s.
    let reads = -1;
    let quietSince = nowMs();
    while (nowMs() < deadline && (await reader.call<number>('ended')) < viewers) {
      await sleep(100);
      const now = await reader.call<number>('unparsed');
      if (now !== reads) [reads, quietSince] = [now, nowMs()];
      else if (nowMs() - quietSince > 3000) break;
    }
    await reader.call('parse', { lastSeq: 0 });
    const reports = await reader.call<ViewerReport[]>('report');
    return reports.map((r) => {
      let seen = 0;
      let doneAt = 0;
      r.eventLines!.forEach((n, k) => {
        seen += n;
        if (seen >= lines) doneAt ||= r.times[k]!;
      });
      // The server ending a finished build's stream after its last message is how a replay ends, not a failure.
      const failure = r.failure === 'the stream ended (closed by the server)' ? undefined : r.failure;
      return { seen, ms: doneAt ? doneAt - start : NaN, failure, reconnects: 0 };
    });
  } finally {
    await reader.stop();
  }
}

async function nodeViewers(ctx: BenchContext, url: string, cookie: string | undefined, viewers: number, lines: number, start: number, deadline: number): Promise<StormViewer[]> {
  return inBatches(Array.from({ length: viewers }, (_, i) => i), viewers, async () => {
    let seen = 0;
    let doneAt = 0;
    const viewer = new SseViewer(url, {
      cookie,
      agent: ctx.agent,
      onEvent: (e, at) => {
        if (e.event !== 'log' && e.event !== 'progress') return;
        seen += countLines(e.data);
        if (seen >= lines) doneAt ||= at;
      },
    });
    try {
      await viewer.open();
      while (!doneAt && !viewer.failure && nowMs() < deadline) await sleep(20);
    } catch (err) {
      viewer.failure = (err as Error).message;
    } finally {
      viewer.close();
    }
    return { seen, ms: doneAt ? doneAt - start : NaN, failure: viewer.failure, reconnects: viewer.reconnects };
  });
}

async function measure(ctx: BenchContext, side: Side, containerId: string, viewers: number, lines: number, capMs: number, binary: string | undefined) {
  await ctx.settle();
  await side.server.call('resetLoop');
  const before = await side.stats();
  await side.server.call('poolWatchStart');
  const health = await probeHealth(side.healthUrl);
  const start = nowMs();
  const deadline = start + capMs;
  const url = side.streamUrl(containerId);
  const results = binary
    ? await nativeViewers(binary, url, side.cookie, viewers, lines, start, deadline)
    : await nodeViewers(ctx, url, side.cookie, viewers, lines, start, deadline);
  const probes = await health.stop();
  const pool = await side.server.call<PoolPeak>('poolWatchStop');
  const after = await side.stats();
  const completed = results.filter((r) => !Number.isNaN(r.ms));
  return {
    viewers,
    webCpuSeconds: (after.cpuMs - before.cpuMs) / 1000,
    webLoop: after.loop,
    webRssAfterMiB: after.memory.rss / 2 ** 20,
    completed: completed.length,
    linesDelivered: results.reduce((n, r) => n + r.seen, 0),
    perViewer: summarize(completed.map((r) => r.ms)),
    failures: results.filter((r) => r.failure).map((r) => r.failure),
    reconnects: results.reduce((n, r) => n + r.reconnects, 0),
    health: { ...summarize(probes.latencies), failures: probes.failures },
    pool,
  };
}

export async function replayStorm(ctx: BenchContext, containerId: string, viewers = 100, lines = 10_000, capMs = 60_000) {
  // BENCH_READERS=node keeps the Node readers even where the C one builds (to compare the two instruments).
  const recorder = process.env.BENCH_READERS === 'node' ? { unavailable: 'BENCH_READERS=node' } : await buildRecorder();
  const binary = 'binary' in recorder ? recorder.binary : undefined;
  ctx.log(`replay storm: viewers read by ${binary ? 'the native reader (test/bench/sse-recorder.c)' : `Node (${'unavailable' in recorder ? recorder.unavailable : ''})`}`);
  ctx.details.replayStormReaders = binary ? 'native' : 'node';
  const lp = await measure(ctx, ctx.sides.launchpad, containerId, viewers, lines, capMs, binary);
  ctx.log(`replay storm Launchpad: ${lp.completed}/${viewers} complete, slowest ${lp.perViewer.max.toFixed(0)} ms, pool peak ${lp.pool.maxUsed}/${lp.pool.size}`);
  const nv = await measure(ctx, ctx.sides.naive, containerId, viewers, lines, capMs, binary);
  ctx.log(`replay storm naive: ${nv.completed}/${viewers} complete, slowest ${nv.perViewer.max.toFixed(0)} ms, pool peak ${nv.pool.maxUsed}/${nv.pool.size}`);
  ctx.details.replayStorm = { viewers, lines, capMs, launchpad: lp, naive: nv };
  const s = '(e) replay ×100';
  ctx.rows.push(
    { scenario: s, metric: `viewers with all ${lines.toLocaleString('en')} lines`, unit: '', launchpad: lp.completed, naive: nv.completed, better: 'higher', target: { op: '>=', value: viewers, label: `${viewers} of ${viewers}` } },
    { scenario: s, metric: 'slowest viewer, all lines', unit: 'ms', launchpad: lp.perViewer.max, naive: nv.perViewer.max, better: 'lower', target: { op: '<=', value: 1500, label: '≤ 1500 ms' } },
    { scenario: s, metric: 'median viewer, all lines', unit: 'ms', launchpad: lp.perViewer.p50, naive: nv.perViewer.p50, better: 'lower' },
    { scenario: s, metric: 'web CPU for the whole storm', unit: 's', launchpad: lp.webCpuSeconds, naive: nv.webCpuSeconds, better: 'lower' },
    { scenario: s, metric: '/healthz failures during the storm', unit: '', launchpad: lp.health.failures, naive: nv.health.failures, target: { op: '==', value: 0, label: '0' } },
    { scenario: s, metric: '/healthz slowest answer', unit: 'ms', launchpad: lp.health.max, naive: nv.health.max, better: 'lower', target: { op: '<=', value: 50, label: '≤ 50 ms' } },
    { scenario: s, metric: '/healthz median answer', unit: 'ms', launchpad: lp.health.p50, naive: nv.health.p50, better: 'lower' },
    { scenario: s, metric: 'web event-loop delay p99', unit: 'ms', launchpad: lp.webLoop.p99, naive: nv.webLoop.p99, better: 'lower' },
    { scenario: s, metric: 'DB pool peak in use (pool size 10)', unit: '', launchpad: lp.pool.maxUsed, naive: nv.pool.maxUsed },
    // "Without exhausting the pool": nothing ever waits for a connection while all of them are taken, so other
    // requests are not queued behind replays. Waiting while the pool opens another connection (a web process
    // started for the bench holds 2 until the storm asks for more) is shown apart: a few ms, once per process.
    { scenario: s, metric: 'DB pool peak waiting acquires, every connection in use', unit: '', launchpad: lp.pool.maxPendingAcquires, naive: nv.pool.maxPendingAcquires, better: 'lower', target: { op: '==', value: 0, label: '0 (never dry)' } },
    { scenario: s, metric: 'DB pool peak waiting acquires, for a connection being opened', unit: '', launchpad: lp.pool.maxPendingForNewConnection, naive: nv.pool.maxPendingForNewConnection },
  );
}
