// (a) Fan-out: 10,000 concurrent viewers held by one Launchpad web process (500 on each of 20 running containers;
// the baseline is measured at the 2,000 of earlier runs — it holds a Redis connection per viewer). Memory
// per viewer is the growth of the web process's RSS (and of its JS heap + external memory) after GC, divided by
// the viewers it holds; then one line on each container shows every held viewer is still live.
import type { BenchContext, Side } from '../context.ts';
import { closeViewers, openViewers } from '../sse-viewer.ts';
import { nowMs, sleep, waitUntil } from '../stats.ts';

const KB = 1024;

/** Redis's own view: clients connected and memory used (the baseline's per-viewer cost lives there too). */
async function redisNow(ctx: BenchContext) {
  const info = (await ctx.env.deps.redis.info('clients')) + (await ctx.env.deps.redis.info('memory'));
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { clients: field('connected_clients'), usedMemory: field('used_memory') };
}

async function measure(ctx: BenchContext, side: Side, viewers: number, containers: number) {
  const ids = (await Promise.all(Array.from({ length: containers }, () => ctx.newContainer()))).map((c) => c.id);
  await ctx.settle();
  await side.server.call('gc');
  const before = await side.stats();
  const redisBefore = await redisNow(ctx);

  let received = 0;
  let lastReceipt = 0;
  const connectStart = nowMs();
  const list = await openViewers(viewers, (i) => side.streamUrl(ids[i % containers]!), {
    cookie: side.cookie,
    agent: ctx.agent,
    onEvent: (e, at) => {
      if (e.event !== 'log' && e.event !== 'progress') return;
      received++;
      lastReceipt = Math.max(lastReceipt, at);
    },
  }, 50);
  try {
    const refused = list.filter((v) => v.failure).length;
    await waitUntil(async () => (await side.viewers()) >= viewers - refused, 60_000, 200);
    const connectMs = nowMs() - connectStart;
    await sleep(2_000);
    await side.server.call('gc');
    const after = await side.stats();
    const held = await side.viewers();
    const redisAfter = await redisNow(ctx);

    const pingAt = nowMs();
    await side.ping(ids, 'fan-out ping');
    const allLive = await waitUntil(() => received >= held, 30_000, 10);
    const deliveryMs = lastReceipt - pingAt;

    const rssPerViewer = (after.memory.rss - before.memory.rss) / held / KB;
    const heapPerViewer = (after.memory.heapUsed + after.memory.external - before.memory.heapUsed - before.memory.external) / held / KB;
    return {
      held,
      refused,
      connectMs,
      rssPerViewer,
      heapPerViewer,
      deliveryMs,
      live: received,
      allLive,
      before: before.memory,
      after: after.memory,
      // Redis is shared with anything else on the machine, so these are approximate.
      redisConnections: redisAfter.clients - redisBefore.clients,
      redisMemoryPerViewer: (redisAfter.usedMemory - redisBefore.usedMemory) / held / KB,
    };
  } finally {
    closeViewers(list);
    await waitUntil(async () => (await side.viewers()) === 0, 30_000, 200);
  }
}

export async function fanOut(ctx: BenchContext, viewers = 10_000, naiveViewers = 2_000, containers = 20) {
  const lp = await measure(ctx, ctx.sides.launchpad, viewers, containers);
  ctx.log(`fan-out Launchpad: ${lp.held} held, ${lp.rssPerViewer.toFixed(1)} KB RSS/viewer, web RSS ${(lp.after.rss / 2 ** 20).toFixed(0)} MiB`);
  const nv = await measure(ctx, ctx.sides.naive, naiveViewers, containers);
  ctx.log(`fan-out naive: ${nv.held} held, ${nv.rssPerViewer.toFixed(1)} KB RSS/viewer`);
  ctx.details.fanOut = { viewers, naiveViewers, containers, launchpad: lp, naive: nv };
  const s = '(a) fan-out';
  ctx.rows.push(
    { scenario: s, metric: `concurrent SSE viewers held (naive asked for ${naiveViewers})`, unit: '', launchpad: lp.held, naive: nv.held, better: 'higher', target: { op: '>=', value: viewers, label: `≥ ${viewers}` } },
    { scenario: s, metric: 'web process RSS holding them', unit: 'MiB', launchpad: lp.after.rss / 2 ** 20, naive: nv.after.rss / 2 ** 20, target: { op: '<=', value: 1024, label: '≤ 1 GiB' } },
    { scenario: s, metric: 'memory per idle viewer (RSS growth)', unit: 'KB', launchpad: lp.rssPerViewer, naive: nv.rssPerViewer, better: 'lower', target: { op: '<=', value: 20, label: '≤ 20 KB' } },
    { scenario: s, metric: 'JS heap + external per viewer', unit: 'KB', launchpad: lp.heapPerViewer, naive: nv.heapPerViewer, better: 'lower' },
    { scenario: s, metric: 'Redis connections added (shared Redis: ± others)', unit: '', launchpad: lp.redisConnections, naive: nv.redisConnections },
    { scenario: s, metric: 'Redis server memory per viewer', unit: 'KB', launchpad: lp.redisMemoryPerViewer, naive: nv.redisMemoryPerViewer, better: 'lower' },
    { scenario: s, metric: `time to connect the viewers (${viewers} / ${naiveViewers})`, unit: 'ms', launchpad: lp.connectMs, naive: nv.connectMs, better: 'lower' },
    { scenario: s, metric: 'one line on each container → every viewer', unit: 'ms', launchpad: lp.allLive ? lp.deliveryMs : undefined, naive: nv.allLive ? nv.deliveryMs : undefined, better: 'lower', note: lp.allLive && nv.allLive ? undefined : 'some viewers never got the line' },
  );
}
