// (c) Replay: a new viewer of a finished container with a 10,000-line log, from cursor 0. "First byte" is the
// first log line parsed (stricter than the first byte of the body, which is the `retry:` line both designs write
// at once); "all lines" is the 10,000th. One warm-up connection, then the worst of five is held to the target.
import { recorderFor } from '../../support/fixtures.ts';
import type { BenchContext, Side } from '../context.ts';
import { SseViewer, countLines } from '../sse-viewer.ts';
import { nowMs, summarize } from '../stats.ts';

/** A finished build whose log has `lines` realistic lines (some coloured, some stderr). */
export async function seedLog(ctx: BenchContext, lines: number): Promise<string> {
  const container = await ctx.newContainer();
  const recorder = recorderFor(ctx.env.deps, container.id, { maxBatch: 5_000 });
  await recorder.enterPhase('syncing', 'Running 10-install.sh…');
  for (let i = 1; i <= lines; i++) {
    if (i % 10 === 0) recorder.log('stdout', `\x1b[32mSetting up\x1b[0m libexample${i % 97}:amd64 (2.${i % 13}.${i % 7}-1) ...`);
    else if (i % 37 === 0) recorder.log('stderr', `warning: package libexample${i % 97} has no checksum for file /usr/share/doc/${i}`);
    else recorder.log('stdout', `Unpacking libexample${i % 97}:amd64 (2.${i % 13}.${i % 7}-1) over (2.${i % 13}.0-1) ... [${i}/${lines}]`);
  }
  await recorder.complete({ status: 'Ready.' });
  await recorder.close();
  return container.id;
}

/** One viewer from cursor 0 until it has `lines` log lines; times in ms from the request. */
export async function replayOnce(ctx: BenchContext, side: Side, containerId: string, lines: number, timeoutMs = 30_000) {
  let seen = 0;
  let first = 0;
  let all = 0;
  let finished!: () => void;
  const complete = new Promise<void>((resolve) => (finished = resolve));
  const viewer = new SseViewer(side.streamUrl(containerId), {
    cookie: side.cookie,
    agent: ctx.agent,
    onEvent: (e, at) => {
      if (e.event !== 'log' && e.event !== 'progress') return;
      seen += countLines(e.data);
      if (seen > 0) first ||= at;
      if (seen >= lines && !all) {
        all = at;
        finished();
      }
    },
  });
  const start = nowMs();
  try {
    await viewer.open();
    const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([complete, timer]);
  } finally {
    viewer.close();
  }
  return { headersMs: viewer.headersAt - start, firstLineMs: first ? first - start : NaN, allLinesMs: all ? all - start : NaN, lines: seen, reconnects: viewer.reconnects };
}

async function measure(ctx: BenchContext, side: Side, containerId: string, lines: number, runs: number) {
  await ctx.settle();
  await replayOnce(ctx, side, containerId, lines);
  const before = await side.stats();
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await replayOnce(ctx, side, containerId, lines));
  const after = await side.stats();
  return {
    runs: results,
    webCpuPerReplayMs: (after.cpuMs - before.cpuMs) / runs,
    firstLine: summarize(results.map((r) => r.firstLineMs)),
    allLines: summarize(results.map((r) => r.allLinesMs)),
    headers: summarize(results.map((r) => r.headersMs)),
    complete: results.every((r) => r.lines >= lines),
  };
}

export async function replay(ctx: BenchContext, containerId: string, lines = 10_000, runs = 5) {
  const lp = await measure(ctx, ctx.sides.launchpad, containerId, lines, runs);
  ctx.log(`replay Launchpad: first line ${lp.firstLine.max.toFixed(1)} ms, all ${lp.allLines.max.toFixed(1)} ms (worst of ${runs})`);
  const nv = await measure(ctx, ctx.sides.naive, containerId, lines, runs);
  ctx.log(`replay naive: first line ${nv.firstLine.max.toFixed(1)} ms, all ${nv.allLines.max.toFixed(1)} ms (worst of ${runs})`);
  ctx.details.replay = { lines, runs, launchpad: lp, naive: nv };
  const s = '(c) replay';
  const n = lines.toLocaleString('en');
  ctx.rows.push(
    { scenario: s, metric: `first log line, worst of ${runs}`, unit: 'ms', launchpad: lp.firstLine.max, naive: nv.firstLine.max, better: 'lower', target: { op: '<=', value: 150, label: '≤ 150 ms' } },
    { scenario: s, metric: `all ${n} lines, worst of ${runs}`, unit: 'ms', launchpad: lp.complete ? lp.allLines.max : undefined, naive: nv.complete ? nv.allLines.max : undefined, better: 'lower', target: { op: '<=', value: 1000, label: '≤ 1000 ms' } },
    { scenario: s, metric: `all ${n} lines, median of ${runs}`, unit: 'ms', launchpad: lp.allLines.p50, naive: nv.allLines.p50, better: 'lower' },
    { scenario: s, metric: 'response headers, median', unit: 'ms', launchpad: lp.headers.p50, naive: nv.headers.p50, better: 'lower' },
    { scenario: s, metric: 'web CPU per replay', unit: 'ms', launchpad: lp.webCpuPerReplayMs, naive: nv.webCpuPerReplayMs, better: 'lower' },
  );
}
