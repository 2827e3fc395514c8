// The stream gateway (src/http/stream-gateway.ts): a signed-in page's live streams are answered before Express and
// leave the session as it was; everything else goes through Express and is answered as it always was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { connectSse } from './support/sse-client.ts';
import { insertContainer, insertNode, recorderFor } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let owner: Awaited<ReturnType<typeof ensureUser>>;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv();
  server = await listen(createApp(env.deps));
  owner = await ensureUser(env.deps, 'gw-owner', 'gw-owner-password');
  await ensureUser(env.deps, 'gw-admin', 'gw-admin-password', 'admin');
  nodeId = (await insertNode(env.deps, 'pve-gw')).id;
}, 60_000);
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const sidOf = (cookie: string) => decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;
const expiryOf = async (sid: string) => (await env.deps.knex('sessions').where({ sid }).first('expire'))?.expire as Date | undefined;

async function builtContainer() {
  const c = await insertContainer(env.deps, owner.id, nodeId);
  const rec = recorderFor(env.deps, c.id);
  await rec.enterPhase('creating', 'Creating CT');
  rec.log('stdout', 'line 1');
  await rec.complete({ status: 'Ready', ip: '10.0.0.7' });
  await rec.close();
  return c;
}

describe('the stream gateway', () => {
  it("answers a signed-in page's streams before Express: the session is read, never written or extended", async () => {
    const c = await builtContainer();
    const { cookie } = await signIn(server.baseUrl, 'gw-owner', 'gw-owner-password');
    const sid = sidOf(cookie);
    await env.deps.knex('sessions').where({ sid }).update({ expire: new Date(Date.now() + 60_000) });
    const before = await expiryOf(sid);

    // Through Express, any request renews a rolling session and is given a request id…
    const page = await fetch(`${server.baseUrl}/containers/${c.id}/status`, { headers: { Cookie: cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('x-request-id')).toBeTruthy();
    expect(page.headers.getSetCookie().some((h) => h.startsWith('launchpad.sid='))).toBe(true);
    // The whole body: express-session ends the response only once the store has touched the session, and fetch
    // resolves at the headers — resetting the expiry before then raced the touch (seen once in CI).
    await page.text();
    await env.deps.knex('sessions').where({ sid }).update({ expire: before });

    // …the gateway's streams neither: both streams, to their end.
    for (const path of ['events', 'live']) {
      const stream = await connectSse(`${server.baseUrl}/containers/${c.id}/${path}`, { cookie });
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(stream.headers['set-cookie']).toBeUndefined();
      expect(stream.headers['x-request-id']).toBeUndefined();
      if (path === 'events') expect((await stream.waitFor((e) => e.event === 'done', 10_000)).data).toContain('id="status-panel" hx-swap-oob="true"');
      stream.close();
    }
    expect(await expiryOf(sid)).toEqual(before);
  });

  it('leaves everything else to Express, which answers as before', async () => {
    const c = await builtContainer();
    const url = `${server.baseUrl}/containers/${c.id}/events`;
    const { cookie } = await signIn(server.baseUrl, 'gw-owner', 'gw-owner-password');

    const anonymous = await connectSse(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.bodyText).toBe('Sign in first.');
    // A cookie whose signature does not match is no session at all.
    const forged = cookie.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A'));
    expect((await connectSse(url, { cookie: forged })).status).toBe(401);
    // A cursor that is not a number: Express's validation answer, with its request id.
    const bad = await connectSse(`${url}?after=abc`, { cookie });
    expect(bad.status).toBe(422);
    expect(bad.headers['x-request-id']).toBeTruthy();
    const twice = await connectSse(`${url}?after=1&after=2`, { cookie });
    expect(twice.headers['x-request-id']).toBeTruthy();
    // Another operator's container does not exist for them.
    await ensureUser(env.deps, 'gw-other', 'gw-other-password');
    const other = await signIn(server.baseUrl, 'gw-other', 'gw-other-password');
    expect((await connectSse(url, { cookie: other.cookie })).status).toBe(404);

    // An account disabled while signed in: its next stream is refused and its session forgets the user.
    await ensureUser(env.deps, 'gw-viewer', 'gw-viewer-password', 'viewer');
    const viewer = await signIn(server.baseUrl, 'gw-viewer', 'gw-viewer-password');
    const live = `${server.baseUrl}/containers/${c.id}/live`;
    const allowed = await connectSse(live, { cookie: viewer.cookie });
    expect(allowed.status).toBe(200);
    allowed.close();
    const user = (await env.deps.repos.users.findByUsername('gw-viewer'))!;
    await env.deps.repos.users.change(user.id, { disabled: true });
    const disabled = await connectSse(live, { cookie: viewer.cookie });
    expect(disabled.status).toBe(401);
    // (express-session stores it as the response ends, not before)
    const userIdKept = async () => (await env.deps.knex('sessions').where({ sid: sidOf(viewer.cookie) }).first('sess'))?.sess?.userId;
    for (let i = 0; i < 50 && (await userIdKept()) !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await userIdKept()).toBeUndefined();
  });

  it('serves an API token through Express, with the same stream', async () => {
    const c = await builtContainer();
    const admin = await signIn(server.baseUrl, 'gw-admin', 'gw-admin-password');
    const created = await fetch(`${server.baseUrl}/account/tokens`, {
      method: 'POST',
      headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: admin.csrf, name: 'gateway', expires_in_days: '' }),
    });
    expect(created.redirected).toBe(true);
    const token = /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec(await created.text())![1]!;
    const viaToken = await connectSse(`${server.baseUrl}/containers/${c.id}/events`, { headers: { Authorization: `Bearer ${token}` } });
    const viaSession = await connectSse(`${server.baseUrl}/containers/${c.id}/events`, { cookie: admin.cookie });
    await Promise.all([viaToken.ended, viaSession.ended]);
    expect(viaToken.status).toBe(200);
    expect(viaToken.headers['x-request-id']).toBeTruthy();
    expect(viaSession.headers['x-request-id']).toBeUndefined();
    const withoutTokens = (events: typeof viaToken.events) => events.map((e) => `${e.id} ${e.event} ${e.data.replace(/name="_csrf" value="[^"]*"|"X-CSRF-Token":\s*"[^"]*"/g, '')}`);
    expect(withoutTokens(viaToken.events)).toEqual(withoutTokens(viaSession.events));
    expect(viaToken.events.at(-1)!.event).toBe('done');
  });
});
