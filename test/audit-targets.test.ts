// Every audited action names what it was done to in the audit trail's Target column, in words an admin recognises —
// a username, a node's, template's or package set's name, a container's hostname — and never a secret.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertContainer, insertNode, recorderFor } from './support/fixtures.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let app: Express;
let admin: SignedInAgent;
let csrf: string;

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  admin = await signedInAgent(app, env.deps, { username: 'auditor' });
  csrf = await admin.csrf();
});
afterAll(async () => {
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await env?.close();
});

const post = (path: string, fields: Record<string, string> = {}) => admin.agent.post(path).type('form').send({ _csrf: csrf, ...fields });

/**
 * The Target cell of the newest /audit row for this action, as the page shows it. Admin changes are written once
 * their answer has gone out, so it may land a moment after the client has read the answer.
 */
async function shownTarget(action: string): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    const page = await admin.agent.get(`/audit?action=${encodeURIComponent(action)}`).expect(200);
    const row = new RegExp(`<tr [^>]*data-action="${action.replace(/\./g, '\\.')}">([\\s\\S]*?)</tr>`).exec(page.text)?.[1];
    if (row) {
      const cells = [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => m[1]!.replace(/<[^>]*>/g, '').trim());
      return cells[4];
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

describe('the audit trail names a target', () => {
  it('for user management: the username, and for the Proxmox VE sign-in setting, that setting', async () => {
    expect((await post('/users', { username: 'newbie', role: 'operator' })).status).toBe(201);
    expect(await shownTarget('user.create')).toBe('newbie');
    const { id } = (await env.deps.repos.users.findByUsername('newbie'))!;

    const steps: [string, string, Record<string, string>?][] = [
      [`/users/${id}/role`, 'user.role', { role: 'viewer' }],
      [`/users/${id}/disable`, 'user.disable'],
      [`/users/${id}/enable`, 'user.enable'],
      [`/users/${id}/invite`, 'user.invite'],
      [`/users/${id}/proxmox-user`, 'user.proxmox_user', { pve_userid: 'newbie@pve' }],
      [`/users/${id}/delete`, 'user.delete'],
    ];
    for (const [path, action, fields] of steps) {
      expect((await post(path, fields)).status, path).toBeLessThan(400);
      expect(await shownTarget(action), action).toBe('newbie');
    }

    expect((await post('/users/proxmox-sign-in', { unknown_users: 'refuse', default_role: 'viewer' })).status).toBe(303);
    expect(await shownTarget('user.proxmox_sign_in')).toBe('sign-in with Proxmox VE');
  });

  it('for nodes: the node name, also when the form is refused', async () => {
    const node = await insertNode(env.deps, 'audit-pve');
    expect((await post(`/nodes/${node.id}`, { name: 'audit-pve', api_url: 'not a url' })).status).toBe(422);
    expect(await shownTarget('node.update')).toBe('audit-pve');
    expect((await post('/nodes', { name: 'typed-pve', api_url: 'not a url' })).status).toBe(422);
    expect(await shownTarget('node.create')).toBe('typed-pve');
    expect((await post('/nodes/fingerprints', { name: 'fp-pve', api_url: 'not a url', ssh_host: '' })).status).toBe(200);
    expect(await shownTarget('node.fingerprints')).toBe('fp-pve');
    expect((await post(`/nodes/${node.id}/delete`)).status).toBe(303);
    expect(await shownTarget('node.delete')).toBe('audit-pve');
  });

  it('for templates and package sets: their names; for a rescan, the directory', async () => {
    expect((await post('/templates', { name: 'typed-template' })).status).toBe(422);
    expect(await shownTarget('template.create')).toBe('typed-template');
    expect((await post('/templates/rescan')).status).toBe(303);
    expect(await shownTarget('template.rescan')).toBe(env.config.templatesDir);

    expect((await post('/package-sets', { name: 'audit-set', description: 'for the audit test' })).status).toBe(303);
    expect(await shownTarget('package_set.create')).toBe('audit-set');
    const set = (await env.deps.repos.packageSets.list()).find((s) => s.name === 'audit-set')!;
    expect((await post(`/package-sets/${set.id}`, { name: 'audit-set-2', description: '' })).status).toBe(303);
    expect(await shownTarget('package_set.update')).toBe('audit-set-2');
    expect((await post(`/package-sets/${set.id}/import`, { manager: 'apt', lines: 'curl\n', _action: 'save' })).status).toBe(303);
    expect(await shownTarget('package_set.import')).toBe('audit-set-2');
    expect((await post(`/package-sets/${set.id}/delete`)).status).toBe(303);
    expect(await shownTarget('package_set.delete')).toBe('audit-set-2');
  });

  it('for a bearer request refused on /account: the account, or the token it tried to revoke', async () => {
    expect((await post('/account/tokens', { name: 'audit-token' })).status).toBe(303);
    const token = /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec((await admin.agent.get('/account').expect(200)).text)![1]!;
    const [row] = await env.deps.knex('api_tokens').where({ name: 'audit-token' });
    expect(await shownTarget('token.create')).toBe('audit-token');

    expect((await admin.agent.get('/account').set('Authorization', `Bearer ${token}`)).status).toBe(403);
    expect(await shownTarget('account.view')).toBe('auditor');
    expect((await admin.agent.post(`/account/tokens/${row.id}/revoke`).set('Authorization', `Bearer ${token}`)).status).toBe(403);
    expect(await shownTarget('token.revoke')).toBe(`token ${row.id}`);
    const entries = JSON.stringify(await env.deps.knex('audit_entries'));
    expect(entries).not.toContain(token);
  });

  it('for a container action: the hostname, as for a deploy', async () => {
    const owner = (await env.deps.repos.users.findByUsername('auditor'))!;
    const node = await insertNode(env.deps, 'audit-ct-node');
    const c = await insertContainer(env.deps, owner.id, node.id, 'audited-ct');
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.5' });
    expect((await post(`/containers/${c.id}/stop`)).status).toBe(303);
    expect(await shownTarget('container.stop')).toBe('audited-ct');
  });
});
