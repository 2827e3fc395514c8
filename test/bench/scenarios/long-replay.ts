// (f) One long replay: a single new viewer of a finished 200,000-line log from cursor 0, while /healthz is probed
// every 25 ms. A replay that long costs seconds of web CPU; it must not hold the event loop for long stretches, so
// /healthz (and every other request and viewer of the same process) keeps answering within 100 ms at p99.
import type { BenchContext, Side } from '../context.ts';
import { nowMs, sleep, summarize } from '../stats.ts';
import { replayOnce } from './replay.ts';

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
  const health = probeHealth(side.healthUrl, stop);
  const run = await replayOnce(ctx, side, containerId, lines, 120_000);
  stop.done = true;
  const probes = await health;
  const after = await side.stats();
  return {
    ...run,
    complete: run.lines >= lines,
    webCpuMs: after.cpuMs - before.cpuMs,
    webLoop: after.loop,
    health: { ...summarize(probes.latencies), failures: probes.failures },
  };
}

export async function longReplay(ctx: BenchContext, containerId: string, lines: number) {
  const lp = await measure(ctx, ctx.sides.launchpad, containerId, lines);
  ctx.log(
    `long replay Launchpad: all lines ${lp.allLinesMs.toFixed(0)} ms, /healthz p99 ${lp.health.p99.toFixed(1)} ms over ${lp.health.count} probes, loop p99 ${lp.webLoop.p99.toFixed(1)} ms`,
  );
  ctx.details.longReplay = { lines, launchpad: lp };
  const s = '(f) long replay';
  const n = lines.toLocaleString('en');
  ctx.rows.push(
    { scenario: s, metric: `all ${n} lines, one viewer`, unit: 'ms', launchpad: lp.complete ? lp.allLinesMs : undefined, naive: undefined, launchpadOnly: true },
    { scenario: s, metric: 'web CPU for the replay', unit: 'ms', launchpad: lp.webCpuMs, naive: undefined, launchpadOnly: true },
    { scenario: s, metric: '/healthz p99 during the replay', unit: 'ms', launchpad: lp.health.p99, naive: undefined, launchpadOnly: true, target: { op: '<', value: 100, label: '< 100 ms' } },
    { scenario: s, metric: '/healthz slowest answer', unit: 'ms', launchpad: lp.health.max, naive: undefined, launchpadOnly: true },
    { scenario: s, metric: 'web event-loop delay p99', unit: 'ms', launchpad: lp.webLoop.p99, naive: undefined, launchpadOnly: true, target: { op: '<', value: 100, label: '< 100 ms' } },
  );
}
