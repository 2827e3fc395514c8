// Findings from a team using one Launchpad together, through the front door: a Review page whose draft another tab
// replaced or deployed; refusals by a rule that lead back where the person was; whose container it is, for those who
// see everyone's; audit entries of user management that say what changed and to whom; a viewer's empty list.
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/domain/passwords.ts';
import type { Role } from '../src/domain/roles.ts';
import { insertContainer, insertNode, recorderFor } from './support/fixtures.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let app: Express;
let templateId: number;
let nodeId: number;

const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  const created = await env.deps.repos.templates.createCustom({
    name: 'team-app', description: 'Team use', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 0, disk: 4,
    unprivileged: true, nesting: false, tags: [], scripts: [], files: [], packages: [],
  });
  if (created === 'taken') throw new Error('template name taken');
  templateId = created;
  nodeId = (await insertNode(env.deps, 'team-node')).id;
});

afterAll(async () => {
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await env?.close();
});

/** A signed-in agent of a user with this role (created on first use) and a CSRF token for its session. */
async function as(username: string, role: Role) {
  const user = (await env.deps.repos.users.findByUsername(username)) ?? (await env.deps.repos.users.create({ username, passwordHash: await hashPassword(PASSWORD), role }));
  const session: SignedInAgent = await signedInAgent(app, env.deps, { username, password: PASSWORD });
  const csrf = await session.csrf();
  const post = (path: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    session.agent.post(path).set(headers).type('form').send({ _csrf: csrf, ...fields });
  return { user, agent: session.agent, csrf, post };
}

/** The layout's flash box or the wizard's (inside #wizard), or undefined. */
const flashIn = (html: string) => /<div role="status"[^>]*>([^<]*)<\/div>/.exec(html)?.[1];
const wizardPart = (html: string) => html.slice(html.indexOf('<div id="wizard"'));

describe('Deploy from a Review page whose draft is not the session’s any more', () => {
  it('goes back to the wizard where the current draft stands, saying why (the draft was replaced in another tab)', async () => {
    const op = await as('tab-user', 'operator');
    // Tab 2 starts another draft (here: a template page's Deploy link); tab 1 still shows its Review page.
    expect((await op.agent.get(`/containers/new?template=${templateId}`)).headers.location).toBe('/containers/new/configure');
    const before = await env.deps.knex('containers').count<{ count: string }[]>('* as count');
    for (const headers of [{}, { 'HX-Request': 'true', 'HX-Boosted': 'true' }] as Record<string, string>[]) {
      const res = await op.post('/containers', { deploy_id: randomUUID() }, headers);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/containers/new/configure');
      const page = await op.agent.get('/containers/new/configure').expect(200);
      // Inside #wizard: an htmx swap of the wizard shows it too.
      expect(flashIn(wizardPart(page.text))).toContain('replaced in another tab');
    }
    expect(await env.deps.knex('containers').count<{ count: string }[]>('* as count')).toEqual(before);
  });

  it('with no draft left (deployed or discarded), starts the wizard over with the same message', async () => {
    const op = await as('tab-user-2', 'operator');
    const res = await op.post('/containers', { deploy_id: randomUUID() });
    expect(res.headers.location).toBe('/containers/new/template');
    expect(flashIn((await op.agent.get('/containers/new/template')).text)).toContain('replaced in another tab');
  });

  it('goes to the container when that draft was deployed (its own); another’s container id is not revealed', async () => {
    const op = await as('tab-user-3', 'operator');
    const own = await insertContainer(env.deps, op.user.id, nodeId, 'tab-own');
    const htmx = await op.post('/containers', { deploy_id: own.id }, { 'HX-Request': 'true' });
    expect(htmx.headers['hx-redirect']).toBe(`/containers/${own.id}`);
    expect((await op.post('/containers', { deploy_id: own.id })).headers.location).toBe(`/containers/${own.id}`);
    const others = await insertContainer(env.deps, (await as('tab-other', 'operator')).user.id, nodeId, 'tab-others');
    expect((await op.post('/containers', { deploy_id: others.id })).headers.location).toBe('/containers/new/template');
  });

  it('leaves the script contract as it was: a form with more than a deploy id, or asking for JSON, is checked as sent', async () => {
    const op = await as('tab-script', 'operator');
    const form = await op.post('/containers', { deploy_id: randomUUID(), hostname: 'scripted' });
    expect(form.status).toBe(422);
    expect(form.text).toContain('The container was not created');
    const json = await op.agent.post('/containers').set('Accept', 'application/json').type('form').send({ _csrf: op.csrf, deploy_id: randomUUID() });
    expect(json.status).toBe(422);
    expect(json.body.fields).toHaveProperty('hostname');
  });

  it('an htmx request refused by its role rule (demoted on Review) gets the explanation in a form the wizard swaps in', async () => {
    const viewer = await as('tab-viewer', 'viewer');
    const res = await viewer.post('/containers', { deploy_id: randomUUID() }, { 'HX-Request': 'true', 'HX-Boosted': 'true' });
    expect(res.status).toBe(403);
    // The wizard's hx-select="#wizard" would find nothing in the panel: HX-Reselect names the panel instead.
    expect(res.headers['hx-reselect']).toBe('#error-panel');
    expect(res.headers['hx-retarget']).toBe('#main');
    expect(res.text).toContain('id="error-panel"');
  });
});

/** The error panel's heading and its way back (href, label). */
const panelOf = (html: string) => ({
  heading: /<h1[^>]*>([^<]*)<\/h1>/.exec(html.slice(html.indexOf('id="error-panel"')))?.[1],
  back: /<a href="([^"]*)" class="btn-secondary">([^<]*)<\/a>/.exec(html.slice(html.indexOf('id="error-panel"')))?.slice(1, 3),
});

describe('a refused action’s page (409)', () => {
  it('for a container: leads back to the container; a rule is “not allowed”, something in progress “not now”', async () => {
    const admin = await as('conflict-admin', 'admin');
    const c = await insertContainer(env.deps, admin.user.id, nodeId, 'conflict-ct');
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.5' });

    const retry = await admin.post(`/containers/${c.id}/retry`);
    expect(retry.status).toBe(409);
    expect(panelOf(retry.text)).toEqual({ heading: 'That is not allowed', back: [`/containers/${c.id}`, 'Back to the container'] });

    await env.deps.knex('containers').where({ id: c.id }).update({ lifecycle: 'destroying' });
    const destroy = await admin.post(`/containers/${c.id}/destroy`, { confirm_hostname: 'conflict-ct' });
    expect(destroy.status).toBe(409);
    expect(panelOf(destroy.text)).toEqual({ heading: 'That cannot be done right now', back: [`/containers/${c.id}`, 'Back to the container'] });

    // A script asking for JSON still reads the status and the message.
    const json = await admin.agent.post(`/containers/${c.id}/retry`).set('Accept', 'application/json').type('form').send({ _csrf: admin.csrf });
    expect(json.status).toBe(409);
    expect(json.body.error).toMatch(/^Only a failed or cancelled build can be retried/);
  });

  it('for a user rule: leads back to /users', async () => {
    const admin = await as('rule-admin', 'admin');
    const owner = await as('rule-owner', 'operator');
    await insertContainer(env.deps, owner.user.id, nodeId, 'rule-ct');
    const res = await admin.post(`/users/${owner.user.id}/delete`);
    expect(res.status).toBe(409);
    expect(panelOf(res.text)).toEqual({ heading: 'That is not allowed', back: ['/users', 'Back to Users'] });
  });
});

describe('whose container it is', () => {
  it('is shown to admins and viewers (list, page, JSON), and not added to an operator’s own list and page', async () => {
    const owner = await as('owner-op', 'operator');
    const c = await insertContainer(env.deps, owner.user.id, nodeId, 'owned-ct');
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.6' });
    const ownerCell = (html: string) => new RegExp(`<tr id="container-${c.id}">[\\s\\S]*?</tr>`).exec(html)?.[0].includes('>owner-op</td>');
    const configOwner = (html: string) => /<dt[^>]*>Owner<\/dt><dd[^>]*>([^<]*)<\/dd>/.exec(html)?.[1];

    for (const [name, role] of [['owner-admin', 'admin'], ['owner-viewer', 'viewer']] as const) {
      const who = await as(name, role);
      const list = await who.agent.get('/containers').expect(200);
      expect(list.text).toContain('>Owner</th>');
      expect(ownerCell(list.text), role).toBe(true);
      expect(configOwner((await who.agent.get(`/containers/${c.id}`).expect(200)).text)).toBe('owner-op');
      const json = await who.agent.get(`/containers/${c.id}`).set('Accept', 'application/json').expect(200);
      expect(json.body.owner).toBe('owner-op');
      const listJson = await who.agent.get('/containers').set('Accept', 'application/json').expect(200);
      expect(listJson.body.containers.find((x: { id: string }) => x.id === c.id).owner).toBe('owner-op');
    }

    const list = await owner.agent.get('/containers').expect(200);
    expect(list.text).not.toContain('>Owner</th>');
    expect(ownerCell(list.text)).toBe(false);
    expect(configOwner((await owner.agent.get(`/containers/${c.id}`).expect(200)).text)).toBeUndefined();
    expect((await owner.agent.get(`/containers/${c.id}`).set('Accept', 'application/json').expect(200)).body.owner).toBe('owner-op');
  });
});

describe('audit entries of user management', () => {
  /** The newest entry of this action (admin changes are written once the answer has gone out: poll a moment). */
  async function newest(action: string, after: number) {
    for (let i = 0; i < 100; i++) {
      const row = await env.deps.knex('audit_entries').where({ action }).where('id', '>', after).orderBy('id', 'desc').first();
      if (row) return row;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }
  const lastId = async () => Number((await env.deps.knex('audit_entries').max<{ max: number | null }[]>('id as max'))[0]!.max ?? 0);

  it('a role change records the new and the previous role; a refused one names the user, not “user 7”', async () => {
    const admin = await as('audit-admin', 'admin');
    const target = await as('audit-target', 'operator');
    let since = await lastId();
    expect((await admin.post(`/users/${target.user.id}/role`, { role: 'viewer' })).status).toBe(303);
    expect(await newest('user.role', since)).toMatchObject({ target: 'audit-target', outcome: 'success', details: expect.objectContaining({ role: 'viewer', previous_role: 'operator' }) });

    // Only admin left among the enabled admins of this test? Make audit-admin the last one by demoting the others.
    await env.deps.knex('users').whereNot({ id: admin.user.id }).where({ role: 'admin' }).update({ role: 'operator' });
    since = await lastId();
    expect((await admin.post(`/users/${admin.user.id}/role`, { role: 'viewer' })).status).toBe(409);
    expect(await newest('user.role', since)).toMatchObject({ target: 'audit-admin', outcome: 'failure', details: expect.objectContaining({ role: 'viewer', previous_role: 'admin' }) });
  });

  it('a delete names the deleted user (refused or done)', async () => {
    const admin = await as('audit-admin', 'admin');
    const owner = await as('audit-owner', 'operator');
    await insertContainer(env.deps, owner.user.id, nodeId, 'audit-owned');
    let since = await lastId();
    expect((await admin.post(`/users/${owner.user.id}/delete`)).status).toBe(409);
    expect(await newest('user.delete', since)).toMatchObject({ target: 'audit-owner', outcome: 'failure' });

    const gone = await env.deps.repos.users.create({ username: 'audit-gone', passwordHash: await hashPassword(PASSWORD), role: 'viewer' });
    since = await lastId();
    expect((await admin.post(`/users/${gone.id}/delete`)).status).toBe(303);
    expect(await newest('user.delete', since)).toMatchObject({ target: 'audit-gone', outcome: 'success' });
  });

  it('setting a password from an invite or reset link is audited for that user, without the password or the link', async () => {
    const admin = await as('audit-admin', 'admin');
    const created = await admin.post('/users', { username: 'audit-invitee', role: 'operator' });
    expect(created.status).toBe(201);
    const link = /\/invite\/([A-Za-z0-9_-]+)/.exec(created.text)![1]!;
    const since = await lastId();
    const supertest = (await import('supertest')).default;
    const visitor = supertest.agent(app);
    const form = await visitor.get(`/invite/${link}`).expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
    const secret = 'invitee-new-password';
    // A refused try first (the two passwords differ): audited as a failure naming the fields, not the passwords.
    expect((await visitor.post(`/invite/${link}`).type('form').send({ _csrf: csrf, password: secret, password_confirm: `${secret}-typo` })).status).toBe(422);
    const refused = await newest('auth.invite_accept', since);
    expect(refused).toMatchObject({ username: 'audit-invitee', target: 'audit-invitee', outcome: 'failure', details: { status: 422 } });
    expect((await visitor.post(`/invite/${link}`).type('form').send({ _csrf: csrf, password: secret, password_confirm: secret })).status).toBe(303);
    const entry = await newest('auth.invite_accept', since);
    expect(entry).toMatchObject({ username: 'audit-invitee', target: 'audit-invitee', outcome: 'success' });
    // The used link again: refused, and audited without the link.
    const reused = await supertest.agent(app).get(`/invite/${link}`);
    expect(reused.status).toBeGreaterThanOrEqual(400);
    const all = JSON.stringify(await env.deps.knex('audit_entries').where('id', '>', since));
    expect(all).not.toContain(secret);
    expect(all).not.toContain(link);
  });

  it('a password reset is audited as auth.reset_accept, apart from invites (a new link for an invite never used stays one)', async () => {
    const admin = await as('audit-admin', 'admin');
    const supertest = (await import('supertest')).default;
    /** Opens a link's form and sets the password (after a refused try, when `typo`); returns the answers' statuses. */
    const setPassword = async (html: string, password: string, typo = false) => {
      const link = /\/invite\/([A-Za-z0-9_-]+)/.exec(html)![1]!;
      const visitor = supertest.agent(app);
      const csrf = /name="_csrf" value="([^"]+)"/.exec((await visitor.get(`/invite/${link}`).expect(200)).text)![1]!;
      if (typo) expect((await visitor.post(`/invite/${link}`).type('form').send({ _csrf: csrf, password, password_confirm: `${password}-typo` })).status).toBe(422);
      expect((await visitor.post(`/invite/${link}`).type('form').send({ _csrf: csrf, password, password_confirm: password })).status).toBe(303);
    };
    const entriesAbout = async (target: string, after: number) =>
      (await env.deps.knex('audit_entries').where({ target }).where('id', '>', after).where('action', 'like', 'auth.%').orderBy('id')).map((e) => [e.action, e.outcome]);

    // Someone who forgot their password: an admin's “New link” is the reset.
    const forgetful = await env.deps.repos.users.create({ username: 'audit-forgetful', passwordHash: await hashPassword(PASSWORD), role: 'operator' });
    let since = await lastId();
    await setPassword((await admin.post(`/users/${forgetful.id}/invite`).expect(200)).text, 'forgetful-new-password', true);
    expect(await newest('auth.reset_accept', since)).toMatchObject({ username: 'audit-forgetful', target: 'audit-forgetful', outcome: 'success' });
    expect(await entriesAbout('audit-forgetful', since)).toEqual([['auth.reset_accept', 'failure'], ['auth.reset_accept', 'success']]);

    // A new link for an invite that was never used is still an invite.
    const created = await admin.post('/users', { username: 'audit-late', role: 'viewer' }).expect(201);
    const late = (await env.deps.repos.users.findByUsername('audit-late'))!;
    expect(created.text).toContain('/invite/');
    since = await lastId();
    await setPassword((await admin.post(`/users/${late.id}/invite`).expect(200)).text, 'late-new-password');
    expect(await newest('auth.invite_accept', since)).toMatchObject({ target: 'audit-late', outcome: 'success' });
    expect(await entriesAbout('audit-late', since)).toEqual([['auth.invite_accept', 'success']]);

    // The audit page offers the action in its filter and lists the reset under it.
    const page = await admin.agent.get('/audit?action=auth.reset_accept').expect(200);
    expect(page.text).toContain('<option value="auth.reset_accept" selected>');
    expect(page.text).toContain('audit-forgetful');
    expect(page.text).not.toContain('audit-late');
  });
});

describe('a viewer’s empty container list', () => {
  it('says what a viewer can do instead of inviting them to deploy', async () => {
    const fresh = await createTestEnv();
    try {
      const freshApp = createTestApp(fresh);
      await fresh.deps.repos.users.create({ username: 'empty-viewer', passwordHash: await hashPassword(PASSWORD), role: 'viewer' });
      const viewer = await signedInAgent(freshApp, fresh.deps, { username: 'empty-viewer', password: PASSWORD });
      const page = await viewer.agent.get('/containers').expect(200);
      expect(page.text).toContain('No containers yet');
      expect(page.text).not.toContain('Pick a template, fill in a short wizard');
      expect(page.text).toContain('deploying needs the operator role');
    } finally {
      await fresh.deps.queue.obliterate({ force: true }).catch(() => undefined);
      await fresh.close();
    }
  });
});
