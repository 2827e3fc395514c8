// Open live streams end when the account behind them loses access: disabled or deleted, given another role, its
// password changed (its sessions end), the API token they were opened with revoked — within a moment, in every web
// process (two sets of connections on one Postgres and one Redis here), whichever door the stream came in by (the
// stream gateway for a page's session, Express for a token, log.txt?follow, a template test's stream) and whichever
// stream it is (a failed build's quiet watch stream too). Streams of other accounts and other credentials stay open.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { buildDeps, type Deps } from '../src/deps.ts';
import type { Role } from '../src/domain/roles.ts';
import { insertContainer, insertNode, recorderFor } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { connectSse, type SseConnection } from './support/sse-client.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let second: Deps;
let web: Array<Awaited<ReturnType<typeof listen>>>;
let admin: { cookie: string; csrf: string };
let nodeId: number;
let adminId: number;
const PASSWORD = 'stream-access-password';
/**
 * "Promptly": the reviewer's measure was "within a second or so", counted from the answer to the request that made
 * the change (which itself may take a while on a loaded machine: a password change hashes twice).
 */
const PROMPTLY_MS = 1_500;
/** Every stream a test opens, closed after it whatever happened. */
const opened: Array<{ close(): void }> = [];

beforeAll(async () => {
  env = await createTestEnv();
  second = await buildDeps(env.config, 'web-2', env.deps.logger);
  web = [await listen(createApp(env.deps)), await listen(createApp(second))];
  adminId = (await ensureUser(env.deps, 'sa-admin', PASSWORD, 'admin')).id;
  admin = await signIn(web[0]!.baseUrl, 'sa-admin', PASSWORD);
  nodeId = (await insertNode(env.deps)).id;
}, 60_000);
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});
afterAll(async () => {
  for (const w of web ?? []) await w.close();
  await second?.close();
  await env?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A build still running (the admin's, or an operator's own) with a first line logged: its streams stay open. */
async function runningBuild(ownerId = adminId) {
  const c = await insertContainer(env.deps, ownerId, nodeId);
  const rec = recorderFor(env.deps, c.id);
  await rec.enterPhase('creating', 'Creating CT');
  rec.log('stdout', 'line 1');
  await rec.close();
  return c;
}
let vmid = 190;

/** A built CT whose page watches its usage: the /live stream never ends on its own. */
async function builtContainer(ownerId = adminId) {
  const c = await insertContainer(env.deps, ownerId, nodeId);
  const rec = recorderFor(env.deps, c.id);
  await rec.enterPhase('creating', 'Creating CT');
  await rec.complete({ status: 'Ready', ip: '10.0.0.9' });
  await rec.close();
  await env.deps.knex('containers').where({ id: c.id }).update({ vmid: vmid++ });
  return c;
}

/** A failed build: its page keeps the quiet watch stream, which never ends on its own. Returns the stream's path. */
async function failedBuildWatch() {
  const c = await insertContainer(env.deps, adminId, nodeId);
  const rec = recorderFor(env.deps, c.id);
  await rec.enterPhase('creating', 'Creating CT');
  await rec.fail('Create Container failed.');
  await rec.close();
  return `/containers/${c.id}/watch?seen=${(await env.deps.repos.containers.findById(c.id))!.lastSeq}`;
}

async function post(process: number, path: string, who: { cookie: string; csrf: string }, fields: Record<string, string> = {}) {
  return fetch(`${web[process]!.baseUrl}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: who.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: who.csrf, ...fields }),
  });
}

async function createToken(who: { cookie: string; csrf: string }, name: string): Promise<{ token: string; id: number }> {
  const res = await post(0, '/account/tokens', who, { name });
  expect(res.status).toBe(303);
  const shown = await fetch(`${web[0]!.baseUrl}${res.headers.get('location')}`, { headers: { Cookie: who.cookie } });
  const token = /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec(await shown.text())![1]!;
  const row = await env.deps.knex('api_tokens').where({ name }).orderBy('id', 'desc').first('id');
  return { token, id: row.id };
}

async function person(username: string, role: Role) {
  const user = await ensureUser(env.deps, username, PASSWORD, role);
  return { user, session: await signIn(web[0]!.baseUrl, username, PASSWORD) };
}

/** An open stream, checked to be streaming (200 and its `retry:` line read). */
async function openStream(process: number, path: string, auth: { cookie?: string; token?: string }): Promise<SseConnection> {
  const conn = await connectSse(`${web[process]!.baseUrl}${path}`, { cookie: auth.cookie, headers: auth.token ? { Authorization: `Bearer ${auth.token}` } : {} });
  opened.push(conn);
  expect(conn.status, `${path}: ${conn.bodyText}`).toBe(200);
  for (let i = 0; i < 100 && conn.retry === undefined; i++) await sleep(20);
  expect(conn.retry).toBe(3000);
  return conn;
}

/** log.txt?follow with a token (or a session's cookie): a plain-text response that stays open while the build runs. */
async function followLog(process: number, containerId: string, auth: string | { cookie: string }) {
  const abort = new AbortController();
  const headers: Record<string, string> = typeof auth === 'string' ? { Authorization: `Bearer ${auth}` } : { Cookie: auth.cookie };
  const res = await fetch(`${web[process]!.baseUrl}/containers/${containerId}/log.txt?follow=1`, { headers, signal: abort.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const ended = (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // cut: the stream ended
    }
  })();
  const stream = { ended, close: () => abort.abort() };
  opened.push(stream);
  return stream;
}

/** How long each stream took to end after `since` (0 if it had ended before; Infinity: still open after `waitMs`). */
async function endTimes(streams: Record<string, { ended: Promise<void> }>, since: number, waitMs = 3_000): Promise<Record<string, number>> {
  const entries = await Promise.all(
    Object.entries(streams).map(async ([name, s]) => [name, await Promise.race([s.ended.then(() => Math.max(0, performance.now() - since)), sleep(waitMs).then(() => Infinity)])] as const),
  );
  return Object.fromEntries(entries);
}

const stillOpen = async (streams: Record<string, { ended: Promise<void> }>) =>
  Object.values(await endTimes(streams, performance.now(), 500)).every((t) => t === Infinity);

describe('open streams when an account loses access', () => {
  it('a disabled user’s streams end at once in every web process, session and token alike; others stay open', async () => {
    const { user, session } = await person('sa-viewer', 'viewer');
    const { token } = await createToken(session, 'sa-viewer-script');
    const build = await runningBuild();
    const built = await builtContainer();
    const watched = await failedBuildWatch();
    const theirs = {
      eventsHere: await openStream(0, `/containers/${build.id}/events`, { cookie: session.cookie }),
      liveHere: await openStream(0, `/containers/${built.id}/live`, { cookie: session.cookie }),
      eventsThere: await openStream(1, `/containers/${build.id}/events`, { cookie: session.cookie }),
      liveThere: await openStream(1, `/containers/${built.id}/live`, { cookie: session.cookie }),
      tokenThere: await openStream(1, `/containers/${build.id}/events`, { token }),
      watchHere: await openStream(0, watched, { cookie: session.cookie }),
      watchTokenThere: await openStream(1, watched, { token }),
      followHere: await followLog(0, build.id, token),
    };
    const adminsOwn = { events: await openStream(1, `/containers/${build.id}/events`, { cookie: admin.cookie }) };
    // (The quiet watch streams stay open on their own, by either door.)
    expect(await stillOpen({ watchHere: theirs.watchHere, watchTokenThere: theirs.watchTokenThere })).toBe(true);

    expect((await post(0, `/users/${user.id}/disable`, admin)).status).toBe(303);
    const at = performance.now();
    const took = await endTimes(theirs, at);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended after ${ms.toFixed(0)} ms`).toBeLessThan(PROMPTLY_MS);
    expect(await stillOpen(adminsOwn)).toBe(true);

    // And they cannot come back.
    expect((await connectSse(`${web[1]!.baseUrl}/containers/${build.id}/events`, { cookie: session.cookie })).status).toBe(401);
    expect((await connectSse(`${web[1]!.baseUrl}/containers/${build.id}/events`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it('a role change ends the user’s streams (a template test’s too); reconnecting is authorised under the new role', async () => {
    const { user, session } = await person('sa-demoted', 'admin');
    const build = await runningBuild();
    const templateId = await env.deps.repos.templates.createCustom({
      name: 'sa-template', description: '', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 0, disk: 4,
      unprivileged: true, nesting: false, tags: [], scripts: [], files: [], packages: [],
    });
    const run = await env.deps.repos.templateTests.create({ id: randomUUID(), templateId: templateId as number, templateName: 'sa-template', requestedBy: user.id });
    if (run === 'busy') throw new Error('a test of sa-template is already running');
    const theirs = {
      events: await openStream(1, `/containers/${build.id}/events`, { cookie: session.cookie }),
      templateTest: await openStream(0, `/templates/${String(templateId)}/tests/${run.id}/events`, { cookie: session.cookie }),
    };

    expect((await post(0, `/users/${user.id}/role`, admin, { role: 'viewer' })).status).toBe(303);
    const at = performance.now();
    const took = await endTimes(theirs, at);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended after ${ms.toFixed(0)} ms`).toBeLessThan(PROMPTLY_MS);

    // Still signed in, now as a viewer: the page's stream reconnects; the admins-only one is refused.
    await openStream(1, `/containers/${build.id}/events`, { cookie: session.cookie });
    expect((await connectSse(`${web[0]!.baseUrl}/templates/${String(templateId)}/tests/${run.id}/events`, { cookie: session.cookie })).status).toBe(403);
  });

  it('a password change ends the streams of the account’s other sessions; its API tokens’ streams stay', async () => {
    const { user, session: here } = await person('sa-changer', 'operator');
    const elsewhere = await signIn(web[1]!.baseUrl, 'sa-changer', PASSWORD);
    const { token } = await createToken(here, 'sa-changer-script');
    const build = await runningBuild(user.id);
    const sessions = {
      elsewhere: await openStream(1, `/containers/${build.id}/events`, { cookie: elsewhere.cookie }),
      here: await openStream(0, `/containers/${build.id}/events`, { cookie: here.cookie }),
    };
    const script = { token: await openStream(1, `/containers/${build.id}/events`, { token }) };

    const changed = await post(0, '/account/password', here, { current_password: PASSWORD, password: 'a-new-password-1', password_confirm: 'a-new-password-1' });
    expect(changed.status).toBe(303);
    const at = performance.now();
    const took = await endTimes(sessions, at);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended after ${ms.toFixed(0)} ms`).toBeLessThan(PROMPTLY_MS);
    expect(await stillOpen(script)).toBe(true);
  });

  it('revoking a token ends that token’s streams only', async () => {
    const { user, session } = await person('sa-scripter', 'operator');
    const revoked = await createToken(session, 'sa-revoked');
    const kept = await createToken(session, 'sa-kept');
    const build = await runningBuild(user.id);
    const ofRevoked = {
      events: await openStream(1, `/containers/${build.id}/events`, { token: revoked.token }),
      follow: await followLog(0, build.id, revoked.token),
    };
    const others = {
      keptToken: await openStream(0, `/containers/${build.id}/events`, { token: kept.token }),
      session: await openStream(1, `/containers/${build.id}/events`, { cookie: session.cookie }),
    };

    expect((await post(0, `/account/tokens/${revoked.id}/revoke`, session)).status).toBe(303);
    const at = performance.now();
    const took = await endTimes(ofRevoked, at);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended after ${ms.toFixed(0)} ms`).toBeLessThan(PROMPTLY_MS);
    expect(await stillOpen(others)).toBe(true);
  });

  it('a deleted user’s streams end', async () => {
    const { user, session } = await person('sa-deleted', 'viewer');
    const built = await builtContainer();
    const theirs = { live: await openStream(1, `/containers/${built.id}/live`, { cookie: session.cookie }) };
    expect((await post(0, `/users/${user.id}/delete`, admin)).status).toBe(303);
    const at = performance.now();
    expect((await endTimes(theirs, at)).live).toBeLessThan(PROMPTLY_MS);
  });

  it('an API token’s streams end when it expires, as new requests with it are refused from then on', async () => {
    const { user, session } = await person('sa-expiring', 'operator');
    const expiring = await createToken(session, 'sa-expiring-ci');
    const build = await runningBuild(user.id);
    const expiresAt = new Date(Date.now() + 1_500);
    await env.deps.knex('api_tokens').where({ id: expiring.id }).update({ expires_at: expiresAt });
    const ofExpiring = {
      events: await openStream(1, `/containers/${build.id}/events`, { token: expiring.token }),
      follow: await followLog(0, build.id, expiring.token),
    };
    const others = { session: await openStream(0, `/containers/${build.id}/events`, { cookie: session.cookie }) };

    const took = await endTimes(ofExpiring, performance.now() + (expiresAt.getTime() - Date.now()), 5_000);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended ${ms.toFixed(0)} ms after the expiry`).toBeLessThan(PROMPTLY_MS);
    expect((await fetch(`${web[0]!.baseUrl}/containers/${build.id}/events`, { headers: { Authorization: `Bearer ${expiring.token}` } })).status).toBe(401);
    expect(await stillOpen(others)).toBe(true);
  });

  it('a browser session’s streams end when it expires, as new requests with it are refused from then on', async () => {
    const { user, session: expiring } = await person('sa-session-expiring', 'operator');
    const staying = await signIn(web[0]!.baseUrl, 'sa-session-expiring', PASSWORD);
    const build = await runningBuild(user.id);
    const built = await builtContainer(user.id);
    // The session's lifetime (12 hours, renewed by each request) cut short, where the store keeps it.
    const sid = decodeURIComponent(expiring.cookie.split('=')[1]!).slice(2).split('.')[0]!;
    const expiresAt = new Date(Date.now() + 1_500);
    expect(await env.deps.knex('sessions').where({ sid }).update({ expire: expiresAt })).toBe(1);
    const ofExpiring = {
      events: await openStream(1, `/containers/${build.id}/events`, { cookie: expiring.cookie }),
      live: await openStream(0, `/containers/${built.id}/live`, { cookie: expiring.cookie }),
      follow: await followLog(0, build.id, expiring),
    };
    const others = { session: await openStream(0, `/containers/${build.id}/events`, { cookie: staying.cookie }) };

    const took = await endTimes(ofExpiring, performance.now() + (expiresAt.getTime() - Date.now()), 5_000);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended ${ms.toFixed(0)} ms after the expiry`).toBeLessThan(PROMPTLY_MS);
    expect((await fetch(`${web[1]!.baseUrl}/containers/${build.id}/events`, { headers: { Cookie: expiring.cookie, Accept: 'text/event-stream' } })).status).toBe(401);
    expect(await stillOpen(others)).toBe(true);
  });

  it('signing out ends the streams of that browser session only; the account’s other sessions and tokens keep theirs', async () => {
    const { user, session: leaving } = await person('sa-leaver', 'viewer');
    const staying = await signIn(web[0]!.baseUrl, 'sa-leaver', PASSWORD);
    const token = await createToken(staying, 'sa-leaver-ci');
    const built = await builtContainer();
    const build = await runningBuild();
    const ofLeaving = {
      live: await openStream(1, `/containers/${built.id}/live`, { cookie: leaving.cookie }),
      events: await openStream(0, `/containers/${build.id}/events`, { cookie: leaving.cookie }),
    };
    const others = {
      session: await openStream(1, `/containers/${built.id}/live`, { cookie: staying.cookie }),
      token: await openStream(0, `/containers/${build.id}/events`, { token: token.token }),
    };
    expect(user.role).toBe('viewer');

    // A browser on a shared desk signed out: what its tabs still had open must not keep showing the builds.
    expect((await post(0, '/logout', leaving)).status).toBe(303);
    const at = performance.now();
    const took = await endTimes(ofLeaving, at);
    for (const [name, ms] of Object.entries(took)) expect(ms, `${name} ended after ${ms.toFixed(0)} ms`).toBeLessThan(PROMPTLY_MS);
    expect(await stillOpen(others)).toBe(true);
  });

  it('nothing is kept for streams that ended, whichever way they ended', async () => {
    // Every stream of this file has ended (closed by the server, or by its client after each test).
    for (let i = 0; i < 100 && env.deps.access.watching + second.access.watching > 0; i++) await sleep(20);
    expect([env.deps.access.watching, second.access.watching]).toEqual([0, 0]);
  });
});
