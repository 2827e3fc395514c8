// Sign-in with Proxmox VE accounts, end to end against the simulator's /access/domains and /access/ticket: off by
// default; an admin turns it on for a node; the login form lists the node's realms; the node checks the password
// (the ticket is dropped) and the linked Launchpad account signs in; unknown Proxmox users are refused or created
// with a default role, as the admin chose; an unreachable node or a disabled account says what to do.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let app: Express;
let admin: SignedInAgent;
let csrf: string;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;

const PVE_USERS = [
  { userid: 'alice@pve', password: 'alice-pve-password' },
  { userid: 'root@pam', password: 'root-pam-password' },
  { userid: 'carol@pve', password: 'carol-pve-password' },
  { userid: 'gone@pve', password: 'gone-pve-password', enable: false },
];

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  sim = await startTestSimulator(env.deps, { pveUsers: PVE_USERS });
  admin = await signedInAgent(app, env.deps, { username: 'boss', password: 'boss-password-long' });
  csrf = await admin.csrf('/users');
}, 60_000);
afterAll(async () => {
  await sim?.close();
  await env?.close();
});

const csrfFrom = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

async function signIn(fields: Record<string, string>) {
  const agent = request.agent(app);
  const page = await agent.get('/login').expect(200);
  const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), ...fields });
  return { agent, res, page };
}

const saveSettings = (fields: Record<string, string>) =>
  admin.agent.post('/users/proxmox-sign-in').type('form').send({ _csrf: csrf, node_id: String(sim.node.id), unknown_users: 'refuse', default_role: 'viewer', ...fields });

describe('the simulator speaks /access to the letter of the schema', () => {
  const api = (path: string, init: RequestInit = {}) => fetch(`${sim.sim.apiUrl}/api2/json${path}`, init);

  it('lists its realms and issues tickets without a token; refuses a token on /access/ticket', async () => {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      const domains = await api('/access/domains');
      expect(domains.status).toBe(200);
      expect((await domains.json()).data).toEqual([
        { realm: 'pam', type: 'pam', comment: 'Linux PAM standard authentication' },
        { realm: 'pve', type: 'pve', comment: 'Proxmox VE authentication server' },
      ]);
      const form = (body: Record<string, string>) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });

      const good = await api('/access/ticket', form({ username: 'alice', realm: 'pve', password: 'alice-pve-password' }));
      expect(good.status).toBe(200);
      const data = (await good.json()).data;
      expect(data.username).toBe('alice@pve');
      expect(data.ticket).toMatch(/^PVE:alice@pve:[0-9A-F]{8}::[A-Za-z0-9+/]+=*$/);
      expect(data.CSRFPreventionToken).toMatch(/^[0-9A-F]{8}:[A-Za-z0-9+/]+$/);
      // The realm may be part of the user name instead.
      expect((await api('/access/ticket', form({ username: 'root@pam', password: 'root-pam-password' }))).status).toBe(200);

      for (const body of [
        { username: 'alice', realm: 'pve', password: 'wrong' },
        { username: 'alice', realm: 'pam', password: 'alice-pve-password' },
        { username: 'gone', realm: 'pve', password: 'gone-pve-password' },
        { username: 'nobody', realm: 'pve', password: 'x' },
      ]) {
        const bad = await api('/access/ticket', form(body));
        expect(bad.status, JSON.stringify(body)).toBe(401);
        expect(bad.statusText).toBe('authentication failure');
        expect((await bad.json()).data).toBeNull();
      }

      const withToken = await api('/access/ticket', {
        ...form({ username: 'alice', realm: 'pve', password: 'alice-pve-password' }),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `PVEAPIToken=${sim.sim.tokenId}=${sim.sim.tokenSecret}` },
      });
      expect(withToken.status).toBe(403);
      expect(withToken.statusText).toBe("Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.");

      // Everything else still needs the token.
      expect((await api('/version')).status).toBe(401);
      const accessCalls = sim.sim.requests.filter((r) => r.path.startsWith('/access'));
      expect(accessCalls.length).toBeGreaterThanOrEqual(7);
      expect(accessCalls.every((r) => Object.keys(r.violations).length === 0)).toBe(true);
      expect(JSON.stringify(accessCalls)).not.toContain('alice-pve-password');
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
  });
});

describe('sign-in with Proxmox VE accounts', () => {
  it('is off by default: the login form has no realm choice and a realm is refused', async () => {
    const { res, page } = await signIn({ username: 'alice', realm: 'pve', password: 'alice-pve-password' });
    expect(page.text).not.toContain('name="realm"');
    expect(res.status).toBe(422);
    expect(res.text).toContain('Sign-in with Proxmox VE accounts is off');
  });

  it('an admin turns it on; the form lists the node’s realms; an unlinked Proxmox user is refused', async () => {
    const missingNode = await saveSettings({ enabled: 'on', node_id: '' }).expect(422);
    expect(missingNode.text).toContain('Choose the node that checks Proxmox VE passwords.');
    await saveSettings({ enabled: 'on' }).expect(303);
    const users = await admin.agent.get('/users').expect(200);
    expect(users.text).toMatch(/name="enabled" value="on" checked/);

    const { res, page } = await signIn({ username: 'alice', realm: 'pve', password: 'alice-pve-password' });
    expect(page.text).toContain('<option value="">Launchpad account</option>');
    expect(page.text).toContain('Proxmox VE: Linux PAM standard authentication (pam)');
    expect(page.text).toContain('Proxmox VE: Proxmox VE authentication server (pve)');
    expect(res.status).toBe(403);
    expect(res.text).toContain('Proxmox VE accepted alice@pve, but no Launchpad account is linked to it. Ask an admin to link it under Users.');
  });

  it('signs in the linked account with the Proxmox password; a wrong one is refused; nothing secret is kept', async () => {
    const invite = await admin.agent.post('/users').type('form').send({ _csrf: csrf, username: 'alice', role: 'operator' }).expect(201);
    expect(invite.text).toContain('invite');
    const alice = (await env.deps.repos.users.findByUsername('alice'))!;
    const bad = await admin.agent.post(`/users/${alice.id}/proxmox-user`).type('form').send({ _csrf: csrf, pve_userid: 'alice' }).expect(422);
    expect(bad.text).toContain('Type the Proxmox VE user as name@realm');
    await admin.agent.post(`/users/${alice.id}/proxmox-user`).type('form').send({ _csrf: csrf, pve_userid: 'alice@pve' }).expect(303);

    const wrong = await signIn({ username: 'alice', realm: 'pve', password: 'not-it' });
    expect(wrong.res.status).toBe(401);
    expect(wrong.res.text).toContain('Wrong username or password.');
    expect(wrong.res.text).toMatch(/<option value="pve" selected>/);
    // The Launchpad password of alice (never set) is not what the Proxmox realm checks, and vice versa.
    expect((await signIn({ username: 'alice', password: 'alice-pve-password' })).res.status).toBe(401);

    const { agent, res } = await signIn({ username: 'alice', realm: 'pve', password: 'alice-pve-password' });
    expect(res.status).toBe(303);
    const page = await agent.get('/containers').expect(200);
    expect(page.text).toContain('alice');
    expect(page.text).toContain('operator');

    const audit = await env.deps.knex('audit_entries').where({ action: 'auth.sign_in' }).orderBy('id');
    const entries = JSON.stringify(audit);
    expect(entries).toContain('"pveUserid":"alice@pve"');
    expect(entries).not.toContain('alice-pve-password');
    expect(entries).not.toContain('PVE:alice@pve');
    const settings = JSON.stringify(await env.deps.knex('settings').select());
    expect(settings).not.toContain('alice-pve-password');
    const sessions = JSON.stringify(await env.deps.knex('sessions').select());
    expect(sessions).not.toContain('PVE:');
  });

  it('one Proxmox user links to one account; unlinking ends that way in', async () => {
    const alice = (await env.deps.repos.users.findByUsername('alice'))!;
    const boss = (await env.deps.repos.users.findByUsername('boss'))!;
    const taken = await admin.agent.post(`/users/${boss.id}/proxmox-user`).type('form').send({ _csrf: csrf, pve_userid: 'alice@pve' }).expect(422);
    expect(taken.text).toContain('alice@pve is already linked to another account.');
    await admin.agent.post(`/users/${alice.id}/proxmox-user`).type('form').send({ _csrf: csrf, pve_userid: '' }).expect(303);
    expect((await signIn({ username: 'alice', realm: 'pve', password: 'alice-pve-password' })).res.status).toBe(403);
    await admin.agent.post(`/users/${alice.id}/proxmox-user`).type('form').send({ _csrf: csrf, pve_userid: 'alice@pve' }).expect(303);
  });

  it('a disabled account cannot sign in with Proxmox either', async () => {
    const alice = (await env.deps.repos.users.findByUsername('alice'))!;
    await admin.agent.post(`/users/${alice.id}/disable`).type('form').send({ _csrf: csrf }).expect(303);
    const { res } = await signIn({ username: 'alice', realm: 'pve', password: 'alice-pve-password' });
    expect(res.status).toBe(403);
    expect(res.text).toContain('its Launchpad account “alice” is disabled');
    await admin.agent.post(`/users/${alice.id}/enable`).type('form').send({ _csrf: csrf }).expect(303);
  });

  it('creates an account with the default role for an unknown Proxmox user when the admin says so', async () => {
    await saveSettings({ enabled: 'on', unknown_users: 'create', default_role: 'viewer' }).expect(303);
    const { agent, res } = await signIn({ username: 'carol', realm: 'pve', password: 'carol-pve-password' });
    expect(res.status).toBe(303);
    const carol = (await env.deps.repos.users.findByUsername('carol'))!;
    expect(carol).toMatchObject({ role: 'viewer', pveUserid: 'carol@pve' });
    expect((await agent.get('/users').expect(403)).text).toContain('signed in as a viewer');
    // root@pam: "root" is free here, so that is the name; the same Proxmox user signs in to the same account again.
    expect((await signIn({ username: 'root', realm: 'pam', password: 'root-pam-password' })).res.status).toBe(303);
    expect((await signIn({ username: 'root', realm: 'pam', password: 'root-pam-password' })).res.status).toBe(303);
    expect(await env.deps.knex('users').where({ pve_userid: 'root@pam' }).count('* as n')).toEqual([{ n: '1' }]);
  });

  it('an unreachable node: the form lists the built-in realms with a note, and sign-in says what to do', async () => {
    await saveSettings({ enabled: 'on' }).expect(303); // also forgets the remembered realm list
    sim.sim.faults.set({ unreachable: true });
    try {
      const { res, page } = await signIn({ username: 'alice', realm: 'pve', password: 'alice-pve-password' });
      expect(page.text).toContain('did not answer; only its built-in realms are listed.');
      expect(res.status).toBe(503);
      expect(res.text).toContain(`Proxmox VE node “${sim.node.name}” could not check the password`);
      expect(res.text).toContain('sign in with a Launchpad account');
    } finally {
      sim.sim.faults.set({ unreachable: false });
    }
  });

  it('turned off again, the realm choice disappears', async () => {
    await saveSettings({}).expect(303);
    const page = await request(app).get('/login').expect(200);
    expect(page.text).not.toContain('name="realm"');
  });
});
