// The containers list: our rows merged with one /cluster/resources call per node (the simulator, a node that refuses
// connections, one that never answers), filters and sort as plain links, the self-polling table body, and
// "missing" containers that can be forgotten — while guests Launchpad did not create are never listed.
import net from 'node:net';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeRecord } from '../src/db/nodes-repository.ts';
import { loadContainerList } from '../src/domain/containers/container-list.ts';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { markedDescription, markedTags } from '../src/domain/pipeline/ct-mark.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { ensureUser } from './support/http-session.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import type { Container } from '../src/domain/containers/container.ts';
import { tokenSecretAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let app: Express;
let admin: SignedInAgent;
let ownerId: number;
let refusing: NodeRecord;
let silent: net.Server;
let silentNode: NodeRecord;
const c: Record<string, Container> = {};

/** A node row whose API is at 127.0.0.1:port (with some pinned fingerprint, so the client really connects). */
async function nodeAt(name: string, port: number) {
  return env.deps.repos.nodes.create(
    {
      name,
      apiUrl: `https://127.0.0.1:${port}`,
      tokenId: 'root@pam!launchpad',
      tlsFingerprint: Array.from({ length: 32 }, () => 'AB').join(':'),
      sshHost: null,
      sshPort: 22,
      sshUser: 'root',
      sshHostKeyFingerprint: null,
      isSimulator: false,
    },
    (id) => ({ tokenSecretEnc: env.deps.secrets.seal('secret', tokenSecretAad(id)) }),
  );
}

/** Creates a CT on the simulated node through its API, as someone outside Launchpad would. */
async function createSimCt(hostname: string, running: boolean): Promise<number> {
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  try {
    const vmid = await api.nextId();
    const create = await api.createLxc(simulator.node.name, {
      vmid,
      hostname,
      ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
      rootfs: { storage: 'local-lvm', sizeGiB: 1 },
      net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }],
    });
    await waitForTask(api, create, { pollIntervalMs: 20 });
    if (running) await waitForTask(api, await api.startLxc(simulator.node.name, vmid), { pollIntervalMs: 20 });
    return vmid;
  } finally {
    api.close();
  }
}

async function ourContainer(input: { hostname: string; nodeId: number; vmid?: number; lifecycle: Container['lifecycle']; createdAt: string }) {
  const row = await insertDeployment(env.deps, { ownerId, nodeId: input.nodeId, hostname: input.hostname, vmid: input.vmid });
  // Launchpad created its CT: the create request went out and the node started a task for it.
  const created = input.vmid ? { createRequestedAt: new Date(), createUpid: `UPID:sim:00000001:00000001:00000001:vzcreate:${input.vmid}:root@pam:` } : {};
  await env.deps.repos.containers.update(row.id, { lifecycle: input.lifecycle, ...created });
  // The CT Launchpad created for it carries its mark (a guest with another hostname at that VMID is someone else's).
  const simCt = input.vmid && input.nodeId === simulator.node.id ? simulator.sim.state.container(input.vmid) : undefined;
  if (simCt && simCt.hostname === input.hostname) {
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      await api.updateLxcConfig(simulator.node.name, input.vmid!, { tags: markedTags([]), description: markedDescription(row.id) });
    } finally {
      api.close();
    }
  }
  await env.deps.knex('containers').where({ id: row.id }).update({ created_at: new Date(input.createdAt) });
  return (await env.deps.repos.containers.findById(row.id))!;
}

/** The hostnames in the table body, in order. */
const hostnamesIn = (html: string) => [...html.matchAll(/<tr id="container-[^"]+">\s*<td[^>]*><a[^>]*>([^<]+)<\/a>/g)].map((m) => m[1]);
const rowOf = (html: string, id: string) => {
  const start = html.indexOf(`<tr id="container-${id}">`);
  return start < 0 ? '' : html.slice(start, html.indexOf('</tr>', start));
};

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  app = createTestApp(env);
  admin = await signedInAgent(app, env.deps, { username: 'lister' });
  ownerId = (await env.deps.repos.users.findByUsername('lister'))!.id;

  // A port nobody listens on (connection refused) and a server that accepts and never answers.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const refusedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  refusing = await nodeAt('pve-down', refusedPort);
  silent = net.createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentNode = await nodeAt('pve-silent', (silent.address() as net.AddressInfo).port);

  const running = await createSimCt('alpha-web', true);
  const stopped = await createSimCt('bravo-db', false);
  const reused = await createSimCt('someone-elses', true);
  await createSimCt('stranger-ct', true); // exists in Proxmox, not in Launchpad
  const sim = simulator.node.id;
  c.running = await ourContainer({ hostname: 'alpha-web', nodeId: sim, vmid: running, lifecycle: 'ready', createdAt: '2026-01-01T10:00:00Z' });
  c.stopped = await ourContainer({ hostname: 'bravo-db', nodeId: sim, vmid: stopped, lifecycle: 'ready', createdAt: '2026-01-03T10:00:00Z' });
  c.unreachable = await ourContainer({ hostname: 'charlie-far', nodeId: refusing.id, vmid: 300, lifecycle: 'ready', createdAt: '2026-01-02T10:00:00Z' });
  c.queued = await ourContainer({ hostname: 'delta-new', nodeId: sim, lifecycle: 'queued', createdAt: '2026-01-05T10:00:00Z' });
  c.missing = await ourContainer({ hostname: 'echo-gone', nodeId: sim, vmid: 990, lifecycle: 'ready', createdAt: '2026-01-04T10:00:00Z' });
  c.failed = await ourContainer({ hostname: 'foxtrot-bad', nodeId: sim, lifecycle: 'failed', createdAt: '2026-01-06T10:00:00Z' });
  // Ours was removed by hand and its VMID given to another guest.
  c.reused = await ourContainer({ hostname: 'golf-old', nodeId: sim, vmid: reused, lifecycle: 'ready', createdAt: '2025-12-31T10:00:00Z' });
}, 60_000);
afterAll(async () => {
  silent?.close();
  await simulator?.close();
  await env?.close();
});

describe('GET /containers', () => {
  it('merges each of our containers with its node’s live status, and lists nothing Launchpad did not create', async () => {
    const res = await admin.agent.get('/containers').expect(200);
    expect(hostnamesIn(res.text).sort()).toEqual(['alpha-web', 'bravo-db', 'charlie-far', 'delta-new', 'echo-gone', 'foxtrot-bad', 'golf-old']);
    expect(res.text).not.toContain('stranger-ct');

    expect(rowOf(res.text, c.running!.id)).toMatch(/<span class="badge [^"]*">running<\/span>/);
    expect(rowOf(res.text, c.running!.id)).toContain('>sim<'); // node column
    expect(rowOf(res.text, c.stopped!.id)).toMatch(/<span class="badge [^"]*">stopped<\/span>/);
    // The unreachable node: "unknown", with why on hover and on expand; the page still renders.
    const far = rowOf(res.text, c.unreachable!.id);
    expect(far).toMatch(/<summary class="badge[^"]*" title="pve-down: Cannot reach Proxmox at https:\/\/127\.0\.0\.1:\d+: connection refused[^"]*">unknown<\/summary>/);
    expect(far).toContain('<details class="ct-status">');
    expect(rowOf(res.text, c.missing!.id)).toMatch(/title="sim answered, but CT 990 is not there[^"]*">missing</);
    expect(rowOf(res.text, c.reused!.id)).toMatch(/now belongs to another guest \(“someone-elses”\)[^"]*">missing</);
    expect(rowOf(res.text, c.queued!.id)).toContain('<span class="text-slate-400">—</span>');
    // Quick actions fit the live state.
    expect(rowOf(res.text, c.running!.id)).toContain(`action="/containers/${c.running!.id}/reboot"`);
    expect(rowOf(res.text, c.running!.id)).not.toContain(`/start"`);
    expect(rowOf(res.text, c.stopped!.id)).toContain(`action="/containers/${c.stopped!.id}/start"`);
    expect(rowOf(res.text, c.missing!.id)).toContain(`action="/containers/${c.missing!.id}/forget"`);
    expect(rowOf(res.text, c.unreachable!.id)).not.toContain('<form');
  });

  it('filters with plain links: all, running, stopped, creating, failed (anything else means all)', async () => {
    const names = async (query: string) => hostnamesIn((await admin.agent.get(`/containers${query}`).expect(200)).text).sort();
    expect(await names('?filter=running')).toEqual(['alpha-web']);
    expect(await names('?filter=stopped')).toEqual(['bravo-db']);
    expect(await names('?filter=creating')).toEqual(['delta-new']);
    expect(await names('?filter=failed')).toEqual(['foxtrot-bad']);
    expect(await names('?filter=all')).toHaveLength(7);
    expect(await names('?filter=%3Cscript%3E')).toHaveLength(7);

    const page = (await admin.agent.get('/containers?filter=stopped&sort=name')).text;
    expect(page).toMatch(/<a href="\/containers\?filter=stopped&amp;sort=name" [^>]*aria-current="page"><span[^>]*>1<\/span><span[^>]*>Stopped<\/span><\/a>/);
    expect(page).toMatch(/href="\/containers\?filter=running&amp;sort=name"[^>]*><span[^>]*>1<\/span><span[^>]*>Running<\/span>/);
    expect(page).toMatch(/href="\/containers\?filter=all&amp;sort=name"[^>]*><span[^>]*>7<\/span><span[^>]*>Total<\/span>/);
    expect(page).toMatch(/href="\/containers\?filter=stopped&amp;sort=created"/); // sort links keep the filter
  });

  it('sorts by name, status and created (newest first by default)', async () => {
    const names = async (query: string) => hostnamesIn((await admin.agent.get(`/containers${query}`).expect(200)).text);
    expect(await names('?sort=name')).toEqual(['alpha-web', 'bravo-db', 'charlie-far', 'delta-new', 'echo-gone', 'foxtrot-bad', 'golf-old']);
    expect(await names('')).toEqual(['foxtrot-bad', 'delta-new', 'echo-gone', 'bravo-db', 'charlie-far', 'alpha-web', 'golf-old']);
    // Running, stopped, being built, failed, then those needing attention (missing, unknown).
    expect(await names('?sort=status')).toEqual(['alpha-web', 'bravo-db', 'delta-new', 'foxtrot-bad', 'echo-gone', 'golf-old', 'charlie-far']);
  });

  it('answers the table body’s poll with just the rows, which show a status change without a reload', async () => {
    const poll = () => admin.agent.get('/containers?filter=all&sort=name').set('HX-Request', 'true').set('HX-Target', 'container-rows').expect(200);
    const before = await poll();
    expect(before.text.trimStart().startsWith('<tbody id="container-rows"')).toBe(true);
    expect(before.text).not.toContain('<html');
    expect(before.text).toContain('hx-get="/containers?filter=all&amp;sort=name" hx-trigger="every 10s" hx-target="this" hx-swap="outerHTML"');
    expect(rowOf(before.text, c.running!.id)).toContain('>running<');

    // Someone stops the CT in Proxmox: the next poll says so.
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      await waitForTask(api, await api.stopLxc(simulator.node.name, c.running!.vmid!), { pollIntervalMs: 20 });
      const after = await poll();
      expect(rowOf(after.text, c.running!.id)).toContain('>stopped<');
      await waitForTask(api, await api.startLxc(simulator.node.name, c.running!.vmid!), { pollIntervalMs: 20 });
    } finally {
      api.close();
    }
    // The full page includes the same body, so the table works without JavaScript too.
    const page = await admin.agent.get('/containers?sort=name').expect(200);
    expect(page.text).toContain('<tbody id="container-rows"');
  });

  it('shows the empty state, pointing to the wizard, to an operator with no containers (saying the list is theirs: teammates have some)', async () => {
    // Teammates have containers: the admin's list is not empty.
    expect((await admin.agent.get('/containers').expect(200)).text).toContain('<tbody id="container-rows"');
    await ensureUser(env.deps, 'newcomer', 'newcomer-password');
    const newcomer = await signedInAgent(app, env.deps, { username: 'newcomer', password: 'newcomer-password' });
    const res = await newcomer.agent.get('/containers').expect(200);
    expect(res.text).toContain('No containers of yours yet');
    expect(res.text).toContain('This list shows the containers you deploy; your teammates’ are theirs to manage (an admin sees them all).');
    expect(res.text).toContain('<a href="/containers/new" class="btn-primary">Create your first container</a>');
    expect(res.text).not.toContain('<tbody');
  });
});

describe('actions and counts', () => {
  /** The action URLs in a piece of HTML: each form's action and the Destroy… link. */
  const actionsIn = (html: string, id: string) =>
    [...html.matchAll(new RegExp(`(?:action|href)="/containers/${id}/(start|stop|shutdown|reboot|retry|cancel|forget|destroy)"`, 'g'))].map((m) => m[1]).sort();
  const statusPanelOf = (html: string) => html.slice(html.indexOf('<section id="status-panel"'), html.indexOf('</section>', html.indexOf('<section id="status-panel"')));

  it('every row offers exactly what its container’s page offers; a stopped CT offers Start, not Stop, Shut down or Reboot', async () => {
    const list = (await admin.agent.get('/containers').expect(200)).text;
    for (const [name, container] of Object.entries(c)) {
      const page = (await admin.agent.get(`/containers/${container.id}`).expect(200)).text;
      expect(actionsIn(rowOf(list, container.id), container.id), name).toEqual(actionsIn(statusPanelOf(page), container.id));
    }
    const stopped = statusPanelOf((await admin.agent.get(`/containers/${c.stopped!.id}`).expect(200)).text);
    expect(actionsIn(stopped, c.stopped!.id)).toEqual(['destroy', 'start']);
    expect(actionsIn(rowOf(list, c.running!.id), c.running!.id)).toEqual(['destroy', 'reboot', 'shutdown', 'stop']);
  });

  it('the table’s poll carries the filter counts out of band, so they follow a row that changes state', async () => {
    const poll = () => admin.agent.get('/containers?filter=all&sort=name').set('HX-Request', 'true').set('HX-Target', 'container-rows').expect(200);
    const count = (html: string, filter: string) => new RegExp(`href="/containers\\?filter=${filter}&amp;sort=name"[^>]*><span[^>]*>(\\d+)</span>`).exec(html)?.[1];
    const before = await poll();
    expect(before.text).toContain('<nav id="container-filters" hx-swap-oob="true"');
    expect([count(before.text, 'running'), count(before.text, 'stopped')]).toEqual(['1', '1']);
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      await waitForTask(api, await api.stopLxc(simulator.node.name, c.running!.vmid!), { pollIntervalMs: 20 });
      const after = await poll();
      expect([count(after.text, 'running'), count(after.text, 'stopped')]).toEqual(['0', '2']);
    } finally {
      await waitForTask(api, await api.startLxc(simulator.node.name, c.running!.vmid!), { pollIntervalMs: 20 });
      api.close();
    }
  });
});

describe('nodes that do not answer', () => {
  it('a silent node costs at most the timeout, and its containers say why they are unknown', async () => {
    const quiet = await ourContainer({ hostname: 'hotel-quiet', nodeId: silentNode.id, vmid: 400, lifecycle: 'ready', createdAt: '2026-01-07T10:00:00Z' });
    const started = Date.now();
    const list = await loadContainerList(env.deps, { id: ownerId, role: 'admin' }, { filter: 'all' }, { timeoutMs: 400 });
    expect(Date.now() - started).toBeLessThan(2500);
    const row = list.rows.find((r) => r.container.id === quiet.id)!;
    expect(row.live.state).toBe('unknown');
    expect(row.live.reason).toMatch(/^pve-silent: /);
    // Other nodes still answered in the same request.
    expect(list.rows.find((r) => r.container.id === c.stopped!.id)!.live.state).toBe('stopped');
    await env.deps.repos.containers.update(quiet.id, { lifecycle: 'destroyed' });
  });
});

describe('POST /containers/:id/forget', () => {
  it('forgets a container whose CT is gone, after asking the node again, with an event naming who did it', async () => {
    const csrf = await admin.csrf();
    const res = await admin.agent.post(`/containers/${c.missing!.id}/forget`).type('form').send({ _csrf: csrf }).expect(303);
    expect(res.headers.location).toBe('/containers');
    const gone = (await env.deps.repos.containers.findById(c.missing!.id))!;
    expect(gone.lifecycle).toBe('destroyed');
    expect(gone.currentAction).toBeNull();
    const events = await env.deps.repos.events.listAfter(gone.id, 0, 100);
    expect(events.at(-1)).toMatchObject({ kind: 'complete', text: 'Forgotten by lister; the CT was already gone.' });
    expect(events.some((e) => e.kind === 'log' && /CT 990 is not there/.test(e.text ?? ''))).toBe(true);
    expect(hostnamesIn((await admin.agent.get('/containers')).text)).not.toContain('echo-gone');
    // Its history stays at its address, finished (no live stream).
    const page = await admin.agent.get(`/containers/${gone.id}`).expect(200);
    expect(page.text).not.toContain('sse-connect');
  });

  it('forgets a container whose VMID now belongs to another guest, and never touches that guest', async () => {
    const csrf = await admin.csrf();
    await admin.agent.post(`/containers/${c.reused!.id}/forget`).type('form').send({ _csrf: csrf }).expect(303);
    expect((await env.deps.repos.containers.findById(c.reused!.id))!.lifecycle).toBe('destroyed');
    expect(simulator.sim.state.container(c.reused!.vmid!)?.status).toBe('running');
  });

  it('refuses while the CT still exists, or while its node cannot confirm it is gone', async () => {
    const csrf = await admin.csrf();
    const present = await admin.agent.post(`/containers/${c.stopped!.id}/forget`).type('form').send({ _csrf: csrf }).expect(409);
    expect(present.text).toContain(`CT ${c.stopped!.vmid} still exists on its node, so there is nothing to forget. Destroy it instead.`);
    const unsure = await admin.agent.post(`/containers/${c.unreachable!.id}/forget`).type('form').send({ _csrf: csrf }).expect(409);
    expect(unsure.text).toContain('Launchpad cannot confirm that the CT is gone: pve-down: Cannot reach Proxmox');
    for (const id of [c.stopped!.id, c.unreachable!.id]) {
      const row = (await env.deps.repos.containers.findById(id))!;
      expect(row.lifecycle).toBe('ready');
      expect(row.currentAction).toBeNull(); // the lock taken for the check is released
    }
  });
});
