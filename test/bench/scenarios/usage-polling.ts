// (g) Live usage: what open container pages cost the Proxmox node. 20 running CTs; first 1 viewer per CT, then 10
// per CT (200) spread over two web processes; each for the same window, counting the requests the simulated node
// received. The baseline is how the page worked before: every open page asked for its CT's status itself
// (`GET /containers/:id/status`, one node request each) at the same interval. The node is polled every second here
// (USAGE_POLL_MS=1000 in the bench), so the figures are per minute at that interval; at the default 5 s divide by 5.
import { randomUUID } from 'node:crypto';
import type { NodeRecord } from '../../../src/db/nodes-repository.ts';
import { proxmoxClientFor } from '../../../src/domain/nodes/node-access.ts';
import { waitForTask } from '../../../src/proxmox/task-waiter.ts';
import type { BenchContext, Row } from '../context.ts';
import { closeViewers, openViewers } from '../sse-viewer.ts';
import { sleep } from '../stats.ts';

const CTS = 20;
const WINDOW_MS = 20_000;
const INTERVAL_MS = 1000;

export interface UsageRig {
  /** The web processes' ports (the usage stream is served by both). */
  ports: number[];
  cookie: string;
  /** Node requests so far, per route, as the simulator counted them. */
  requests(): Promise<Record<string, number>>;
  /** Container ids of the 20 running CTs. */
  containers: string[];
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

async function requestsDuring(rig: UsageRig, work: () => Promise<() => void>): Promise<{ perMinute: number; byRoute: Record<string, number> }> {
  const stopWork = await work();
  await sleep(3 * INTERVAL_MS); // everyone connected and polling
  const before = await rig.requests();
  await sleep(WINDOW_MS);
  const after = await rig.requests();
  stopWork();
  await sleep(4 * INTERVAL_MS); // interest expires before the next window
  const byRoute = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
  return { perMinute: Math.round((total(byRoute) * 60_000) / WINDOW_MS), byRoute };
}

/** Launchpad: viewers on the usage stream (/live), round-robin over the containers and the web processes. */
function launchpadViewers(ctx: BenchContext, rig: UsageRig, perCt: number) {
  return async () => {
    let delivered = 0;
    const viewers = await openViewers(CTS * perCt, (i) => `http://127.0.0.1:${rig.ports[i % rig.ports.length]}/containers/${rig.containers[i % CTS]}/live`, {
      cookie: rig.cookie,
      agent: ctx.agent,
      onEvent: (e) => void (e.event === 'usage' && delivered++),
    });
    const failed = viewers.filter((v) => v.failure).length;
    if (failed) throw new Error(`${failed} usage viewers could not connect: ${viewers.find((v) => v.failure)?.failure}`);
    return () => {
      ctx.details[`(g) usage messages delivered to ${CTS * perCt} viewers`] = delivered;
      closeViewers(viewers);
    };
  };
}

/** The baseline: each open page asks for its CT's status every interval (the old per-viewer polling badge). */
function pollingPages(ctx: BenchContext, rig: UsageRig, perCt: number) {
  return async () => {
    let running = true;
    const page = async (i: number) => {
      await sleep((i * INTERVAL_MS) / (CTS * perCt)); // spread out, as pages opened at different times would be
      while (running) {
        const started = Date.now();
        await fetch(`http://127.0.0.1:${rig.ports[i % rig.ports.length]}/containers/${rig.containers[i % CTS]}/status`, { headers: { Cookie: rig.cookie } })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
        await sleep(Math.max(0, INTERVAL_MS - (Date.now() - started)));
      }
    };
    const all = Array.from({ length: CTS * perCt }, (_, i) => page(i));
    return () => {
      running = false;
      void Promise.all(all);
    };
  };
}

export async function usagePolling(ctx: BenchContext, rig: UsageRig): Promise<void> {
  const oneEach = await requestsDuring(rig, launchpadViewers(ctx, rig, 1));
  const tenEach = await requestsDuring(rig, launchpadViewers(ctx, rig, 10));
  ctx.log('(g) the baseline: pages polling their status themselves…');
  const naiveOne = await requestsDuring(rig, pollingPages(ctx, rig, 1));
  const naiveTen = await requestsDuring(rig, pollingPages(ctx, rig, 10));
  ctx.details['(g) node requests by route'] = { launchpad20: oneEach.byRoute, launchpad200: tenEach.byRoute, naive20: naiveOne.byRoute, naive200: naiveTen.byRoute };
  const growth = (a: number, b: number) => (a > 0 ? Math.round((b / a) * 100) / 100 : NaN);
  const rows: Row[] = [
    { scenario: '(g) usage', metric: `node requests/min, ${CTS} viewers (1 per CT), polled every ${INTERVAL_MS / 1000} s`, unit: 'req/min', launchpad: oneEach.perMinute, naive: naiveOne.perMinute, better: 'lower' },
    { scenario: '(g) usage', metric: `node requests/min, ${CTS * 10} viewers (10 per CT) on 2 web processes`, unit: 'req/min', launchpad: tenEach.perMinute, naive: naiveTen.perMinute, better: 'lower' },
    {
      scenario: '(g) usage', metric: `growth of node requests from ${CTS} to ${CTS * 10} viewers`, unit: '×',
      launchpad: growth(oneEach.perMinute, tenEach.perMinute), naive: growth(naiveOne.perMinute, naiveTen.perMinute), better: 'lower',
      target: { op: '<=', value: 1.1, label: '≤ 1.1×' },
      note: 'the same requests whatever the number of viewers: ≤ 1.1× (one poll may straddle a window’s edge)',
    },
  ];
  ctx.rows.push(...rows);
}

/** 20 running CTs on the simulated node, each a ready Launchpad container owned by the bench user. */
export async function runningContainers(ctx: BenchContext, node: NodeRecord): Promise<string[]> {
  const api = proxmoxClientFor(node, ctx.env.deps.secrets);
  const ids: string[] = [];
  try {
    for (let i = 0; i < CTS; i++) {
      const vmid = 500 + i;
      const hostname = `usage-${i}`;
      await waitForTask(api, await api.createLxc(node.name, { vmid, hostname, ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', rootfs: { storage: 'local-lvm', sizeGiB: 1 } }), { pollIntervalMs: 20 });
      await waitForTask(api, await api.startLxc(node.name, vmid), { pollIntervalMs: 20 });
      const container = await ctx.env.deps.repos.containers.create(
        { id: randomUUID(), ownerId: ctx.ownerId, nodeId: node.id, templateId: null, vmid, hostname, config: { templateName: 'bench' } },
        null,
      );
      await ctx.env.deps.knex('containers').where({ id: container.id }).update({ lifecycle: 'ready', percent: 100, finished_at: new Date() });
      ids.push(container.id);
    }
  } finally {
    api.close();
  }
  return ids;
}
