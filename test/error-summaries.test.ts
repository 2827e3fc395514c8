// Every refused form outside the wizard shows the same summary (views/partials/errors-alert.eta) inside the form that
// was refused, and shows again what was typed: bad input loses nothing but the secrets, which are never sent back.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { announceSetupCode } from '../src/domain/accounts.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

const SUMMARY = 'Some fields need attention; each message is next to its field.';
const csrfFrom = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
/** The one form posting to `action`, from its opening tag to its end. */
const formOf = (html: string, action: string) => {
  const start = html.indexOf(`action="${action}"`);
  expect(start, `a form posting to ${action}`).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</form>', start));
};
const alertsIn = (html: string) => html.match(/<p role="alert"[^>]*>([^<]*)<\/p>/g) ?? [];

let env: TestEnv;
let app: ReturnType<typeof createApp>;
let admin: SignedInAgent;
let csrf: string;

beforeAll(async () => {
  env = await createTestEnv();
  app = createApp(env.deps);
}, 60_000);
afterAll(() => env?.close());

describe('a refused form shows the shared summary and keeps what was typed', () => {
  it('first-run setup', async () => {
    await announceSetupCode({ users: env.deps.repos.users, settings: env.deps.repos.settings, logger: env.deps.logger });
    const agent = request.agent(app);
    const page = await agent.get('/setup').expect(200);
    const res = await agent.post('/setup').type('form')
      .send({ _csrf: csrfFrom(page.text), code: 'deadbeef0000', username: 'Root-Admin', password: 'correct horse', password_confirm: 'correct horse' }).expect(422);
    const form = formOf(res.text, '/setup');
    expect(form).toContain(SUMMARY);
    expect(form).toMatch(/role="alert" tabindex="-1" autofocus/);
    expect(form).toContain('value="deadbeef0000"');
    expect(form).toContain('value="Root-Admin"');
    expect(alertsIn(res.text)).toHaveLength(1);
  });

  it('new user, and the Proxmox sign-in settings and link of /users', async () => {
    admin = await signedInAgent(app, env.deps, { username: 'boss', password: 'boss-password-long' });
    csrf = await admin.csrf('/users');
    const created = await admin.agent.post('/users').type('form').send({ _csrf: csrf, username: 'no spaces allowed', role: 'viewer' }).expect(422);
    expect(formOf(created.text, '/users')).toContain(SUMMARY);
    expect(formOf(created.text, '/users')).toContain('value="no spaces allowed"');
    expect(formOf(created.text, '/users/proxmox-sign-in')).not.toContain('role="alert"');

    // Turned on without a node: the box stays ticked and the other choices stay as chosen.
    const signIn = await admin.agent.post('/users/proxmox-sign-in').type('form')
      .send({ _csrf: csrf, enabled: 'on', node_id: '', unknown_users: 'create', default_role: 'operator' }).expect(422);
    const signInForm = formOf(signIn.text, '/users/proxmox-sign-in');
    expect(signInForm).toContain(SUMMARY);
    expect(signInForm).toMatch(/name="enabled" value="on" checked/);
    expect(signInForm).toContain('<option value="create" selected>');
    expect(signInForm).toContain('<option value="operator" selected>');
    expect(alertsIn(signIn.text)).toHaveLength(1);

    const boss = (await env.deps.repos.users.findByUsername('boss'))!;
    const link = await admin.agent.post(`/users/${boss.id}/proxmox-user`).type('form').send({ _csrf: csrf, pve_userid: 'not a userid' }).expect(422);
    expect(link.text).toContain(SUMMARY);
    expect(formOf(link.text, `/users/${boss.id}/proxmox-user`)).toContain('value="not a userid"');
  });

  it('invite acceptance', async () => {
    const created = await admin.agent.post('/users').type('form').send({ _csrf: csrf, username: 'newbie', role: 'viewer' }).expect(201);
    const path = new URL(/<code id="invite-link"[^>]*>([^<]+)<\/code>/.exec(created.text)![1]!).pathname;
    const agent = request.agent(app);
    const page = await agent.get(path).expect(200);
    const res = await agent.post(path).type('form').send({ _csrf: csrfFrom(page.text), password: 'short', password_confirm: 'other' }).expect(422);
    expect(formOf(res.text, path)).toContain(SUMMARY);
  });

  it('password change and API tokens on /account', async () => {
    const account = await admin.csrf('/account');
    const password = await admin.agent.post('/account/password').type('form')
      .send({ _csrf: account, current_password: 'boss-password-long', password: 'short', password_confirm: 'short' }).expect(422);
    expect(formOf(password.text, '/account/password')).toContain(SUMMARY);
    expect(formOf(password.text, '/account/tokens')).not.toContain('role="alert"');

    const token = await admin.agent.post('/account/tokens').type('form').send({ _csrf: account, name: 'ci-deploy', expires_in_days: 'soon' }).expect(422);
    const tokenForm = formOf(token.text, '/account/tokens');
    expect(tokenForm).toContain(SUMMARY);
    expect(tokenForm).toContain('value="ci-deploy"');
    expect(tokenForm).toContain('value="soon"');
    expect(formOf(token.text, '/account/password')).not.toContain('role="alert"');
  });

  it('package sets: new set, add a package, rename', async () => {
    const created = await admin.agent.post('/package-sets').type('form').send({ _csrf: csrf, name: 'bad name!', description: 'kept' }).expect(422);
    expect(formOf(created.text, '/package-sets')).toContain(SUMMARY);
    expect(formOf(created.text, '/package-sets')).toContain('value="kept"');

    const ok = await admin.agent.post('/package-sets').type('form').send({ _csrf: csrf, name: 'base-tools', description: '' }).expect(303);
    const url = ok.headers.location as string;
    const add = await admin.agent.post(`${url}/packages`).type('form').send({ _csrf: csrf, manager: 'apt', package: 'Bad Name', version: '' }).expect(422);
    expect(formOf(add.text, `${url}/packages`)).toContain(SUMMARY);
    expect(formOf(add.text, `${url}/packages`)).toContain('value="Bad Name"');
    expect(formOf(add.text, url)).not.toContain('role="alert"');

    const rename = await admin.agent.post(url).type('form').send({ _csrf: csrf, name: 'bad name!', description: 'still here' }).expect(422);
    expect(formOf(rename.text, url)).toContain(SUMMARY);
    expect(formOf(rename.text, url)).toContain('value="still here"');
    expect(formOf(rename.text, `${url}/packages`)).not.toContain('role="alert"');
  });
});
