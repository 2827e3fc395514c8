// #17 live usage: a built container's page shows CPU, memory, swap, disk, network and uptime with 15-minute
// sparklines, updated through the page's one stream; Proxmox is asked once per node per interval whatever the number
// of viewers and web processes, and not at all when nobody looks; a stopped CT says since when; an unreachable node
// shows the last known values with their age and the reason; an action starting hands the page back to the progress
// stream. Two web processes (two sets of connections on one Postgres and one Redis) and the simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { buildDeps, type Deps } from '../src/deps.ts';
import { runCreatePipeline } from '../src/domain/pipeline/pipeline-runner.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { connectSse, type SseConnection } from './support/sse-client.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

const INTERVAL_MS = 200;
let env: TestEnv;
let second: Deps;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let web: Array<Awaited<ReturnType<typeof listen>>>;
let cookies: string[];
const ids: string[] = [];

beforeAll(async () => {
  env = await createTestEnv({ USAGE_POLL_MS: String(INTERVAL_MS), SSE_MAX_STREAMS_PER_SESSION: '100' });
  second = await buildDeps(env.config, 'web-2', env.deps.logger);
  sim = await startTestSimulator(env.deps);
  const owner = await ensureUser(env.deps, 'watcher', 'watcher-password-long', 'admin');
  for (const hostname of ['usage-a', 'usage-b']) {
    const c = await insertDeployment(env.deps, { ownerId: owner.id, nodeId: sim.node.id, hostname });
    expect(await runCreatePipeline(testPipelineDeps(env), c.id, new AbortController().signal)).toBe('ready');
    ids.push(c.id);
  }
  web = [await listen(createApp(env.deps)), await listen(createApp(second))];
  cookies = [(await signIn(web[0]!.baseUrl, 'watcher', 'watcher-password-long')).cookie, (await signIn(web[1]!.baseUrl, 'watcher', 'watcher-password-long')).cookie];
}, 120_000);
afterAll(async () => {
  for (const w of web ?? []) await w.close();
  await second?.close();
  await sim?.close();
  await env?.close();
});

const listRequests = () => sim.sim.requests.filter((r) => r.method === 'GET' && r.route === '/nodes/{node}/lxc').length;
const open = (process: number, id: string) => connectSse(`${web[process]!.baseUrl}/containers/${id}/live`, { cookie: cookies[process] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const polls = () => env.deps.usage.polls + second.usage.polls;

describe('live usage on a built container’s page', () => {
  it('the page shows the usage panel and opens the usage stream instead of polling the status', async () => {
    const page = await fetch(`${web[0]!.baseUrl}/containers/${ids[0]}`, { headers: { Cookie: cookies[0]! } });
    const html = await page.text();
    expect(html).toContain('id="usage-panel"');
    expect(html).toMatch(new RegExp(`sse-connect="/containers/${ids[0]}/live\\?history=\\d+&amp;seen=\\d+"`));
    expect(html).not.toContain('hx-trigger="every 10s"');
    expect(html).not.toContain('id="progress-stream"');
  });

  it('streams bars with figures, network rates, uptime and sparklines as the node is polled', async () => {
    const stream = await open(0, ids[0]!);
    try {
      expect(stream.status).toBe(200);
      await stream.waitFor((e) => e.event === 'live');
      const full = await stream.waitFor((e) => e.event === 'usage' && e.data.includes('<polyline') && e.data.includes('/s</span>'), 10_000);
      expect(full.data).toContain('id="usage-panel" hx-swap-oob="true"');
      expect(full.data).toMatch(/data-usage="cpu"[\s\S]*?\d+\.\d % of \d+ cores?/);
      expect(full.data).toMatch(/data-usage="mem"[\s\S]*?MiB of 512 MiB/);
      expect(full.data).toMatch(/data-usage="swap"/);
      expect(full.data).toMatch(/data-usage="disk"[\s\S]*?of 4\.00 GiB/);
      expect(full.data).toMatch(/Network: <span class="tabular-nums">↓ [\d.]+ (B|KiB)\/s · ↑ [\d.]+ (B|KiB)\/s/);
      expect(full.data).toMatch(/up \d+ (s|min)/);
      expect(full.data).toMatch(/<polyline [^>]*points="[\d.]+,[\d.]+ [\d.]+,[\d.]+/);
      // The Proxmox status badge travels with it, from the same poll.
      expect(full.data).toMatch(/<span id="live-status" hx-swap-oob="true"><span class="badge [^"]*">running<\/span><\/span>/);
    } finally {
      stream.close();
    }
  });

  it('asks the node once per interval whatever the number of viewers and web processes, and not when nobody looks', async () => {
    const measure = async (streams: SseConnection[]) => {
      await Promise.all(streams.map((s) => s.waitFor((e) => e.event === 'live')));
      await sleep(INTERVAL_MS * 2);
      const [requestsBefore, pollsBefore] = [listRequests(), polls()];
      const started = Date.now();
      await sleep(INTERVAL_MS * 10);
      const elapsed = Date.now() - started;
      return { requests: listRequests() - requestsBefore, polls: polls() - pollsBefore, elapsed };
    };
    const one = [await open(0, ids[0]!), await open(0, ids[1]!)];
    const few = await measure(one);
    one.forEach((s) => s.close());

    const many: SseConnection[] = [];
    for (let i = 0; i < 40; i++) many.push(await open(i % 2, ids[i % 2]!));
    const lots = await measure(many);
    const delivered = many.map((s) => s.events.filter((e) => e.event === 'usage').length);
    many.forEach((s) => s.close());
    console.log(`live usage: 2 viewers → ${few.requests} node requests in ${few.elapsed} ms; 40 viewers on 2 web processes → ${lots.requests} in ${lots.elapsed} ms`);

    // Every request is one poll of the node for all its watched CTs (±1: a poll may straddle the window's edge), and
    // there is at most one poll per interval.
    for (const m of [few, lots]) expect(Math.abs(m.requests - m.polls)).toBeLessThanOrEqual(1);
    // 40 viewers cannot make the node be asked more than once per interval (a slow machine may ask it less often).
    for (const m of [few, lots]) expect(m.requests).toBeLessThanOrEqual(Math.ceil(m.elapsed / INTERVAL_MS) + 1);
    expect(lots.requests).toBeGreaterThan(0);
    // …and every viewer, on either process, was told (the snapshot at connect, then each poll).
    expect(Math.min(...delivered)).toBeGreaterThanOrEqual(2);

    // Nobody looks: the interest expires and polling stops.
    await sleep(INTERVAL_MS * 4);
    const idle = listRequests();
    await sleep(INTERVAL_MS * 6);
    expect(listRequests()).toBe(idle);
  });

  it('a change the worker announces (a health result, a history entry) reaches every viewer on every web process as the whole state', async () => {
    const c = (await env.deps.repos.containers.findById(ids[0]!))!;
    const seen = await env.deps.repos.history.newestId(c.id);
    const viewers = [
      await connectSse(`${web[0]!.baseUrl}/containers/${c.id}/live?history=${seen}`, { cookie: cookies[0] }),
      await connectSse(`${web[1]!.baseUrl}/containers/${c.id}/live?history=${seen}`, { cookie: cookies[1] }),
    ];
    try {
      await Promise.all(viewers.map((v) => v.waitFor((e) => e.event === 'live')));
      // As the worker does after a health check: store, then ring the node's doorbell (here from a third process's Redis connection).
      await env.deps.repos.history.record({
        containerId: c.id, kind: 'health', userId: null, username: null, attempt: null, outcome: 'down', summary: 'web answered 502 (announced)', details: {},
      });
      const worker = await buildDeps(env.config, 'worker-announce', env.deps.logger);
      try {
        await worker.usage.announce(c);
      } finally {
        await worker.close();
      }
      for (const v of viewers) {
        const refresh = await v.waitFor((e) => e.event === 'usage' && e.data.includes('web answered 502 (announced)'), 5_000);
        // Only a section showing the first page of all kinds is replaced (a reader's filter or older page stays).
        expect(refresh.data).toContain('<section id="history" data-follows-live hx-swap-oob="outerHTML:#history[data-follows-live]"');
        expect(refresh.data).toContain('id="health-panel" hx-swap-oob="true"');
        expect(refresh.data).toContain('id="container-actions"');
        // The stream slot is not in it: the page keeps this connection.
        expect(refresh.data).not.toContain('id="stream-slot"');
      }
    } finally {
      viewers.forEach((v) => v.close());
    }
  });

  it('the viewers of one process re-render an announced change from one read of the container’s state', async () => {
    const c = (await env.deps.repos.containers.findById(ids[0]!))!;
    const seen = await env.deps.repos.history.newestId(c.id);
    const viewers = await Promise.all(Array.from({ length: 10 }, () => connectSse(`${web[0]!.baseUrl}/containers/${c.id}/live?history=${seen}`, { cookie: cookies[0] })));
    const historyReads: string[] = [];
    // The history section's read (joined with containers); each stream's own look at the newest entry id, made just
    // after it is live, is not part of a re-render.
    const count = (q: { sql: string }) => q.sql.includes('from "container_history" inner join "containers"') && historyReads.push(q.sql);
    try {
      await Promise.all(viewers.map((v) => v.waitFor((e) => e.event === 'live')));
      await env.deps.repos.history.record({
        containerId: c.id, kind: 'health', userId: null, username: null, attempt: null, outcome: 'healthy', summary: 'answered again (announced to ten)', details: {},
      });
      env.deps.knex.on('query', count);
      await second.usage.announce(c);
      await Promise.all(viewers.map((v) => v.waitFor((e) => e.event === 'usage' && e.data.includes('answered again (announced to ten)'), 5_000)));
      expect(historyReads).toHaveLength(1);
    } finally {
      env.deps.knex.off('query', count);
      viewers.forEach((v) => v.close());
    }
  });

  it('a stream opened by a page older than the newest history entry brings it up to date at once; a current page gets no re-render', async () => {
    const id = ids[0]!;
    const newest = await env.deps.repos.history.newestId(id);
    const stale = await connectSse(`${web[0]!.baseUrl}/containers/${id}/live?history=${newest - 1}`, { cookie: cookies[0] });
    const current = await connectSse(`${web[0]!.baseUrl}/containers/${id}/live?history=${newest}`, { cookie: cookies[0] });
    try {
      const refresh = await stale.waitFor((e) => e.event === 'usage' && e.data.includes('id="history"'), 5_000);
      expect(refresh.data).toContain('web answered 502 (announced)');
      // Three polls later the current page has had usage updates only.
      await current.waitFor((_e, all) => all.filter((e) => e.event === 'usage').length >= 4, 5_000);
      expect(current.events.filter((e) => e.data.includes('id="history"'))).toEqual([]);
    } finally {
      stale.close();
      current.close();
    }
  });

  it('a CT stopped outside Launchpad: the page is told at the next poll, says since when, and offers Start', async () => {
    const stream = await open(1, ids[1]!);
    try {
      await stream.waitFor((e) => e.event === 'usage' && e.data.includes('running</span>'), 10_000);
      const vmid = (await env.deps.repos.containers.findById(ids[1]!))!.vmid!;
      sim.sim.state.containers.get(vmid)!.status = 'stopped';
      const refresh = await stream.waitFor((e) => e.event === 'usage' && e.data.includes('id="status-panel"'), 10_000);
      expect(refresh.data).toMatch(/Stopped since <time datetime="[^"]+">\d\d:\d\d:\d\d UTC<\/time>/);
      expect(refresh.data).toContain(`action="/containers/${ids[1]}/start"`);
      expect(refresh.data).not.toContain(`action="/containers/${ids[1]}/stop"`);
      expect(refresh.data).not.toContain('id="stream-slot"');
      sim.sim.state.containers.get(vmid)!.status = 'running';
      sim.sim.state.containers.get(vmid)!.startedAt = Date.now();
      const back = await stream.waitFor((e) => e.event === 'usage' && e.data.includes('id="status-panel"') && e.data.includes(`action="/containers/${ids[1]}/stop"`), 10_000);
      expect(back.data).toContain('data-usage="cpu"');
    } finally {
      stream.close();
    }
  });

  it('a CT removed outside Launchpad and its VMID reused: the page is told it is gone and offers Forget, not the other guest’s usage', async () => {
    const owner = (await env.deps.repos.users.findByUsername('watcher'))!;
    const c = await insertDeployment(env.deps, { ownerId: owner.id, nodeId: sim.node.id, hostname: 'usage-gone' });
    expect(await runCreatePipeline(testPipelineDeps(env), c.id, new AbortController().signal)).toBe('ready');
    const vmid = (await env.deps.repos.containers.findById(c.id))!.vmid!;
    const stream = await open(0, c.id);
    try {
      await stream.waitFor((e) => e.event === 'usage' && e.data.includes('data-usage="cpu"'), 10_000);
      // Someone removes it on the node and makes another CT at the same VMID (between two polls).
      const record = sim.sim.state.containers.get(vmid)!;
      await sim.sim.state.removeContainer(vmid);
      sim.sim.state.containers.set(vmid, { ...record, config: { ...record.config, hostname: 'someone-else', description: '', tags: '' } });
      const done = await stream.waitFor((e) => e.event === 'done', 10_000);
      expect(done.data).toContain(`VMID ${vmid} on sim now belongs to another guest (“someone-else”)`);
      expect(done.data).toContain('Forget this entry');
      expect(done.data).not.toContain(`action="/containers/${c.id}/stop"`);
      expect(done.data).toContain('<div id="stream-slot" hx-swap-oob="true">');
      // No usage stream follows (it would show the other guest's); the quiet watch stream does, for a Forget.
      expect(done.data).not.toContain('id="usage-stream"');
      expect(done.data).toContain(`<div id="watch-stream" hidden sse-connect="/containers/${c.id}/watch?seen=`);
      await stream.ended;
    } finally {
      stream.close();
    }
  });

  it('an unreachable node: the last known values with their age and the reason, never a spinner', async () => {
    const stream = await open(0, ids[0]!);
    try {
      await stream.waitFor((e) => e.event === 'usage' && e.data.includes('data-usage="cpu"'), 10_000);
      sim.sim.faults.set({ unreachable: true });
      const stale = await stream.waitFor((e) => e.event === 'usage' && e.data.includes('Last known values'), 15_000);
      expect(stale.data).toMatch(/Last known values, from \d+ s ago: sim did not answer: [^<]+\(since <time/);
      expect(stale.data).toContain('data-usage="cpu"');
      expect(stale.data).toMatch(/<span id="live-status" hx-swap-oob="true"><details class="ct-status"><summary class="badge [^"]*" title="sim did not answer/);
    } finally {
      sim.sim.faults.set({ unreachable: false });
      stream.close();
    }
  });

  it('an action starting hands the page back to the progress stream, from where the page’s log ends', async () => {
    const seen = (await env.deps.repos.containers.findById(ids[0]!))!.lastSeq;
    const stream = await connectSse(`${web[0]!.baseUrl}/containers/${ids[0]}/live?seen=${seen}`, { cookie: cookies[0] });
    try {
      await stream.waitFor((e) => e.event === 'live');
      const csrf = (await signIn(web[0]!.baseUrl, 'watcher', 'watcher-password-long'));
      const res = await fetch(`${web[0]!.baseUrl}/containers/${ids[0]}/reboot`, {
        method: 'POST', redirect: 'manual',
        headers: { Cookie: csrf.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf.csrf }),
      });
      expect(res.status).toBe(303);
      const done = await stream.waitFor((e) => e.event === 'done', 10_000);
      expect(done.data).toContain('<div id="stream-slot" hx-swap-oob="true">');
      // The lines written since the page's render (the request's own) are replayed, not skipped.
      expect(done.data).toContain(`<div id="progress-stream" hidden sse-connect="/containers/${ids[0]}/events?after=${seen}"`);
      expect((await env.deps.repos.containers.findById(ids[0]!))!.lastSeq).toBeGreaterThan(seen);
      await stream.ended;
    } finally {
      stream.close();
    }
  });
});
