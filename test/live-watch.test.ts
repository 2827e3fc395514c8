// A failed or cancelled build's page keeps a quiet stream (GET /containers/:id/watch?seen=<seq>): heartbeats only,
// no usage polling, until the container has anything the page does not show — a teammate's Retry, a Destroy, a
// Forget — and then one `done` with the page's state and a stream slot that opens the progress stream from the page's
// own seq (so the retry's log follows without a gap). Real Postgres and Redis; Retry through the front door (no worker:
// the build stays queued).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { User } from '../src/db/users-repository.ts';
import { connectSse } from './support/sse-client.ts';
import { insertContainer, insertNode, recorderFor, streamedLinesIn } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

const HEARTBEAT_MS = 300;
let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let owner: User;
let nodeId: number;
const sessions: Record<'owner' | 'admin' | 'viewer' | 'stranger', { cookie: string; csrf: string }> = {} as never;

beforeAll(async () => {
  env = await createTestEnv({ SSE_HEARTBEAT_MS: String(HEARTBEAT_MS) });
  server = await listen(createApp(env.deps));
  owner = await ensureUser(env.deps, 'owner', 'owner-password-long');
  await ensureUser(env.deps, 'teammate', 'teammate-password-long', 'admin');
  await ensureUser(env.deps, 'onlooker', 'onlooker-password-long', 'viewer');
  await ensureUser(env.deps, 'stranger', 'stranger-password-long');
  sessions.owner = await signIn(server.baseUrl, 'owner', 'owner-password-long');
  sessions.admin = await signIn(server.baseUrl, 'teammate', 'teammate-password-long');
  sessions.viewer = await signIn(server.baseUrl, 'onlooker', 'onlooker-password-long');
  sessions.stranger = await signIn(server.baseUrl, 'stranger', 'stranger-password-long');
  nodeId = (await insertNode(env.deps)).id;
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

/** A build that failed in Run Scripts after `lines` lines (`line N`), or was cancelled there. */
async function stoppedBuild(how: 'failed' | 'cancelled', lines = 3) {
  const container = await insertContainer(env.deps, owner.id, nodeId);
  const rec = recorderFor(env.deps, container.id);
  await rec.enterPhase('creating', 'Creating the container…');
  await rec.enterPhase('syncing', 'Running 10-install.sh');
  for (let i = 1; i <= lines; i++) rec.log('stdout', `line ${i}`);
  if (how === 'failed') await rec.fail('Script 10-install.sh exited with code 100.');
  else await rec.cancelled('Cancelled by owner.');
  return container;
}

const pageOf = async (id: string, who: keyof typeof sessions) => {
  const res = await fetch(`${server.baseUrl}/containers/${id}`, { headers: { Cookie: sessions[who].cookie } });
  expect(res.status).toBe(200);
  return res.text();
};
/** The watch stream the page opens (its URL, as the page's sse-connect has it). */
const watchUrlIn = (html: string) => /<div id="watch-stream" hidden sse-connect="([^"]+)"/.exec(html)?.[1];
const watch = (path: string, who: keyof typeof sessions) => connectSse(`${server.baseUrl}${path}`, { cookie: sessions[who].cookie });
const post = (id: string, action: string, who: keyof typeof sessions, body: Record<string, string> = {}) =>
  fetch(`${server.baseUrl}/containers/${id}/${action}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: sessions[who].cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: sessions[who].csrf, ...body }),
  });
const actionsIn = (html: string, id: string) => [...html.matchAll(new RegExp(`action="/containers/${id}/(\\w+)"`, 'g'))].map((m) => m[1]);
const lastSeq = async (id: string) => (await env.deps.repos.containers.findById(id))!.lastSeq;

describe('a failed or cancelled build’s page', () => {
  it('opens the quiet watch stream from the seq it shows; the stream sends heartbeats and live, nothing else', async () => {
    const c = await stoppedBuild('failed');
    const html = await pageOf(c.id, 'admin');
    expect(watchUrlIn(html)).toBe(`/containers/${c.id}/watch?seen=${await lastSeq(c.id)}`);
    expect(html).not.toContain('id="progress-stream"');
    expect(html).not.toContain('id="usage-stream"');
    expect(html).toContain('id="stream-health"');
    // Without JavaScript it does not reload itself: nothing runs.
    expect(html).not.toContain('http-equiv="refresh"');

    const stream = await watch(watchUrlIn(html)!, 'admin');
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      await stream.waitFor((e) => e.event === 'live');
      await stream.waitFor((e) => e.event === 'heartbeat', HEARTBEAT_MS * 4);
      expect(stream.events.map((e) => e.event).filter((e) => e !== 'heartbeat')).toEqual(['live']);
    } finally {
      stream.close();
    }
  });

  it('a teammate’s Retry ends it with the new state (queued, Cancel offered, no Retry) and hands over to the progress stream', async () => {
    const c = await stoppedBuild('cancelled');
    const seen = await lastSeq(c.id);
    const adminPage = await pageOf(c.id, 'admin');
    const viewerPage = await pageOf(c.id, 'viewer');
    expect(actionsIn(adminPage, c.id)).toContain('retry');
    const [asAdmin, asViewer] = [await watch(watchUrlIn(adminPage)!, 'admin'), await watch(watchUrlIn(viewerPage)!, 'viewer')];
    try {
      await Promise.all([asAdmin.waitFor((e) => e.event === 'live'), asViewer.waitFor((e) => e.event === 'live')]);
      expect((await post(c.id, 'retry', 'owner')).status).toBe(303);

      const done = await asAdmin.waitFor((e) => e.event === 'done', 5_000);
      expect(done.data).toContain('id="lifecycle-badge"');
      expect(done.data).toMatch(/>queued</);
      expect(done.data).toContain('Retry requested by owner; waiting for a worker…');
      expect(actionsIn(done.data, c.id)).toContain('cancel');
      expect(actionsIn(done.data, c.id)).not.toContain('retry');
      // The slot opens the progress stream where the page's log ends: the retry's lines follow without a gap.
      expect(done.data).toContain('<div id="stream-slot" hx-swap-oob="true">');
      expect(done.data).toContain(`sse-connect="/containers/${c.id}/events?after=${seen}"`);
      expect(done.data).not.toContain('id="watch-stream"');
      await asAdmin.ended;

      // A viewer watching sees the same state, and may act on nothing.
      const forViewer = await asViewer.waitFor((e) => e.event === 'done', 5_000);
      expect(forViewer.data).toMatch(/>queued</);
      expect(actionsIn(forViewer.data, c.id)).toEqual([]);
      expect(forViewer.data).toContain(`sse-connect="/containers/${c.id}/events?after=${seen}"`);
      await asViewer.ended;

      // What that progress stream sends: the retry's events, from the page's seq on.
      const progress = await connectSse(`${server.baseUrl}/containers/${c.id}/events?after=${seen}`, { cookie: sessions.admin.cookie });
      try {
        const first = await progress.waitFor((e) => e.event === 'progress');
        expect(Number(first.id)).toBe(seen + 1);
      } finally {
        progress.close();
      }
    } finally {
      asAdmin.close();
      asViewer.close();
      await env.deps.queue.remove(c.id);
    }
  });

  it('a Destroy started by someone else ends it too, with the destroying state', async () => {
    const c = await stoppedBuild('failed');
    const page = await pageOf(c.id, 'viewer');
    const stream = await watch(watchUrlIn(page)!, 'viewer');
    try {
      await stream.waitFor((e) => e.event === 'live');
      expect((await post(c.id, 'destroy', 'admin', { confirm_hostname: c.hostname })).status).toBe(303);
      const done = await stream.waitFor((e) => e.event === 'done', 5_000);
      expect(done.data).toMatch(/>destroying</);
      expect(done.data).toContain(`sse-connect="/containers/${c.id}/events?after=${/seen=(\d+)/.exec(watchUrlIn(page)!)![1]}"`);
    } finally {
      stream.close();
    }
  });

  it('a page that fell behind between its render and the stream (a retry that failed again) is brought up to date at once', async () => {
    const c = await stoppedBuild('failed', 2);
    const page = await pageOf(c.id, 'admin');
    const seen = await lastSeq(c.id);
    // Meanwhile: retried, attempt 2 wrote lines and failed again — the page still shows attempt 1's failure.
    const rec = recorderFor(env.deps, c.id);
    await rec.attempt(2, 'syncing', 'Retry requested by owner');
    await rec.enterPhase('syncing', 'Running 10-install.sh');
    rec.log('stdout', 'line 3');
    rec.log('stdout', 'line 4');
    await rec.fail('Script 10-install.sh exited with code 100 again.');

    const stream = await watch(watchUrlIn(page)!, 'admin');
    const done = await stream.waitFor((e) => e.event === 'done', 5_000);
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(['done']);
    expect(done.data).toContain('Script 10-install.sh exited with code 100 again.');
    expect(done.data).toContain(`sse-connect="/containers/${c.id}/events?after=${seen}"`);

    // The progress stream replays what the page lacks, then hands back to a watch stream from the new seq.
    const progress = await connectSse(`${server.baseUrl}/containers/${c.id}/events?after=${seen}`, { cookie: sessions.admin.cookie });
    const end = await progress.waitFor((e) => e.event === 'done', 5_000);
    const lines = progress.events.filter((e) => e.event === 'log').flatMap((e) => streamedLinesIn(e.data)).filter((n) => !Number.isNaN(n));
    expect(lines).toEqual([3, 4]);
    expect(progress.events.map((e) => e.data).join('\n')).toContain('Attempt 2: Retry requested by owner');
    expect(end.data).toContain(`sse-connect="/containers/${c.id}/watch?seen=${await lastSeq(c.id)}"`);
    progress.close();

    // A page rendered now is current: its watch stream stays quiet.
    const current = await watch(watchUrlIn(await pageOf(c.id, 'admin'))!, 'admin');
    try {
      await current.waitFor((e) => e.event === 'live');
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS));
      expect(current.events.some((e) => e.event === 'done')).toBe(false);
    } finally {
      current.close();
    }
  });

  it('hears a change whose message was lost (a failed publish) at the relay’s periodic check', async () => {
    const c = await stoppedBuild('failed');
    const page = await pageOf(c.id, 'admin');
    const stream = await watch(watchUrlIn(page)!, 'admin');
    try {
      await stream.waitFor((e) => e.event === 'live');
      // Stored, never published: only the relay's check of last_seq (every 5 s) can tell.
      await env.deps.repos.events.append(c.id, [{ kind: 'log', stream: 'system', text: 'Credentials (none) revealed to owner.' }]);
      const done = await stream.waitFor((e) => e.event === 'done', 15_000);
      expect(done.data).toContain(`sse-connect="/containers/${c.id}/events?after=${/seen=(\d+)/.exec(watchUrlIn(page)!)![1]}"`);
    } finally {
      stream.close();
    }
  }, 20_000);

  it('is checked like every stream: a cursor is required, and a container the user may not see is not found', async () => {
    const c = await stoppedBuild('failed');
    const seen = await lastSeq(c.id);
    const bad = await fetch(`${server.baseUrl}/containers/${c.id}/watch?seen=x`, { headers: { Cookie: sessions.admin.cookie } });
    expect(bad.status).toBe(422);
    const missing = await fetch(`${server.baseUrl}/containers/${c.id}/watch`, { headers: { Cookie: sessions.admin.cookie } });
    expect(missing.status).toBe(422);
    const foreign = await fetch(`${server.baseUrl}/containers/${c.id}/watch?seen=${seen}`, { headers: { Cookie: sessions.stranger.cookie } });
    expect(foreign.status).toBe(404);
    const anonymous = await fetch(`${server.baseUrl}/containers/${c.id}/watch?seen=${seen}`, { redirect: 'manual' });
    expect(anonymous.status).not.toBe(200);
  });
});
