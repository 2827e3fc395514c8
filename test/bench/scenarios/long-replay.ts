// (f) One long replay: a single new viewer of a finished 200,000-line log from cursor 0, while /healthz is probed
// every 25 ms and another viewer watches a live build (20 lines/s). A replay that long costs seconds of web CPU; it
// must not hold the event loop for long stretches, so /healthz and the other viewer keep getting answers and lines
// within 100 ms at p99 (the live viewer's figure is publish → receive, as in (b)).
import type { BenchContext, Side } from '../context.ts';
import { SseViewer } from '../sse-viewer.ts';
import { nowMs, sleep, summarize } from '../stats.ts';
import { replayOnce } from './replay.ts';

/** One live viewer of a fresh container while the producer writes `rate` lines/s; publish → receive per line. */
async function liveViewer(ctx: BenchContext, side: Side, rate: number, durationMs: number) {
  const container = await ctx.newContainer();
  const ids: number[] = [];
  const times: number[] = [];
  const viewer = new SseViewer(side.streamUrl(container.id), {
    cookie: side.cookie,
    agent: ctx.agent,
    onEvent: (e, at) => {
      if (e.event !== 'log' && e.event !== 'progress') return;
      ids.push(Number(e.id));
      times.push(at);
    },
  });
  await viewer.open();
  return async () => {
    const run = await ctx.producer.call<{ sent: Array<[number, number]> }>(
      'steadyLines',
      { containerId: container.id, design: side.design, rate, durationMs, drainCapMs: 10_000 },
      durationMs + 30_000,
    );
    const sent = [...run.sent].sort((a, b) => a[0] - b[0]);
    const lastSeq = sent.at(-1)?.[0] ?? 0;
    for (const until = nowMs() + 10_000; (ids.at(-1) ?? 0) < lastSeq && nowMs() < until; ) await sleep(20);
    viewer.close();
    const latencies: number[] = [];
    let j = 0;
    for (const [seq, at] of sent) {
      while (j < ids.length && ids[j]! < seq) j++;
      if (j < ids.length) latencies.push(times[j]! - at);
    }
    return { ...summarize(latencies), missing: sent.length - latencies.length };
  };
}

async function probeHealth(url: string, stop: { done: boolean }) {
  const latencies: number[] = [];
  let failures = 0;
  while (!stop.done) {
    const start = nowMs();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      if (res.status !== 200) failures++;
    } catch {
      failures++;
    }
    latencies.push(nowMs() - start);
    await sleep(25);
  }
  return { latencies, failures };
}

async function measure(ctx: BenchContext, side: Side, containerId: string, lines: number) {
  await ctx.settle();
  await side.server.call('resetLoop');
  const before = await side.stats();
  const stop = { done: false };
  const live = await liveViewer(ctx, side, 20, 4_000);
  const health = probeHealth(side.healthUrl, stop);
  const replaying = replayOnce(ctx, side, containerId, lines, 120_000);
  // The live build runs during the first seconds of the replay, which takes several.
  const other = await live();
  const run = await replaying;
  stop.done = true;
  const probes = await health;
  const after = await side.stats();
  return {
    ...run,
    complete: run.lines >= lines,
    webCpuMs: after.cpuMs - before.cpuMs,
    webLoop: after.loop,
    health: { ...summarize(probes.latencies), failures: probes.failures },
    otherViewer: other,
  };
}

export async function longReplay(ctx: BenchContext, containerId: string, lines: number) {
  const lp = await measure(ctx, ctx.sides.launchpad, containerId, lines);
  ctx.log(
    `long replay Launchpad: all lines ${lp.allLinesMs.toFixed(0)} ms, /healthz p99 ${lp.health.p99.toFixed(1)} ms over ${lp.health.count} probes, ` +
      `live viewer p99 ${lp.otherViewer.p99.toFixed(1)} ms over ${lp.otherViewer.count} messages, loop p99 ${lp.webLoop.p99.toFixed(1)} ms`,
  );
  ctx.details.longReplay = { lines, launchpad: lp };
  const s = '(f) long replay';
  const n = lines.toLocaleString('en');
  ctx.rows.push(
    { scenario: s, metric: `all ${n} lines, one viewer`, unit: 'ms', launchpad: lp.complete ? lp.allLinesMs : undefined, naive: undefined, launchpadOnly: true },
    { scenario: s, metric: 'web CPU for the replay', unit: 'ms', launchpad: lp.webCpuMs, naive: undefined, launchpadOnly: true },
    { scenario: s, metric: '/healthz p99 during the replay', unit: 'ms', launchpad: lp.health.p99, naive: undefined, launchpadOnly: true, target: { op: '<', value: 100, label: '< 100 ms' } },
    { scenario: s, metric: '/healthz slowest answer', unit: 'ms', launchpad: lp.health.max, naive: undefined, launchpadOnly: true },
    { scenario: s, metric: 'another live viewer: publish → receive p99', unit: 'ms', launchpad: lp.otherViewer.p99, naive: undefined, launchpadOnly: true, target: { op: '<', value: 100, label: '< 100 ms' } },
    { scenario: s, metric: 'web event-loop delay p99', unit: 'ms', launchpad: lp.webLoop.p99, naive: undefined, launchpadOnly: true, target: { op: '<', value: 100, label: '< 100 ms' } },
  );
}
