// Scripts and CI: API tokens created on /account drive the console with `Authorization: Bearer` — deploy with JSON,
// read JSON status, follow the live log with plain fetch against a listening app and a worker process — and the
// audit trail records who did what. Cookie requests still need their CSRF token.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { createApp } from '../src/app.ts';
import { createApiToken } from '../src/domain/access/api-tokens.ts';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import { listen, signIn } from './support/http-session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import { ensureUser } from './support/http-session.ts';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let worker: WorkerProcess;
let server: Awaited<ReturnType<typeof listen>>;
let base: string;
let admin: { cookie: string; csrf: string };
const PASSWORD = 'correct horse battery staple';

const TEMPLATE: TemplateDefinition = {
  name: 'api-app', description: 'API tests', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 0, disk: 4,
  unprivileged: true, nesting: false, tags: [],
  scripts: [{ name: '10-hello.sh', position: 1, content: 'for i in 1 2 3; do echo "hello line $i"; done\n', enabled: true }],
  files: [], packages: [],
};

const logLines: string[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(chunk.toString());
    done();
  },
});

beforeAll(async () => {
  env = await createTestEnv({ LOG_LEVEL: 'debug' }, createLogger('debug', 'test', capture));
  const app = createApp({ ...env.deps, loginLimits: { perIp: 1000, perAccount: 50, prefix: `${env.prefix}rl:` } });
  sim = await startTestSimulator(env.deps);
  if ((await env.deps.repos.templates.createCustom(TEMPLATE)) === 'taken') throw new Error('template name taken');
  server = await listen(app);
  base = server.baseUrl;
  await ensureUser(env.deps, 'ops', PASSWORD, 'admin');
  admin = await signIn(base, 'ops', PASSWORD);
  worker = startWorkerProcess(env.config);
  await worker.ready;
}, 60_000);

afterAll(async () => {
  worker?.kill();
  await worker?.exited;
  await server?.close();
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
});

/** Creates a token through /account as the signed-in browser would (following the redirect); returns the value shown once. */
async function createToken(name: string, expiresInDays = ''): Promise<string> {
  const res = await fetch(`${base}/account/tokens`, {
    method: 'POST',
    headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: admin.csrf, name, expires_in_days: expiresInDays }),
  });
  expect(res.redirected).toBe(true);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const token = /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec(await res.text())?.[1];
  expect(token).toMatch(/^lp_[A-Za-z0-9_-]{43}$/);
  return token!;
}

const bearer = (token: string, extra: Record<string, string> = {}) => ({ Authorization: `Bearer ${token}`, ...extra });

describe('API tokens', () => {
  it('are shown once, stored only as a hash, and listed with their last use', async () => {
    const token = await createToken('listing');
    const rows = await env.deps.knex('api_tokens').where({ name: 'listing' });
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
    const before = await (await fetch(`${base}/account`, { headers: { Cookie: admin.cookie } })).text();
    expect(before).toContain('listing');
    expect(before).not.toContain(token);
    expect((await fetch(`${base}/containers`, { headers: bearer(token, { Accept: 'application/json' }) })).status).toBe(200);
    const [row] = await env.deps.knex('api_tokens').where({ name: 'listing' });
    expect(row.last_used_at).not.toBeNull();
  });

  it('are created by POST-redirect-GET: the page after the redirect shows the token once, a reload neither shows it nor makes another', async () => {
    const post = await fetch(`${base}/account/tokens`, {
      method: 'POST', redirect: 'manual', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: admin.csrf, name: 'reloaded' }),
    });
    expect(post.status).toBe(303);
    expect(post.headers.get('location')).toBe('/account#api-tokens');
    // Until the page shows it, the token waits in the session row, sealed: not readable there.
    const sessions = JSON.stringify(await env.deps.knex('sessions').select('sess'));
    expect(sessions).toContain('newApiToken');

    const shown = await fetch(`${base}/account`, { headers: { Cookie: admin.cookie } });
    expect(shown.status).toBe(200);
    expect(shown.headers.get('cache-control')).toBe('no-store');
    const html = await shown.text();
    const token = /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec(html)?.[1];
    expect(token).toMatch(/^lp_[A-Za-z0-9_-]{43}$/);
    expect(html).toContain('Token “reloaded” created. Copy it now');
    expect(post.headers.get('location')).not.toContain(token!);
    expect(sessions).not.toContain(token!);

    const reload = await (await fetch(`${base}/account`, { headers: { Cookie: admin.cookie } })).text();
    expect(reload).not.toContain('id="new-token"');
    expect(reload).not.toContain(token!);
    expect(await env.deps.knex('api_tokens').where({ name: 'reloaded' })).toHaveLength(1);
    expect(JSON.stringify(await env.deps.knex('sessions').select('sess'))).not.toContain('newApiToken');
    expect((await fetch(`${base}/containers`, { headers: bearer(token!, { Accept: 'application/json' }) })).status).toBe(200);
  });

  it('sign in without cookie or CSRF; a cookie request without CSRF is still refused', async () => {
    const token = await createToken('csrf-check');
    // Past the CSRF check to the form's own validation (a deploy with no fields), and no cookie is set.
    const withToken = await fetch(`${base}/containers`, {
      method: 'POST', headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }), body: '{}',
    });
    expect(withToken.status).toBe(422);
    expect((await withToken.json()).fields).toBeTruthy();
    expect(withToken.headers.getSetCookie()).toEqual([]);
    const withCookie = await fetch(`${base}/account/tokens`, {
      method: 'POST', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ name: 'no-csrf' }),
    });
    expect(withCookie.status).toBe(403);
    expect(await env.deps.knex('api_tokens').where({ name: 'no-csrf' })).toHaveLength(0);
  });

  it('cannot manage tokens or the password: a bearer request gets 403 JSON, changes nothing, and is audited as denied', async () => {
    const token = await createToken('would-mint');
    const [own] = await env.deps.knex('api_tokens').where({ name: 'would-mint' });
    const asToken = (method: string, path: string, body?: Record<string, string>) =>
      fetch(`${base}${path}`, { method, redirect: 'manual', headers: bearer(token, body ? { 'Content-Type': 'application/json' } : {}), body: body && JSON.stringify(body) });

    const mint = await asToken('POST', '/account/tokens', { name: 'successor' });
    expect(mint.status).toBe(403);
    expect(mint.headers.get('content-type')).toContain('application/json');
    expect((await mint.json()).error).toBe('An API token cannot manage API tokens or the account’s password. Sign in to Launchpad in a browser and use Account (/account).');
    expect(await env.deps.knex('api_tokens').where({ name: 'successor' })).toHaveLength(0);

    expect((await asToken('POST', `/account/tokens/${own.id}/revoke`)).status).toBe(403);
    expect((await env.deps.knex('api_tokens').where({ id: own.id }).first()).revoked_at).toBeNull();
    expect((await asToken('GET', '/account')).status).toBe(403);
    const password = await asToken('POST', '/account/password', { current_password: PASSWORD, password: 'taken-over-pass', password_confirm: 'taken-over-pass' });
    expect(password.status).toBe(403);
    expect((await signIn(base, 'ops', PASSWORD)).cookie).toBeTruthy();

    // Audited once each response has finished: the last entry may be written a moment after its answer arrived.
    const denied = () => env.deps.knex('audit_entries').where({ outcome: 'denied', username: 'ops' }).whereIn('action', ['token.create', 'token.revoke', 'account.view', 'account.password_change']).orderBy('id');
    await expect.poll(async () => (await denied()).map((e: { action: string }) => e.action)).toEqual(['token.create', 'token.revoke', 'account.view', 'account.password_change']);
    // The token itself still works for what tokens are for.
    expect((await fetch(`${base}/containers`, { headers: bearer(token, { Accept: 'application/json' }) })).status).toBe(200);
  });

  it("cannot make a way to sign in either: an admin's token gets 403 JSON on user accounts, invite and reset links, Proxmox links", async () => {
    const token = await createToken('would-invite');
    const ops = (await env.deps.repos.users.findByUsername('ops'))!;
    const asToken = (path: string, body: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }), body: JSON.stringify(body) });

    // Each would hand the holder of a leaked token a sign-in of its own that outlives the token's revocation.
    const attempts: Array<[string, Record<string, string>]> = [
      ['/users', { username: 'successor', role: 'admin' }],
      [`/users/${ops.id}/invite`, {}],
      [`/users/${ops.id}/proxmox-user`, { pve_userid: 'mallory@pve' }],
      ['/users/proxmox-sign-in', { enabled: '1', node_id: String(sim.node.id), unknown_users: 'create', default_role: 'admin' }],
    ];
    for (const [path, body] of attempts) {
      const res = await asToken(path, body);
      expect(res.status, path).toBe(403);
      expect(res.headers.get('content-type'), path).toContain('application/json');
      expect((await res.json()).error, path).toContain('Sign in to Launchpad in a browser');
    }
    expect(await env.deps.repos.users.findByUsername('successor')).toBeUndefined();
    expect(await env.deps.knex('user_invites').where({ user_id: ops.id })).toHaveLength(0);
    expect((await env.deps.repos.users.findById(ops.id))!.pveUserid).toBeNull();
    expect(await env.deps.repos.settings.get('proxmox_sign_in')).toBeUndefined();
    // Audited once each response has finished: the last entry may be written a moment after its answer arrived.
    const denied = () => env.deps.knex('audit_entries').where({ outcome: 'denied', username: 'ops' }).where('action', 'like', 'user.%').orderBy('id');
    await expect.poll(async () => (await denied()).map((e: { action: string }) => e.action)).toEqual(['user.create', 'user.invite', 'user.proxmox_user', 'user.proxmox_sign_in']);
    // Reading the accounts is still what an admin's token may do.
    expect((await fetch(`${base}/users`, { headers: bearer(token) })).status).toBe(200);
  });

  it("cannot make anyone an admin: a leaked admin token would make its holder's own account one, outliving its revocation", async () => {
    // Made directly: the account may create only 10 tokens in 10 minutes through /account, and this file uses them.
    const ops = (await env.deps.repos.users.findByUsername('ops'))!;
    const { token } = await createApiToken({ apiTokens: env.deps.repos.apiTokens, users: env.deps.repos.users }, ops, { name: 'would-promote', expiresAt: null });
    await ensureUser(env.deps, 'mallory', PASSWORD, 'viewer');
    const mallory = (await env.deps.repos.users.findByUsername('mallory'))!;
    const asToken = (role: string) =>
      fetch(`${base}/users/${mallory.id}/role`, { method: 'POST', redirect: 'manual', headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }), body: JSON.stringify({ role }) });

    const refused = await asToken('admin');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/json');
    expect((await refused.json()).error).toContain('Sign in to Launchpad in a browser');
    expect((await env.deps.repos.users.findById(mallory.id))!.role).toBe('viewer');
    // Audited as denied (on the answer's finish), naming whom and what it was about.
    await expect.poll(async () => (await env.deps.knex('audit_entries').where({ outcome: 'denied', action: 'user.role', target: 'mallory' })).map((e) => e.username)).toEqual(['ops']);

    // A browser session may still make an admin, and a lower role stays open to an admin's token.
    const browser = await fetch(`${base}/users/${mallory.id}/role`, {
      method: 'POST', redirect: 'manual', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: admin.csrf, role: 'admin' }),
    });
    expect(browser.status).toBe(303);
    expect((await env.deps.repos.users.findById(mallory.id))!.role).toBe('admin');
    expect((await asToken('operator')).status).toBe(303);
    expect((await env.deps.repos.users.findById(mallory.id))!.role).toBe('operator');
  });

  it('cannot give an account its access back or more of it (enable, a higher role); taking access away stays open to it', async () => {
    const ops = (await env.deps.repos.users.findByUsername('ops'))!;
    const { token } = await createApiToken({ apiTokens: env.deps.repos.apiTokens, users: env.deps.repos.users }, ops, { name: 'would-restore', expiresAt: null });
    const trent = await ensureUser(env.deps, 'trent', PASSWORD, 'viewer');
    const asToken = (path: string, body: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }), body: JSON.stringify(body) });
    const asBrowser = (path: string, fields: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: admin.csrf, ...fields }) });
    const trentNow = async () => (await env.deps.repos.users.findById(trent.id))!;

    // A leaked admin token may lock an account out, as its owner would want in a hurry …
    expect((await asToken(`/users/${trent.id}/disable`)).status).toBe(303);
    expect((await trentNow()).disabledAt).not.toBeNull();
    // … but not let one back in, nor give one more than it had: either would outlive the token's revocation.
    for (const [path, body] of [[`/users/${trent.id}/enable`, {}], [`/users/${trent.id}/role`, { role: 'operator' }]] as const) {
      const res = await asToken(path, body);
      expect(res.status, path).toBe(403);
      expect(res.headers.get('content-type'), path).toContain('application/json');
      expect((await res.json()).error, path).toContain('Sign in to Launchpad in a browser');
    }
    expect((await trentNow()).disabledAt).not.toBeNull();
    expect((await trentNow()).role).toBe('viewer');
    await expect.poll(async () => (await env.deps.knex('audit_entries').where({ outcome: 'denied', username: 'ops', target: 'trent' }).orderBy('id')).map((e) => e.action)).toEqual(['user.enable', 'user.role']);

    // A browser session may do both; a lower role stays open to the token.
    expect((await asBrowser(`/users/${trent.id}/enable`)).status).toBe(303);
    expect((await asBrowser(`/users/${trent.id}/role`, { role: 'operator' })).status).toBe(303);
    expect(await trentNow()).toMatchObject({ disabledAt: null, role: 'operator' });
    expect((await asToken(`/users/${trent.id}/role`, { role: 'viewer' })).status).toBe(303);
    expect((await trentNow()).role).toBe('viewer');
  });

  it('revoked, expired, unknown and malformed tokens get 401', async () => {
    const token = await createToken('to-revoke');
    const [row] = await env.deps.knex('api_tokens').where({ name: 'to-revoke' });
    const revoke = await fetch(`${base}/account/tokens/${row.id}/revoke`, {
      method: 'POST', redirect: 'manual', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: admin.csrf }),
    });
    expect(revoke.status).toBe(303);
    expect((await fetch(`${base}/containers`, { headers: bearer(token) })).status).toBe(401);

    const expiring = await createToken('expiring', '1');
    expect((await fetch(`${base}/containers`, { headers: bearer(expiring) })).status).toBe(200);
    await env.deps.knex('api_tokens').where({ name: 'expiring' }).update({ expires_at: new Date(Date.now() - 1000) });
    const expired = await fetch(`${base}/containers`, { headers: bearer(expiring) });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('Bearer');

    expect((await fetch(`${base}/containers`, { headers: bearer(`lp_${'A'.repeat(43)}`) })).status).toBe(401);
    expect((await fetch(`${base}/containers`, { headers: bearer('nonsense') })).status).toBe(401);
  });

  it("stop working when their owner is disabled, and a viewer's token reads but cannot act", async () => {
    const viewer = await ensureUser(env.deps, 'watcher', PASSWORD, 'viewer');
    const session = await signIn(base, 'watcher', PASSWORD);
    const made = await fetch(`${base}/account/tokens`, {
      method: 'POST', headers: { Cookie: session.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: session.csrf, name: 'watch' }),
    });
    expect(made.redirected).toBe(true);
    const token = /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec(await made.text())![1]!;
    expect((await fetch(`${base}/containers`, { headers: bearer(token, { Accept: 'application/json' }) })).status).toBe(200);
    const deploy = await fetch(`${base}/containers`, { method: 'POST', headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }), body: '{}' });
    expect(deploy.status).toBe(403);
    // Refused by the route's role rule, before any handler ran: audited as denied, once (once the answer has gone out).
    await expect.poll(async () => (await env.deps.knex('audit_entries').where({ action: 'container.deploy', outcome: 'denied', username: 'watcher' }).select('action')).length).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(await env.deps.knex('audit_entries').where({ action: 'container.deploy', outcome: 'denied', username: 'watcher' }).select('action')).toHaveLength(1);

    const disable = await fetch(`${base}/users/${viewer.id}/disable`, {
      method: 'POST', redirect: 'manual', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: admin.csrf }),
    });
    expect(disable.status).toBe(303);
    expect((await fetch(`${base}/containers`, { headers: bearer(token) })).status).toBe(401);
    const [row] = await env.deps.knex('api_tokens').where({ name: 'watch' });
    expect(row.revoked_at).not.toBeNull();
  });

  it('refuses a bad token name with a message, storing nothing', async () => {
    const res = await fetch(`${base}/account/tokens`, {
      method: 'POST', headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: admin.csrf, name: '', expires_in_days: 'soon' }),
    });
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toContain('Use 1–64 letters');
    expect(html).toContain('whole number of days');
  });
});

describe('driving a deploy with a token', () => {
  it('deploys with JSON, follows the log until the build ends, resumes from a line, and reads JSON status', async () => {
    const token = await createToken('ci');
    const deploy = await fetch(`${base}/containers`, {
      method: 'POST',
      headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }),
      body: JSON.stringify({ template: 'api-app', node: 'sim', hostname: 'api-1', password: 'api-root-pass', password_confirm: 'api-root-pass', memory: 512 }),
    });
    const created = await deploy.json();
    expect(deploy.status, JSON.stringify(created)).toBe(201);
    expect(created).toEqual({ id: expect.any(String), url: `/containers/${created.id}`, events_url: `/containers/${created.id}/events`, log_url: `/containers/${created.id}/log.txt` });
    expect(deploy.headers.getSetCookie()).toEqual([]);

    // Follow: the response stays open while the build runs and closes when it ends.
    const follow = await fetch(`${base}${created.log_url}?follow=1`, { headers: bearer(token, { 'Accept-Encoding': 'gzip' }) });
    expect(follow.status).toBe(200);
    expect(follow.headers.get('content-type')).toContain('text/plain');
    const reader = follow.body!.getReader();
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    let firstChunkWhileRunning: string | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(decoder.decode(value, { stream: true }));
      if (firstChunkWhileRunning === undefined) firstChunkWhileRunning = (await env.deps.repos.containers.findById(created.id))!.lifecycle;
    }
    const followed = chunks.join('');
    const row = (await env.deps.repos.containers.findById(created.id))!;
    expect(row.lifecycle).toBe('ready');
    expect(['queued', 'creating']).toContain(firstChunkWhileRunning);
    expect(followed).toContain('hello line 3');
    const plain = await (await fetch(`${base}${created.log_url}`, { headers: bearer(token) })).text();
    expect(followed).toBe(plain);
    expect(followed.split('\n').length - 1).toBe(row.lastLineNo);

    const fromThree = await (await fetch(`${base}${created.log_url}?from=3&follow=1`, { headers: bearer(token) })).text();
    expect(fromThree).toBe(plain.split('\n').slice(2).join('\n'));
    expect((await fetch(`${base}${created.log_url}?from=zero`, { headers: bearer(token) })).status).toBe(422);

    const status = await fetch(`${base}${created.url}`, { headers: bearer(token, { Accept: 'application/json' }) });
    expect(status.headers.get('content-type')).toContain('application/json');
    const body = await status.json();
    expect(body).toMatchObject({ id: created.id, hostname: 'api-1', node: 'sim', lifecycle: 'ready', percent: 100, log_url: created.log_url });
    expect(JSON.stringify(body)).not.toContain('api-root-pass');
    const list = await (await fetch(`${base}/containers`, { headers: bearer(token, { Accept: 'application/json' }) })).json();
    expect(list.containers.map((c: { id: string }) => c.id)).toContain(created.id);

    // An action with a token: no CSRF, a JSON answer.
    const stop = await fetch(`${base}/containers/${created.id}/stop`, { method: 'POST', headers: bearer(token, { Accept: 'application/json' }) });
    expect(stop.status).toBe(202);

    // Validation errors come back as JSON with the field messages.
    const bad = await fetch(`${base}/containers`, {
      method: 'POST', headers: bearer(token, { 'Content-Type': 'application/json', Accept: 'application/json' }), body: JSON.stringify({ template: 'api-app', node: 'sim', hostname: '$(reboot)' }),
    });
    expect(bad.status).toBe(422);
    expect((await bad.json()).fields.hostname).toBeTruthy();

    // The audit trail: the deploy (by token) and the action, linked from the filter by container.
    // (A container action's entry is written once its answer has gone out.)
    await expect.poll(async () => (await env.deps.knex('audit_entries').where({ container_id: created.id })).length).toBe(2);
    const entries = await env.deps.knex('audit_entries').where({ container_id: created.id }).orderBy('id');
    expect(entries.map((e) => [e.action, e.outcome, e.username])).toEqual([
      ['container.deploy', 'success', 'ops'],
      ['container.stop', 'success', 'ops'],
    ]);
    expect(entries[0].details).toMatchObject({ via: 'token', template: 'api-app' });
    expect(JSON.stringify(await env.deps.knex('audit_entries'))).not.toContain('api-root-pass');
    // The token went through the request log many times over; it never appears there (nor in the worker's output).
    expect(logLines.join('')).toContain(created.log_url);
    expect(logLines.join('') + worker.output()).not.toContain(token);
    const page = await (await fetch(`${base}/audit?container=${created.id}`, { headers: { Cookie: admin.cookie } })).text();
    expect([...page.matchAll(/data-action="([^"]+)"/g)].map((m) => m[1])).toEqual(['container.stop', 'container.deploy']);
    // The same by its hostname, in any case.
    const byName = await (await fetch(`${base}/audit?container=API-1`, { headers: { Cookie: admin.cookie } })).text();
    expect([...byName.matchAll(/data-action="([^"]+)"/g)].map((m) => m[1])).toEqual(['container.stop', 'container.deploy']);
    const containerPage = await (await fetch(`${base}${created.url}`, { headers: { Cookie: admin.cookie } })).text();
    expect(containerPage).toContain(`href="/audit?container=${created.id}"`);
  }, 60_000);
});

describe('audit trail', () => {
  it('records sign-in success and failure, sign-out and token changes, and filters by user and action', async () => {
    const failed = await fetch(`${base}/login`);
    const cookie = failed.headers.getSetCookie()[0]!.split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await failed.text())![1]!;
    await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, username: 'ops', password: 'wrong password!' }) });
    const second = await signIn(base, 'ops', PASSWORD);
    await fetch(`${base}/logout`, { method: 'POST', redirect: 'manual', headers: { Cookie: second.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: second.csrf }) });

    const rows = await env.deps.knex('audit_entries').whereIn('action', ['auth.sign_in', 'auth.sign_out']).orderBy('id');
    expect(rows.map((r) => [r.action, r.outcome])).toEqual(expect.arrayContaining([['auth.sign_in', 'failure'], ['auth.sign_in', 'success'], ['auth.sign_out', 'success']]));
    expect(JSON.stringify(rows)).not.toContain('wrong password!');
    expect(rows.every((r) => r.remote_address)).toBe(true);

    const byAction = await (await fetch(`${base}/audit?action=token.revoke`, { headers: { Cookie: admin.cookie } })).text();
    const actions = [...byAction.matchAll(/data-action="([^"]+)"/g)].map((m) => m[1]);
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['token.revoke']));
    const byUser = await (await fetch(`${base}/audit?user=nobody`, { headers: { Cookie: admin.cookie } })).text();
    expect(byUser).toContain('No entries match.');
    // A user's name in another case finds their entries.
    const byName = await (await fetch(`${base}/audit?user=OPS&action=auth.sign_out`, { headers: { Cookie: admin.cookie } })).text();
    expect([...byName.matchAll(/data-action="([^"]+)"/g)].map((m) => m[1])).toContain('auth.sign_out');
  });

  it('records admin changes by path and status, never their bodies', async () => {
    const res = await fetch(`${base}/package-sets`, {
      method: 'POST', redirect: 'manual', headers: bearer(await createToken('admin-writes')), body: new URLSearchParams({ name: 'audited-set', description: 'secret-looking words' }),
    });
    expect(res.status).toBeLessThan(400);
    // Written once the answer has gone out ('finish'), so it may land a moment after the client has read it.
    let entry;
    for (let i = 0; i < 100 && !entry; i++) {
      [entry] = await env.deps.knex('audit_entries').where({ action: 'package_set.create' });
      if (!entry) await new Promise((r) => setTimeout(r, 20));
    }
    expect(entry).toMatchObject({ username: 'ops', outcome: 'success', details: { path: '/package-sets', status: res.status } });
    expect(JSON.stringify(entry)).not.toContain('secret-looking');
  });

  it('is for admins only and pages newest first', async () => {
    await ensureUser(env.deps, 'plain', PASSWORD, 'viewer');
    const plain = await signIn(base, 'plain', PASSWORD);
    expect((await fetch(`${base}/audit`, { headers: { Cookie: plain.cookie } })).status).toBe(403);
    await env.deps.knex('audit_entries').insert(Array.from({ length: 60 }, (_, i) => ({ action: 'test.bulk', outcome: 'success', target: `n${i}`, details: '{}' })));
    const first = await (await fetch(`${base}/audit?action=test.bulk`, { headers: { Cookie: admin.cookie, Accept: 'application/json' } })).json();
    expect(first.entries).toHaveLength(50);
    expect(first.entries[0].target).toBe('n59');
    expect(first.has_next).toBe(true);
    const second = await (await fetch(`${base}/audit?action=test.bulk&page=2`, { headers: { Cookie: admin.cookie, Accept: 'application/json' } })).json();
    expect(second.entries.map((e: { target: string }) => e.target)).toEqual(Array.from({ length: 10 }, (_, i) => `n${9 - i}`));
    expect(second.has_next).toBe(false);
  });
});
