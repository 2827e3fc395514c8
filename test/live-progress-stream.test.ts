import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { User } from '../src/db/users-repository.ts';
import { connectSse, type SseConnection } from './support/sse-client.ts';
import { insertContainer, insertNode, recorderFor, streamedLinesIn } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let owner: User;
let cookie: string;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv({ SSE_HEARTBEAT_MS: '300' });
  server = await listen(createApp(env.deps));
  owner = await ensureUser(env.deps, 'owner', 'owner-password');
  await ensureUser(env.deps, 'stranger', 'stranger-password');
  cookie = (await signIn(server.baseUrl, 'owner', 'owner-password')).cookie;
  nodeId = (await insertNode(env.deps)).id;
});
afterAll(async () => {
  await server.close();
  await env.close();
});

const streamUrl = (id: string, after?: number) => `${server.baseUrl}/containers/${id}/events${after === undefined ? '' : `?after=${after}`}`;
const linesOf = (conn: SseConnection) => conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).flatMap((e) => streamedLinesIn(e.data));
const idsOf = (conn: SseConnection) => conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).map((e) => Number(e.id));

async function containerWithLog(lines: number) {
  const container = await insertContainer(env.deps, owner.id, nodeId);
  const rec = recorderFor(env.deps, container.id);
  await rec.enterPhase('creating', 'Creating the container…');
  for (let i = 1; i <= lines; i++) rec.log(i % 7 === 0 ? 'stderr' : 'stdout', `line ${i} <b>&</b>`);
  await rec.flush();
  return { container, rec };
}

describe('GET /containers/:id/events', () => {
  it('replays from Postgres with the protocol of the spec: retry, ids, one data: per HTML line, headers', async () => {
    const { container } = await containerWithLog(450);
    const conn = await connectSse(streamUrl(container.id), { cookie });
    expect(conn.status).toBe(200);
    expect(conn.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(conn.headers['cache-control']).toBe('no-cache, no-transform');
    expect(conn.headers['x-accel-buffering']).toBe('no');
    // The body ends with the connection: no chunk framing around every message.
    expect(conn.headers['transfer-encoding']).toBeUndefined();
    expect(conn.headers.connection).toBe('close');
    await conn.waitFor(() => linesOf(conn).length >= 450);
    expect(conn.retry).toBe(3000);
    expect(linesOf(conn)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    const ids = idsOf(conn);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // HTML is escaped and stderr marked.
    const all = conn.events.map((e) => e.data).join('\n');
    expect(all).toContain('line 7 &lt;b&gt;&amp;&lt;/b&gt;');
    // A streamed line is its time, its stream's class and its text: no id (the log viewer numbers it), no count.
    expect(all).toMatch(/<li data-t="\d\d:\d\d:\d\d" class="e">line 7 /);
    expect(all).not.toMatch(/id="L\d|id="log-count"/);
    // From cursor 0 the viewer's page shows the untouched stepper: the first step sends its row and the summary only.
    expect(all).toMatch(/<li id="step-creating" data-state="active" [^>]*hx-swap-oob="true">/);
    expect(all).toContain('<div id="progress-summary" hx-swap-oob="true">');
    expect(all).not.toContain('id="stepper"');
    conn.close();
  });

  it('goes live after the replay without a gap or a repeat, and sends heartbeats', async () => {
    const { container, rec } = await containerWithLog(10);
    const conn = await connectSse(streamUrl(container.id), { cookie });
    await conn.waitFor(() => linesOf(conn).length >= 10);
    // The end of the replay is marked, with the number of log lines it caught up.
    const live = await conn.waitFor((e) => e.event === 'live');
    expect(live.data).toBe('10');
    expect(live.id).toBe(conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).at(-1)!.id);
    for (let i = 11; i <= 300; i++) rec.log('stdout', `live ${i}`);
    await rec.flush();
    await conn.waitFor(() => linesOf(conn).length >= 300);
    await new Promise((r) => setTimeout(r, 700));
    expect(linesOf(conn)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // Heartbeats are events, not comments, so the page's watchdog hears them (issue 22); each repeats the last id.
    const heartbeats = conn.events.filter((e) => e.event === 'heartbeat');
    expect(heartbeats.length).toBeGreaterThanOrEqual(1);
    expect(heartbeats.at(-1)!.data).toBe('');
    expect(heartbeats.at(-1)!.id).toBe(conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).at(-1)!.id);
    expect(conn.events.filter((e) => e.event === 'live')).toHaveLength(1);
    conn.close();
  });

  it('sends no heartbeat while the stream is talking, and heartbeats again once it is quiet', async () => {
    // A heartbeat is the viewer's own message: on a gzip stream it takes the viewer off its group's shared chain
    // (src/http/gzip-chain.ts). A stream that wrote in the last half interval skips the tick.
    const { container, rec } = await containerWithLog(1);
    const conn = await connectSse(streamUrl(container.id), { cookie });
    await conn.waitFor((e) => e.event === 'live');
    const from = conn.events.length;
    // Six heartbeat intervals (300 ms here) of a line every 40 ms.
    for (let i = 2; i <= 46; i++) {
      rec.log('stdout', `talking ${i}`);
      await new Promise((r) => setTimeout(r, 40));
    }
    await rec.flush();
    await conn.waitFor(() => linesOf(conn).length >= 46);
    const talking = conn.events.slice(from);
    // Every tick would have sent one (about 6); a stalled event loop on a loaded machine may let one through.
    expect(talking.filter((e) => e.event === 'heartbeat').length).toBeLessThanOrEqual(1);
    const quiet = conn.events.length;
    await conn.waitFor((e, all) => e.event === 'heartbeat' && all.indexOf(e) >= quiet, 2_000);
    conn.close();
  });

  it('resumes from Last-Event-ID, and from ?after= when the header is absent', async () => {
    const { container, rec } = await containerWithLog(100);
    const first = await connectSse(streamUrl(container.id), { cookie });
    await first.waitFor(() => linesOf(first).length >= 100);
    const cursor = Number(first.events.at(-1)!.id);
    first.close();
    for (let i = 101; i <= 150; i++) rec.log('stdout', `after drop ${i}`);
    await rec.flush();

    const byHeader = await connectSse(streamUrl(container.id, 0), { cookie, lastEventId: String(cursor) });
    await byHeader.waitFor(() => linesOf(byHeader).length >= 50);
    expect(linesOf(byHeader)).toEqual(Array.from({ length: 50 }, (_, i) => i + 101));
    byHeader.close();

    const byQuery = await connectSse(streamUrl(container.id, cursor), { cookie });
    await byQuery.waitFor(() => linesOf(byQuery).length >= 50);
    expect(linesOf(byQuery)).toEqual(Array.from({ length: 50 }, (_, i) => i + 101));
    expect((await byQuery.waitFor((e) => e.event === 'live')).data).toBe('50');
    byQuery.close();
  });

  it('ends a finished container with the final fragments and event: done', async () => {
    const { container, rec } = await containerWithLog(5);
    const conn = await connectSse(streamUrl(container.id), { cookie });
    await conn.waitFor(() => linesOf(conn).length >= 5);
    await rec.complete({ status: 'Ready at 10.0.0.5', ip: '10.0.0.5' });
    await conn.ended;
    const done = conn.events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data).toContain('id="status-panel" hx-swap-oob="true"');
    expect(done.data).toContain('10.0.0.5');
    const last = conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).at(-1)!;
    expect(last.data).toContain('aria-valuenow="100"');

    // Reconnecting to a finished container replays and ends at once.
    const again = await connectSse(streamUrl(container.id), { cookie });
    await again.ended;
    expect(again.events.at(-1)!.event).toBe('done');
    expect(linesOf(again)).toEqual([1, 2, 3, 4, 5]);
  });

  it('ends with every state element (heading, badge, stepper, status panel, configuration, line count) exactly as a reload renders it', async () => {
    const { container, rec } = await containerWithLog(12);
    const conn = await connectSse(streamUrl(container.id), { cookie });
    await conn.waitFor(() => linesOf(conn).length >= 12);
    // With the first step, the lines arriving live move the badge (the header's count follows the list in the page).
    const live = conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).map((e) => e.data).join('\n');
    expect(live).toMatch(/<span id="lifecycle-badge" hx-swap-oob="true" class="badge [^"]*">creating<\/span>/);
    // Made by the wizard (an OS template chosen), so a built one offers “Deploy again”.
    await env.deps.knex('containers').where({ id: container.id }).update({ config: { ...container.config, ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst' } });
    await rec.complete({ status: 'Ready at 10.0.0.9', ip: '10.0.0.9' });
    await conn.ended;
    const done = conn.events.at(-1)!;
    expect(done.event).toBe('done');
    const page = await (await fetch(`${server.baseUrl}/containers/${container.id}`, { headers: { Cookie: cookie } })).text();
    const element = (html: string, tag: string, id: string) => {
      const start = html.indexOf(`<${tag} id="${id}"`);
      return start < 0 ? `(no #${id})` : html.slice(start, html.indexOf(`</${tag}>`, start)).replace(' hx-swap-oob="true"', '');
    };
    for (const [tag, id] of [['p', 'container-heading'], ['span', 'lifecycle-badge'], ['section', 'stepper'], ['section', 'status-panel'], ['section', 'container-config'], ['span', 'log-count']] as const) {
      expect(element(done.data, tag, id), id).toBe(element(page, tag, id));
    }
    expect(element(page, 'span', 'log-count')).toContain('12 lines');
    expect(element(page, 'span', 'lifecycle-badge')).toContain('ready');
    // A page open while the build finished offers “Deploy again” as a reload does.
    expect(element(done.data, 'p', 'container-heading')).toContain(`href="/containers/new?from=${container.id}"`);
  });

  it('gives viewers ending together each their own last message: their CSRF token, actions only where they may act', async () => {
    const { container, rec } = await containerWithLog(3);
    await ensureUser(env.deps, 'onlooker', 'onlooker-password', 'viewer');
    const mine = await signIn(server.baseUrl, 'owner', 'owner-password');
    const theirs = await signIn(server.baseUrl, 'onlooker', 'onlooker-password');
    const owners = await Promise.all([connectSse(streamUrl(container.id), { cookie: mine.cookie }), connectSse(streamUrl(container.id), { cookie: mine.cookie })]);
    const onlooker = await connectSse(streamUrl(container.id), { cookie: theirs.cookie });
    await Promise.all([...owners, onlooker].map((c) => c.waitFor(() => linesOf(c).length >= 3)));
    // A failed build: its owner may retry it or destroy what is left.
    await rec.fail('apt-get exited with 100');
    const [a, b, other] = await Promise.all([...owners, onlooker].map(async (c) => (await c.ended, c.events.at(-1)!)));
    for (const done of [a!, b!, other!]) {
      expect(done.event).toBe('done');
      expect(done.data).toContain('apt-get exited with 100');
      expect(done.data).not.toContain('csrf-stand-in');
    }
    // The owner's forms carry the owner's session token; the onlooker gets no actions and no token of anyone's.
    expect(a!.data).toContain(`value="${mine.csrf}"`);
    expect(a!.data).toBe(b!.data);
    expect(other!.data).not.toContain(mine.csrf);
    expect(other!.data).not.toContain('name="_csrf"');
    expect(a!.data).toContain('name="_csrf"');
  });

  it('an admin and the owning operator ending together: both may act, only the admin is told whose it is', async () => {
    const { container, rec } = await containerWithLog(2);
    await ensureUser(env.deps, 'chief', 'chief-password', 'admin');
    const mine = await signIn(server.baseUrl, 'owner', 'owner-password');
    const chief = await signIn(server.baseUrl, 'chief', 'chief-password');
    const conns = await Promise.all([connectSse(streamUrl(container.id), { cookie: mine.cookie }), connectSse(streamUrl(container.id), { cookie: chief.cookie })]);
    await Promise.all(conns.map((c) => c.waitFor(() => linesOf(c).length >= 2)));
    await rec.fail('apt-get exited with 100');
    const [ownerDone, adminDone] = await Promise.all(conns.map(async (c) => (await c.ended, c.events.at(-1)!)));
    for (const done of [ownerDone!, adminDone!]) expect(done.data).toContain(`action="/containers/${container.id}/retry"`);
    expect(adminDone!.data).toMatch(/<dt[^>]*>Owner<\/dt><dd[^>]*>owner<\/dd>/);
    expect(ownerDone!.data).not.toMatch(/<dt[^>]*>Owner<\/dt>/);
  });

  it('paces a long replay to a reader that stops for a while: one connection, every line once, never cut', async () => {
    // ~12 MB of rows: far more than the pending-bytes cap (1 MiB) plus what the kernel's socket buffers absorb.
    const lines = 40_000;
    const container = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, container.id, { maxBatch: 5_000 });
    const padding = 'p'.repeat(180);
    for (let i = 1; i <= lines; i++) rec.log('stdout', `line ${i} ${padding}`);
    await rec.complete({ status: 'Ready.' });
    await rec.close();

    const conn = await connectSse(streamUrl(container.id, 0), { cookie });
    conn.pause();
    await new Promise((r) => setTimeout(r, 2_000));
    // Meanwhile the process keeps answering: the replay waits for the reader instead of rendering ahead.
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    conn.resume();
    await Promise.race([conn.ended, conn.waitFor((e) => e.event === 'done', 60_000)]);
    const seen = linesOf(conn);
    expect(conn.events.at(-1)?.event, `the stream ended after ${seen.length} of ${lines} lines`).toBe('done');
    expect(seen.length).toBe(lines);
    expect(seen).toEqual(Array.from({ length: lines }, (_, i) => i + 1));
  }, 90_000);

  it('paces a live build to a reader that stops for a while: caught up from Postgres, one connection, never cut', async () => {
    const lines = 40_000;
    const container = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, container.id, { maxBatch: 5_000 });
    await rec.enterPhase('syncing', 'Running scripts');
    await rec.flush();
    const conn = await connectSse(streamUrl(container.id), { cookie });
    await conn.waitFor((e) => e.event === 'live');
    conn.pause();
    // ~8 MB of lines while the reader takes nothing: live, as fast as the recorder stores them.
    const padding = 'p'.repeat(180);
    for (let i = 1; i <= lines; i++) rec.log('stdout', `line ${i} ${padding}`);
    await rec.flush();
    await new Promise((r) => setTimeout(r, 1_000));
    conn.resume();
    await rec.complete({ status: 'Ready.' });
    await rec.close();
    await Promise.race([conn.ended, conn.waitFor((e) => e.event === 'done', 60_000)]);
    const seen = linesOf(conn);
    expect(conn.events.at(-1)?.event, `the stream ended after ${seen.length} of ${lines} lines`).toBe('done');
    expect(seen).toEqual(Array.from({ length: lines }, (_, i) => i + 1));
  }, 90_000);

  it('caps the streams one session may hold open (429) and frees the slot when one closes', async () => {
    const limitedCookie = (await signIn(server.baseUrl, 'stranger', 'stranger-password')).cookie;
    const mine = await insertContainer(env.deps, (await env.deps.repos.users.findByUsername('stranger'))!.id, nodeId);
    const open = [];
    for (let i = 0; i < 6; i++) {
      const conn = await connectSse(streamUrl(mine.id), { cookie: limitedCookie });
      expect(conn.status).toBe(200);
      open.push(conn);
    }
    const refused = await connectSse(streamUrl(mine.id), { cookie: limitedCookie });
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('5');
    open.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await connectSse(streamUrl(mine.id), { cookie: limitedCookie });
    expect(again.status).toBe(200);
    for (const c of [...open, again]) c.close();
  });

  it('rejects a malformed cursor, unknown or foreign containers, and strangers without a session', async () => {
    const { container } = await containerWithLog(1);
    const bad = await connectSse(`${streamUrl(container.id)}?after=abc`, { cookie });
    expect(bad.status).toBe(422);
    const unknown = await connectSse(streamUrl('7d9c1b7e-0000-4000-8000-000000000000'), { cookie });
    expect(unknown.status).toBe(404);
    const strangerCookie = (await signIn(server.baseUrl, 'stranger', 'stranger-password')).cookie;
    const foreign = await connectSse(streamUrl(container.id), { cookie: strangerCookie });
    expect(foreign.status).toBe(404);
    const anonymous = await connectSse(streamUrl(container.id));
    expect(anonymous.status).toBe(401);
    const log = await fetch(`${server.baseUrl}/containers/${container.id}/log.txt`, { headers: { Cookie: strangerCookie } });
    expect(log.status).toBe(404);
  });
});
