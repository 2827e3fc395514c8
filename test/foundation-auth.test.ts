import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { announceSetupCode } from '../src/domain/accounts.ts';
import { hashPassword } from '../src/domain/passwords.ts';
import type { LoginLimits } from '../src/http/middleware/login-rate-limit.ts';
import { createLogger } from '../src/logger.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';

const csrfFrom = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const sessionCookie = (res: request.Response) =>
  ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('launchpad.sid='))?.split(';')[0];

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env, { perAccount: 5 });
});
afterAll(() => env.close());

describe('first-run setup', () => {
  it('accepts only the one-time code from the log, creates one admin, then closes', async () => {
    await announceSetupCode({ users: env.deps.repos.users, settings: env.deps.repos.settings, logger: env.deps.logger });
    const code = await env.deps.repos.settings.get('setup_code');
    expect(code).toMatch(/^[0-9a-f]{12}$/);

    const agent = request.agent(app);
    expect((await agent.get('/login')).headers.location).toBe('/setup');
    const page = await agent.get('/setup').expect(200);
    const form = { _csrf: csrfFrom(page.text), username: 'admin', password: 'correct horse', password_confirm: 'correct horse' };

    const wrong = await agent.post('/setup').type('form').send({ ...form, code: 'deadbeef0000' }).expect(422);
    expect(wrong.text).toContain('That is not the setup code');
    expect(wrong.text).toContain('value="admin"');
    expect(await env.deps.repos.users.count()).toBe(0);

    // Everything wrong at once: the setup code's message comes first (nothing else matters without it), the
    // others follow in the form's order, and what was typed stays — except the passwords.
    const all = await agent.post('/setup').type('form')
      .send({ _csrf: form._csrf, code: 'deadbeef0000', username: 'Not a name!', password: 'short', password_confirm: 'other' }).expect(422);
    const reported = [...all.text.matchAll(/<p id="e-([a-z_]+)" class="field-error">/g)].map((m) => m[1]);
    expect(reported).toEqual(['code', 'username', 'password', 'password_confirm']);
    expect(all.text).toContain('That is not the setup code');
    expect(all.text).toMatch(/name="code" type="text" value="deadbeef0000"/);
    expect(all.text).toMatch(/name="username" type="text" value="Not a name!"/);
    expect(all.text).not.toContain('value="short"');
    expect(all.text).not.toContain('value="other"');
    expect(await env.deps.repos.users.count()).toBe(0);

    const mismatch = await agent.post('/setup').type('form').send({ ...form, code, password_confirm: 'other pass' }).expect(422);
    expect(mismatch.text).toContain('The two passwords differ.');

    const ok = await agent.post('/setup').type('form').send({ ...form, code }).expect(303);
    expect(ok.headers.location).toBe('/containers');
    expect(await env.deps.repos.users.count()).toBe(1);
    expect((await env.deps.repos.users.findByUsername('admin'))?.role).toBe('admin');
    expect(await env.deps.repos.settings.get('setup_code')).toBeUndefined();
    await agent.get('/containers').expect(200);

    // Setup is closed for everyone now, even with the old code.
    const other = request.agent(app);
    expect((await other.get('/setup')).headers.location).toBe('/login');
    const loginPage = await other.get('/login').expect(200);
    const again = await other.post('/setup').type('form').send({ ...form, _csrf: csrfFrom(loginPage.text), code, username: 'second' });
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe('/login');
    expect(await env.deps.repos.users.count()).toBe(1);
  });
});

describe('sign-in', () => {
  beforeAll(async () => {
    if (!(await env.deps.repos.users.findByUsername('alice'))) {
      await env.deps.repos.users.create({ username: 'alice', passwordHash: await hashPassword('alice-password'), role: 'operator' });
    }
  });

  it('stores a session only at sign-in, with a fresh id (no fixation), and signs out', async () => {
    const agent = request.agent(app);
    const page = await agent.get('/login').expect(200);
    // Not signed in: no session cookie at all, only the sign-in form's CSRF cookie.
    expect(sessionCookie(page)).toBeUndefined();
    const planted = 'launchpad.sid=s%3Aplanted-by-someone-else.invalid';
    const res = await agent.post('/login').set('Cookie', planted).type('form').send({ _csrf: csrfFrom(page.text), username: 'alice', password: 'alice-password' }).expect(303);
    const after = sessionCookie(res);
    expect(after).toBeDefined();
    expect(after).not.toBe(planted);
    const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('launchpad.sid='))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);

    // The planted id grants nothing.
    await request(app).get('/containers').set('Cookie', planted).expect(303).expect('Location', '/login?session=ended');
    const list = await agent.get('/containers').expect(200);
    expect(list.text).toContain('alice');

    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(list.text)?.[1];
    await agent.post('/logout').type('form').send({ _csrf: token }).expect(303);
    await agent.get('/containers').expect(303).expect('Location', '/login');
    // The signed-out session is gone: its cookie grants nothing either.
    await request(app).get('/containers').set('Cookie', after!).expect(303).expect('Location', '/login?session=ended');
  });

  it('200 anonymous GETs of /containers and /login add no rows to the sessions table', async () => {
    const count = async () => Number((await env.deps.knex('sessions').count<{ count: string }[]>('* as count'))[0]!.count);
    const before = await count();
    for (let i = 0; i < 100; i++) {
      await request(app).get('/containers').set('Accept', 'text/html').expect(303);
      await request(app).get('/login').expect(200);
    }
    expect(await count()).toBe(before);
  });

  it('says so on a wrong password and keeps the username', async () => {
    const agent = request.agent(app);
    const page = await agent.get('/login');
    const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username: 'alice', password: 'nope-nope' }).expect(401);
    expect(res.text).toContain('Wrong username or password.');
    expect(res.text).toContain('value="alice"');
  });

  it('tells a disabled account so, but only once its password checked out', async () => {
    const dora = await env.deps.repos.users.create({ username: 'dora', passwordHash: await hashPassword('dora-password'), role: 'viewer' });
    await env.deps.repos.users.change(dora.id, { disabled: true });
    const agent = request.agent(app);
    const token = csrfFrom((await agent.get('/login')).text);
    const wrong = await agent.post('/login').type('form').send({ _csrf: token, username: 'dora', password: 'not-doras' }).expect(401);
    expect(wrong.text).toContain('Wrong username or password.');
    expect(wrong.text).not.toContain('disabled');
    const right = await agent.post('/login').type('form').send({ _csrf: token, username: 'dora', password: 'dora-password' }).expect(403);
    expect(right.text).toContain('This account is disabled. Ask an admin of this Launchpad to enable it again.');
    expect(sessionCookie(right)).toBeUndefined();
    await agent.get('/containers').expect(303).expect('Location', '/login');
  });

  it('returns to the page that asked for sign-in (?next=), but never off-site and never to an icon', async () => {
    const agent = request.agent(app);
    const asked = await agent.get('/containers?filter=running').set('Sec-Fetch-Dest', 'document').expect(303);
    expect(asked.headers.location).toBe('/login?next=%2Fcontainers%3Ffilter%3Drunning');
    const page = await agent.get(asked.headers.location!);
    expect(page.text).toContain('name="next" value="/containers?filter=running"');
    const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username: 'alice', password: 'alice-password', next: '/containers?filter=running' });
    expect(res.headers.location).toBe('/containers?filter=running');

    // An image or icon request is not a page: it is sent to /login without a way back.
    const icon = await request(app).get('/no-such-icon.png').set('Sec-Fetch-Dest', 'image').expect(303);
    expect(icon.headers.location).toBe('/login');
    for (const next of ['https://evil.example/', '//evil.example/', '/\\evil.example', '/favicon.ico', '/static/favicon.svg']) {
      const fresh = request.agent(app);
      const form = await fresh.get('/login');
      const signed = await fresh.post('/login').type('form').send({ _csrf: csrfFrom(form.text), username: 'alice', password: 'alice-password', next });
      expect(signed.headers.location, next).toBe('/containers');
    }
  });
});

describe('rate limits on sign-in', () => {
  it('locks an account for an address after 5 failures from it', async () => {
    await env.deps.repos.users.create({ username: 'bob', passwordHash: await hashPassword('bob-password'), role: 'operator' });
    const agent = request.agent(app);
    const page = await agent.get('/login');
    const token = csrfFrom(page.text);
    for (let i = 0; i < 5; i++) {
      await agent.post('/login').type('form').send({ _csrf: token, username: 'bob', password: `wrong-${i}` }).expect(401);
    }
    const locked = await agent.post('/login').type('form').send({ _csrf: token, username: 'BOB', password: 'bob-password' }).expect(429);
    expect(locked.text).toContain('Too many sign-in attempts for this account');
    // Another account from the same address is unaffected.
    await agent.post('/login').type('form').send({ _csrf: token, username: 'alice', password: 'alice-password' }).expect(303);
  });

  it('counts every spelling of an account against the same budget; a look-alike spelling is no username at all', async () => {
    await env.deps.repos.users.create({ username: 'lisa', passwordHash: await hashPassword('lisa-password'), role: 'viewer' });
    const agent = request.agent(app);
    const token = csrfFrom((await agent.get('/login')).text);
    for (const spelling of ['lisa', 'LISA', ' Lisa', 'lIsA ', 'LISA']) {
      await agent.post('/login').type('form').send({ _csrf: token, username: spelling, password: 'wrong-password' }).expect(401);
    }
    for (const spelling of ['lisa', 'Lisa']) {
      await agent.post('/login').type('form').send({ _csrf: token, username: spelling, password: 'lisa-password' }).expect(429);
    }
    // A dotted capital I (U+0130) is not an ASCII letter: never the account `lisa`, even with its password.
    const dotted = await agent.post('/login').type('form').send({ _csrf: token, username: 'L\u0130SA', password: 'lisa-password' }).expect(401);
    expect(dotted.text).toContain('Wrong username or password.');
  });

  // Behind a proxy (TRUST_PROXY=1) the client address is the last X-Forwarded-For hop, as for the rest of the app.
  const behindProxy = (limits: Partial<LoginLimits>) =>
    createApp({ ...env.deps, config: { ...env.config, trustProxy: true }, loginLimits: { perIp: 1000, perAccount: 5, accountWide: 1000, prefix: `${env.prefix}rl-${randomUUID()}:`, ...limits } });
  const attempt = async (app: ReturnType<typeof createApp>, from: string, username: string, password: string) => {
    const agent = request.agent(app);
    const token = csrfFrom((await agent.get('/login').set('X-Forwarded-For', from)).text);
    return agent.post('/login').set('X-Forwarded-For', from).type('form').send({ _csrf: token, username, password });
  };

  it("someone else's failures cannot lock the owner out: another address signs in with the right password", async () => {
    await env.deps.repos.users.create({ username: 'opb', passwordHash: await hashPassword('opb-password'), role: 'operator' });
    const app = behindProxy({});
    for (let i = 0; i < 5; i++) expect((await attempt(app, '198.51.100.7', i % 2 ? 'OPB' : 'opb', `guess-${i}`)).status).toBe(401);
    expect((await attempt(app, '203.0.113.20', 'opb', 'opb-password')).status).toBe(303);
    // The guessing address stays locked out of this account, right password or not.
    const attacker = await attempt(app, '198.51.100.7', 'opb', 'opb-password');
    expect(attacker.status).toBe(429);
    expect(attacker.text).toContain('Too many sign-in attempts for this account from this address');
  });

  it('a successful sign-in from an address clears its failures for the account', async () => {
    await env.deps.repos.users.create({ username: 'typo', passwordHash: await hashPassword('typo-password'), role: 'viewer' });
    const app = behindProxy({});
    const from = '203.0.113.30';
    for (let i = 0; i < 4; i++) expect((await attempt(app, from, 'typo', `typo-${i}`)).status).toBe(401);
    expect((await attempt(app, from, 'typo', 'typo-password')).status).toBe(303);
    // (the count is cleared once the answer has gone out)
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 4; i++) expect((await attempt(app, from, 'typo', `typo-again-${i}`)).status).toBe(401);
    expect((await attempt(app, from, 'typo', 'typo-password')).status).toBe(303);
  });

  it('a guesser spread over many addresses is held to the account-wide ceiling', async () => {
    await env.deps.repos.users.create({ username: 'spread', passwordHash: await hashPassword('spread-password'), role: 'viewer' });
    const app = behindProxy({ perAccount: 2, accountWide: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await attempt(app, `198.51.100.${100 + Math.floor(i / 2)}`, 'spread', `guess-${i}`)).status);
    // Two failures from each address, until five in all; then every address is refused for this account.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const refused = await attempt(app, '198.51.100.200', 'spread', 'spread-password');
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('from many addresses');
    // Other accounts are not held back.
    expect((await attempt(app, '198.51.100.200', 'alice', 'alice-password')).status).toBe(303);
  });

  it('the ceiling cannot lock the owner out from an address the account signed in from before', async () => {
    await env.deps.repos.users.create({ username: 'chief', passwordHash: await hashPassword('chief-password'), role: 'admin' });
    const app = behindProxy({ perAccount: 2, accountWide: 5 });
    const office = '203.0.113.60';
    expect((await attempt(app, office, 'chief', 'chief-password')).status).toBe(303);
    await new Promise((r) => setTimeout(r, 100));
    // Someone with a handful of addresses runs the account-wide count up, as they could every 15 minutes.
    for (let i = 0; i < 8; i++) await attempt(app, `198.51.100.${150 + Math.floor(i / 2)}`, 'chief', `guess-${i}`);
    expect((await attempt(app, '198.51.100.201', 'chief', 'chief-password')).status).toBe(429);
    // The admin, from where they signed in before, still gets in (held to that address's own budget as ever).
    expect((await attempt(app, office, 'chief', 'chief-password')).status).toBe(303);
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 2; i++) expect((await attempt(app, office, 'chief', `typo-${i}`)).status).toBe(401);
    expect((await attempt(app, office, 'chief', 'chief-password')).status).toBe(429);
  });

  it('without TRUST_PROXY, X-Forwarded-For does not make a fresh address', async () => {
    await env.deps.repos.users.create({ username: 'spoof', passwordHash: await hashPassword('spoof-password'), role: 'viewer' });
    const app = createTestApp(env, { perAccount: 5, accountWide: 1000, prefix: `${env.prefix}rl-${randomUUID()}:` });
    for (let i = 0; i < 5; i++) expect((await attempt(app, `192.0.2.${i}`, 'spoof', `guess-${i}`)).status).toBe(401);
    expect((await attempt(app, '192.0.2.99', 'spoof', 'spoof-password')).status).toBe(429);
  });

  it('limits attempts per client address', async () => {
    const strict = createTestApp(env, { perIp: 3, perAccount: 100, prefix: `${env.prefix}rl-ip:` });
    const agent = request.agent(strict);
    const token = csrfFrom((await agent.get('/login')).text);
    for (let i = 0; i < 3; i++) {
      await agent.post('/login').type('form').send({ _csrf: token, username: `user${i}`, password: 'whatever1' }).expect(401);
    }
    const res = await agent.post('/login').type('form').send({ _csrf: token, username: 'alice', password: 'alice-password' }).expect(429);
    expect(res.text).toContain('from this address');
    expect(res.headers['ratelimit-policy']).toBeDefined();
  });

  it('does not count successful sign-ins against the address (a team behind one NAT)', async () => {
    await env.deps.repos.users.create({ username: 'natted', passwordHash: await hashPassword('natted-password'), role: 'viewer' });
    const strict = createTestApp(env, { perIp: 3, perAccount: 100, prefix: `${env.prefix}rl-ip-ok:` });
    const agent = request.agent(strict);
    const token = csrfFrom((await agent.get('/login')).text);
    const signIn = (password: string) => agent.post('/login').type('form').send({ _csrf: token, username: 'natted', password });
    for (let i = 0; i < 6; i++) {
      expect((await signIn('natted-password')).status).toBe(303);
      // Signed in, the session's token is another: sign out and start afresh, as the next colleague would.
      await agent.post('/logout').type('form').send({ _csrf: csrfFrom((await agent.get('/account')).text) }).expect(303);
    }
    // Failures still count: three, then the address is refused even with the right password.
    for (let i = 0; i < 3; i++) expect((await signIn(`wrong-${i}`)).status).toBe(401);
    const refused = await signIn('natted-password');
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('from this address');
  });
});

describe('protection of every route', () => {
  const protectedGets = ['/', '/containers', '/containers/new', '/containers/0b7c1f0e-2f5e-4f43-9a55-2b9f1f3f1c11', '/templates', '/templates/new', '/nodes', '/nodes/new', '/no-such-page'];

  it.each(protectedGets)('GET %s without a session redirects to /login', async (path) => {
    await request(app).get(path).expect(303).expect('Location', '/login');
  });

  it('answers htmx requests with HX-Redirect and event streams with 401', async () => {
    const hx = await request(app).get('/containers').set('HX-Request', 'true').expect(401);
    expect(hx.headers['hx-redirect']).toBe('/login');
    await request(app).get('/containers/0b7c1f0e-2f5e-4f43-9a55-2b9f1f3f1c11/events').set('Accept', 'text/event-stream').expect(401);
  });

  it.each(['/login', '/setup', '/logout', '/containers', '/templates/rescan'])('POST %s without a CSRF token is refused with 403', async (path) => {
    const agent = request.agent(app);
    await agent.get('/login');
    const res = await agent.post(path).type('form').send({ username: 'alice', password: 'alice-password' }).expect(403);
    expect(res.text).toContain('Reload the page and try again');
  });

  it('refuses a wrong CSRF token and one from another session', async () => {
    const a = request.agent(app);
    const b = request.agent(app);
    const tokenA = csrfFrom((await a.get('/login')).text);
    await b.get('/login');
    await b.post('/login').type('form').send({ _csrf: tokenA, username: 'alice', password: 'alice-password' }).expect(403);
    await a.post('/login').type('form').send({ _csrf: 'x'.repeat(64), username: 'alice', password: 'alice-password' }).expect(403);
  });

  it('serves static files and /healthz without a session', async () => {
    const health = await request(app).get('/healthz').expect(200);
    expect(health.body).toEqual({ db: 'ok', redis: 'ok' });
    await request(app).get('/static/vendor/htmx.min.js').expect(200).expect('Content-Type', /javascript/);
  });

  it('sends a CSP that allows only our own scripts and styles', async () => {
    const res = await request(app).get('/login');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toContain('unsafe-inline');
    expect(res.text).toContain('<meta name="csrf-token"');
    expect(res.text).toContain('hx-headers=\'{"X-CSRF-Token"');
  });

  it('shows a 404 page for a signed-in user and a 500 page with an error id', async () => {
    const agent = request.agent(app);
    const token = csrfFrom((await agent.get('/login')).text);
    await agent.post('/login').type('form').send({ _csrf: token, username: 'alice', password: 'alice-password' }).expect(303);
    const missing = await agent.get('/no-such-page').expect(404);
    expect(missing.text).toContain('Not found');

    // An unexpected failure: a 500 page with an error id that the log carries too, and no stack trace.
    const logged: string[] = [];
    const failing = createApp({
      ...env.deps,
      logger: createLogger('error', 'test', { write: (line: string) => void logged.push(line) }),
      repos: { ...env.deps.repos, containers: Object.assign(Object.create(env.deps.repos.containers), { listVisible: () => Promise.reject(new Error('boom: something broke')) }) },
    });
    const failingAgent = request.agent(failing);
    const token2 = csrfFrom((await failingAgent.get('/login')).text);
    await failingAgent.post('/login').type('form').send({ _csrf: token2, username: 'alice', password: 'alice-password' }).expect(303);
    const broken = await failingAgent.get('/containers').expect(500);
    const errorId = /Error id <code[^>]*>([0-9a-f]{8})<\/code>/.exec(broken.text)?.[1];
    expect(errorId).toBeDefined();
    expect(broken.text).not.toContain('boom: something broke');
    expect(logged.join('')).toContain(`"errorId":"${errorId}"`);
    expect(logged.join('')).toContain('boom: something broke');
  });
});
