// Accounts under /users: an admin creates a user with a role and gets a one-time invite link (stored hashed, 48 h);
// the person sets their own password there. Role changes, disable/enable (sessions end at once), a new link as the
// password reset, delete; the last enabled admin is protected.
import net from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { hashPassword } from '../src/domain/passwords.ts';
import { insertNode } from './support/fixtures.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let app: ReturnType<typeof createApp>;
let admin: SignedInAgent;
let csrf: string;

beforeAll(async () => {
  env = await createTestEnv();
  app = createApp(env.deps);
  admin = await signedInAgent(app, env.deps, { username: 'boss', password: 'boss-password-long' });
  csrf = await admin.csrf('/users');
}, 60_000);
afterAll(() => env?.close());

const csrfFrom = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const linkIn = (html: string) => /<code id="invite-link"[^>]*>([^<]+)<\/code>/.exec(html)?.[1];
const pathOf = (link: string) => new URL(link).pathname;

async function invite(username: string, role: string) {
  const res = await admin.agent.post('/users').type('form').send({ _csrf: csrf, username, role }).expect(201);
  expect(res.headers['cache-control']).toBe('no-store');
  return pathOf(linkIn(res.text)!);
}

/** Opens the link in a fresh browser and sets the password; returns that browser, now signed in. */
async function accept(path: string, password: string) {
  const agent = request.agent(app);
  const page = await agent.get(path).expect(200);
  await agent.post(path).type('form').send({ _csrf: csrfFrom(page.text), password, password_confirm: password }).expect(303).expect('Location', '/containers');
  return agent;
}

async function signIn(username: string, password: string) {
  const agent = request.agent(app);
  const page = await agent.get('/login');
  const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username, password });
  return { agent, status: res.status };
}

describe('/users', () => {
  it('creates a user with a one-time link stored only as a hash; the person sets their own password', async () => {
    const path = await invite('Dave', 'operator');
    const token = path.split('/').pop()!;
    expect(token.length).toBeGreaterThanOrEqual(40);
    const dave = (await env.deps.repos.users.findByUsername('dave'))!;
    expect(dave.role).toBe('operator');
    const stored = await env.deps.knex('user_invites').where({ user_id: dave.id }).first();
    expect(stored.token_hash).not.toContain(token);
    expect(new Date(stored.expires_at).getTime() - Date.now()).toBeGreaterThan(47.9 * 3600_000);

    const page = await request(app).get(path).expect(200);
    expect(page.text).toContain('Set your password');
    const forged = await request.agent(app).post(path).type('form').send({ _csrf: 'x', password: 'a' }).expect(403);
    expect(forged.text).toContain('Reload the page');

    const agent = await accept(path, 'dave-password-long');
    expect((await agent.get('/containers').expect(200)).text).toContain('dave');
    // Used once: the link is gone.
    await request(app).get(path).expect(404);
    expect((await signIn('dave', 'dave-password-long')).status).toBe(303);
  });

  it('refuses a taken or invalid username and an unknown role, keeping what was typed', async () => {
    const taken = await admin.agent.post('/users').type('form').send({ _csrf: csrf, username: 'DAVE', role: 'viewer' }).expect(422);
    expect(taken.text).toContain('The username “dave” is taken.');
    const bad = await admin.agent.post('/users').type('form').send({ _csrf: csrf, username: 'd\u0130ve', role: 'root' }).expect(422);
    expect(bad.text).toContain('ASCII letters');
    expect(bad.text).toContain('Choose admin, operator or viewer.');
  });

  it('disabling ends every session at once and blocks sign-in; enabling lets the user back', async () => {
    const path = await invite('erin', 'viewer');
    const erin = await accept(path, 'erin-password-long');
    const second = (await signIn('erin', 'erin-password-long')).agent;
    await erin.get('/containers').expect(200);
    const id = (await env.deps.repos.users.findByUsername('erin'))!.id;

    await admin.agent.post(`/users/${id}/disable`).type('form').send({ _csrf: csrf }).expect(303);
    for (const browser of [erin, second]) await browser.get('/containers').expect(303).expect('Location', '/login?session=ended');
    const rows = await env.deps.knex('sessions').whereRaw("(sess->>'userId')::int = ?", [id]).count<{ count: string }[]>('* as count');
    expect(Number(rows[0]!.count)).toBe(0);
    // Told so, now that the password checked out.
    expect((await signIn('erin', 'erin-password-long')).status).toBe(403);

    await admin.agent.post(`/users/${id}/enable`).type('form').send({ _csrf: csrf }).expect(303);
    expect((await signIn('erin', 'erin-password-long')).status).toBe(303);
  });

  it('disabling drops the open invite or reset link: enabling the account again does not bring it back', async () => {
    const path = await invite('gwen', 'operator');
    const id = (await env.deps.repos.users.findByUsername('gwen'))!.id;
    // Disabled before the link was used (the link went astray, or she left): whoever has it must not set a password later.
    await admin.agent.post(`/users/${id}/disable`).type('form').send({ _csrf: csrf }).expect(303);
    await request(app).get(path).expect(404);
    await admin.agent.post(`/users/${id}/enable`).type('form').send({ _csrf: csrf }).expect(303);

    await request(app).get(path).expect(404);
    const taken = request.agent(app);
    const form = await taken.get('/login').expect(200);
    await taken.post(path).type('form').send({ _csrf: csrfFrom(form.text), password: 'gwen-password-taken', password_confirm: 'gwen-password-taken' }).expect(404);
    expect((await signIn('gwen', 'gwen-password-taken')).status).not.toBe(303);
    expect(await env.deps.knex('user_invites').where({ user_id: id })).toHaveLength(0);
    // The admin gives her a new link when she is back: that one works.
    const fresh = pathOf(linkIn((await admin.agent.post(`/users/${id}/invite`).type('form').send({ _csrf: csrf }).expect(200)).text)!);
    await accept(fresh, 'gwen-password-long');
  });

  it('a new link resets the password: the old link stops working, an expired one never works', async () => {
    const first = await invite('fred', 'operator');
    const id = (await env.deps.repos.users.findByUsername('fred'))!.id;
    const reissued = await admin.agent.post(`/users/${id}/invite`).type('form').send({ _csrf: csrf }).expect(200);
    const second = pathOf(linkIn(reissued.text)!);
    expect(second).not.toBe(first);
    await request(app).get(first).expect(404);
    await accept(second, 'fred-password-one');

    const reset = pathOf(linkIn((await admin.agent.post(`/users/${id}/invite`).type('form').send({ _csrf: csrf }).expect(200)).text)!);
    await env.deps.knex('user_invites').where({ user_id: id }).update({ expires_at: new Date(Date.now() - 1000) });
    await request(app).get(reset).expect(404);
    expect((await signIn('fred', 'fred-password-one')).status).toBe(303);
  });

  it('changes a role; the last enabled admin cannot be demoted, disabled or deleted', async () => {
    const boss = (await env.deps.repos.users.findByUsername('boss'))!;
    for (const [path, body] of [[`/users/${boss.id}/role`, { role: 'viewer' }], [`/users/${boss.id}/disable`, {}], [`/users/${boss.id}/delete`, {}]] as const) {
      const res = await admin.agent.post(path).type('form').send({ _csrf: csrf, ...body }).expect(409);
      expect(res.text).toContain('This is the last enabled admin');
    }
    expect((await env.deps.repos.users.findById(boss.id))!).toMatchObject({ role: 'admin', disabledAt: null });

    const dave = (await env.deps.repos.users.findByUsername('dave'))!;
    await admin.agent.post(`/users/${dave.id}/role`).type('form').send({ _csrf: csrf, role: 'admin' }).expect(303);
    // With a second admin, the first may step down.
    await admin.agent.post(`/users/${boss.id}/role`).type('form').send({ _csrf: csrf, role: 'operator' }).expect(303);
    expect((await env.deps.repos.users.findById(boss.id))!.role).toBe('operator');
    await admin.agent.get('/users').expect(403);
    await env.deps.repos.users.change(boss.id, { role: 'admin' });
  });

  it('deletes a user and ends their sessions', async () => {
    const path = await invite('gina', 'viewer');
    const gina = await accept(path, 'gina-password-long');
    const id = (await env.deps.repos.users.findByUsername('gina'))!.id;
    const list = await admin.agent.get('/users').expect(200);
    expect(list.text).toContain(`id="user-${id}"`);
    // Behind a second click, which needs no script: the form sits in a closed disclosure.
    expect(list.text).toMatch(new RegExp(`<details>\\s*<summary[^>]*>Delete…</summary>\\s*<form method="post" action="/users/${id}/delete"[^>]*>.*?<button class="btn-danger">Delete gina</button></form>\\s*</details>`, 's'));
    await admin.agent.post(`/users/${id}/delete`).type('form').send({ _csrf: csrf }).expect(303);
    expect(await env.deps.repos.users.findById(id)).toBeUndefined();
    await gina.get('/containers').expect(303).expect('Location', '/login?session=ended');
  });
});

describe('/account', () => {
  it('changes the own password only with the current one, and signs out other browsers', async () => {
    await env.deps.repos.users.create({ username: 'hank', passwordHash: await hashPassword('hank-password-old'), role: 'viewer' });
    const here = await signIn('hank', 'hank-password-old');
    const elsewhere = await signIn('hank', 'hank-password-old');
    const page = await here.agent.get('/account').expect(200);
    expect(page.text).toContain('role <span class="font-medium">viewer</span>');
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.text)![1];

    const wrong = await here.agent.post('/account/password').type('form').send({ _csrf: token, current_password: 'guess-guess', password: 'hank-password-new', password_confirm: 'hank-password-new' }).expect(422);
    expect(wrong.text).toContain('That is not your current password.');
    expect((await signIn('hank', 'hank-password-old')).status).toBe(303);

    await here.agent.post('/account/password').type('form').send({ _csrf: token, current_password: 'hank-password-old', password: 'hank-password-new', password_confirm: 'hank-password-new' }).expect(303);
    expect((await here.agent.get('/account').expect(200)).text).toContain('Your password is changed');
    await elsewhere.agent.get('/containers').expect(303).expect('Location', '/login?session=ended');
    expect((await signIn('hank', 'hank-password-old')).status).toBe(401);
    expect((await signIn('hank', 'hank-password-new')).status).toBe(303);
  });

  it('a password changed here makes a reset link still open useless: it cannot set the password after all', async () => {
    const path = await invite('lena', 'operator');
    const lena = await accept(path, 'lena-password-one');
    const id = (await env.deps.repos.users.findByUsername('lena'))!.id;
    // A reset asked for and not used (she remembered her password): the link is still out there, in a mail or a chat.
    const reset = pathOf(linkIn((await admin.agent.post(`/users/${id}/invite`).type('form').send({ _csrf: csrf }).expect(200)).text)!);
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec((await lena.get('/account').expect(200)).text)![1];
    await lena.post('/account/password').type('form').send({ _csrf: token, current_password: 'lena-password-one', password: 'lena-password-two', password_confirm: 'lena-password-two' }).expect(303);

    await request(app).get(reset).expect(404);
    expect((await signIn('lena', 'lena-password-two')).status).toBe(303);
  });

  it('the current password cannot be guessed on it: after 5 wrong ones in 15 minutes it answers 429, the right one too', async () => {
    await env.deps.repos.users.create({ username: 'kim', passwordHash: await hashPassword('kim-password-real'), role: 'viewer' });
    const taken = await signIn('kim', 'kim-password-real');
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec((await taken.agent.get('/account').expect(200)).text)![1];
    const change = (current: string) => taken.agent.post('/account/password').type('form')
      .send({ _csrf: token, current_password: current, password: 'kim-password-mine', password_confirm: 'kim-password-mine' });
    for (let i = 0; i < 5; i++) expect((await change(`guess-${i}-guess`)).status).toBe(422);
    const refused = await change('kim-password-real');
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('Too many wrong current passwords');
    // Nothing changed: the owner still signs in with the password they know.
    expect((await signIn('kim', 'kim-password-real')).status).toBe(303);
  });

  it('a request of another browser still running when the password changes cannot bring that session back', async () => {
    await env.deps.repos.users.create({ username: 'jane', passwordHash: await hashPassword('jane-password-old'), role: 'operator' });
    const here = await signIn('jane', 'jane-password-old');
    const stolen = await signIn('jane', 'jane-password-old');
    const stolenCsrf = /<meta name="csrf-token" content="([^"]+)"/.exec((await stolen.agent.get('/containers/new/template').expect(200)).text)![1]!;
    await stolen.agent.post('/containers/new/template').type('form').send({ _csrf: stolenCsrf, template: '' }).expect(303);

    // A node that takes the connection and answers nothing: the Configure step waits on it, its session loaded.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => void sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const node = await insertNode(env.deps, 'silent-node');
    await env.deps.knex('nodes').where({ id: node.id }).update({ api_url: `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/api2/json`, tls_fingerprint: 'AB:'.repeat(31) + 'AB' });
    const slow = stolen.agent.post('/containers/new/configure').type('form').send({ _csrf: stolenCsrf, node: 'silent-node', hostname: 'web-1', cores: '1', memory: '512', swap: '0', disk: '4' }).then((r) => r);
    while (sockets.size === 0) await new Promise((r) => setTimeout(r, 20));

    // Meanwhile the owner changes the password to lock the other browser out.
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec((await here.agent.get('/account').expect(200)).text)![1];
    await here.agent.post('/account/password').type('form').send({ _csrf: token, current_password: 'jane-password-old', password: 'jane-password-new', password_confirm: 'jane-password-new' }).expect(303);
    silent.close();
    for (const s of sockets) s.destroy();
    await slow;

    await stolen.agent.get('/containers').expect(303).expect('Location', '/login?session=ended');
    await here.agent.get('/account').expect(200);
  }, 30_000);

  it('a form posted from a page of a session that has ended asks to sign in again, not "the form expired"', async () => {
    await env.deps.repos.users.create({ username: 'iris', passwordHash: await hashPassword('iris-password-old'), role: 'operator' });
    const stale = await signIn('iris', 'iris-password-old');
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec((await stale.agent.get('/account').expect(200)).text)![1]!;
    const other = await signIn('iris', 'iris-password-old');
    const otherToken = /<meta name="csrf-token" content="([^"]+)"/.exec((await other.agent.get('/account').expect(200)).text)![1];
    await other.agent.post('/account/password').type('form')
      .send({ _csrf: otherToken, current_password: 'iris-password-old', password: 'iris-password-new', password_confirm: 'iris-password-new' }).expect(303);

    // The page left open in the first browser still holds its token; its session is gone.
    const form = await stale.agent.post('/account/tokens').type('form').send({ _csrf: token, name: 'ci' }).expect(303);
    expect(form.headers.location).toBe('/login?session=ended');
    expect(form.text).not.toContain('The form expired');
    const hx = await stale.agent.post('/account/tokens').set('HX-Request', 'true').set('HX-Current-URL', 'http://launchpad.test/account?tab=tokens')
      .type('form').send({ _csrf: token, name: 'ci' }).expect(401);
    expect(hx.headers['hx-redirect']).toBe(`/login?next=${encodeURIComponent('/account?tab=tokens')}&session=ended`);
    expect(await env.deps.knex('api_tokens').where({ name: 'ci' }).count<{ count: string }[]>('* as count').then((r) => Number(r[0]!.count))).toBe(0);
    const login = await stale.agent.get('/login?session=ended').expect(200);
    expect(login.text).toContain('Your session ended; sign in again.');

    // Still refused, whatever answer it gets: a sign-in form without its token (the stale cookie gets no say) …
    const forged = await stale.agent.post('/login').type('form').send({ username: 'iris', password: 'iris-password-new' });
    expect(forged.status).toBe(303);
    expect(forged.headers.location).toBe('/login?session=ended');
    await stale.agent.get('/containers').expect(303).expect('Location', '/login?session=ended');
    // … and a live session's forms with a wrong token are refused as before.
    const live = await signIn('iris', 'iris-password-new');
    const refused = await live.agent.post('/account/tokens').type('form').send({ _csrf: token, name: 'ci' }).expect(403);
    expect(refused.text).toContain('The form expired or came from another site');
    // The sign-in form itself works with the stale cookie along, and brings the person back.
    const again = await stale.agent.post('/login').type('form').send({ _csrf: csrfFrom(login.text), username: 'iris', password: 'iris-password-new', next: '/account' });
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe('/account');
    await stale.agent.get('/account').expect(200);
  });
});
