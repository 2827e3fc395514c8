// A CT deleted outside Launchpad and another guest created at the same VMID: Launchpad's mark (tag + description
// line) is checked before it acts, so destroy, every power action, Retry and a crash-resume leave that guest alone,
// and the page names it and offers "Forget this entry" instead of Destroy; a health check runs nothing in it.
// Containers recorded before marks existed are adopted only when hostname and VMID both match and the node's task
// history shows their own create as the last one at that VMID, and are marked then. A CT renamed or retagged in the
// Proxmox UI is still ours (the mark decides); one migrated to another node of the cluster is neither gone nor acted on.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { registerSimulatorNode } from '../src/domain/nodes/simulator-node.ts';
import { markOf, markedDescription } from '../src/domain/pipeline/ct-mark.ts';
import { runHealthCheck } from '../src/domain/health/health-check.ts';
import { runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { listen, signIn } from './support/http-session.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { connectSse } from './support/sse-client.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import { createTestApp } from './support/test-app.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import type { ContainerEvent } from '../src/domain/containers/container-event.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let app: Express;
let admin: SignedInAgent;
let ownerId: number;
let pipelineDeps: PipelineDeps;
const workers: WorkerProcess[] = [];

const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const events = (id: string): Promise<ContainerEvent[]> => env.deps.repos.events.listAfter(id, 0, 100_000);
const row = async (id: string) => (await env.deps.repos.containers.findById(id))!;
const post = async (id: string, action: string, body: Record<string, string> = {}) =>
  admin.agent.post(`/containers/${id}/${action}`).type('form').send({ _csrf: await admin.csrf(), ...body });

async function worker() {
  if (workers.length && workers.at(-1)!.child.exitCode === null) return;
  const w = startWorkerProcess(env.config);
  workers.push(w);
  await w.ready;
}

/**
 * What someone outside Launchpad does on the node: delete the CT at `vmid` and create their own guest there (by
 * default "someone-else"; `hostname` to make one with the old one's name).
 */
async function replaceWithForeignGuest(vmid: number, options: { running: boolean; hostname?: string }) {
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  const node = simulator.node.name;
  try {
    await waitForTask(api, await api.deleteLxc(node, vmid, { purge: true, force: true }), { pollIntervalMs: 20 });
    // The node's task history has one-second resolution: the new create starts in a later second than any before.
    await new Promise((r) => setTimeout(r, 1100));
    await waitForTask(
      api,
      await api.createLxc(node, {
        vmid,
        hostname: options.hostname ?? 'someone-else',
        ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
        rootfs: { storage: 'local-lvm', sizeGiB: 1 },
        net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }],
        description: 'their database server',
      }),
      { pollIntervalMs: 20 },
    );
    if (options.running) await waitForTask(api, await api.startLxc(node, vmid), { pollIntervalMs: 20 });
  } finally {
    api.close();
  }
}

/** Everything the node holds about the guest at `vmid`, and the tasks ever run on it. */
const foreignSnapshot = (vmid: number) => {
  const record = simulator.sim.state.containers.get(vmid)!;
  const tasks = [...simulator.sim.state.tasks.values()].filter((t) => t.id === String(vmid)).map((t) => t.upid);
  return { config: JSON.stringify(record.config), status: record.status, tasks };
};

async function setForeignRunning(vmid: number, running: boolean) {
  if ((simulator.sim.state.containers.get(vmid)!.status === 'running') === running) return;
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  try {
    const upid = running ? await api.startLxc(simulator.node.name, vmid) : await api.stopLxc(simulator.node.name, vmid);
    await waitForTask(api, upid, { pollIntervalMs: 20 });
  } finally {
    api.close();
  }
}

/** A container built for real by the pipeline (so its CT carries the mark). */
async function built(hostname: string, config: Parameters<typeof insertDeployment>[1]['config'] = {}) {
  const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname, config });
  const outcome = await runCreatePipeline(pipelineDeps, c.id, new AbortController().signal);
  return { id: c.id, outcome, container: await row(c.id) };
}

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  app = createTestApp(env);
  admin = await signedInAgent(app, env.deps, { username: 'marks' });
  ownerId = (await env.deps.repos.users.findByUsername('marks'))!.id;
  pipelineDeps = testPipelineDeps(env);
}, 60_000);
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await simulator?.close();
  await env?.close();
});

describe('the mark', () => {
  it('every CT Launchpad creates carries the launchpad tag and a description line with the container id, as Proxmox stores them', async () => {
    const { id, outcome, container } = await built('marked-1', { tags: ['web'] });
    expect(outcome).toBe('ready');
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      const config = await api.getLxcConfig(simulator.node.name, container.vmid!);
      expect(config.tags).toEqual(['launchpad', 'web']);
      expect(markOf(config)).toBe(id);
      expect(config.description).toMatch(/\nlaunchpad-container: [0-9a-f-]{36}\n$/);
      const listed = (await api.listClusterVms()).find((g) => g.vmid === container.vmid);
      expect(listed?.tags).toContain('launchpad');
    } finally {
      api.close();
    }
  }, 60_000);
});

describe('a CT replaced by another guest at the same VMID', () => {
  it('power actions and destroy send nothing to that guest; the page names it and offers Forget instead of Destroy', async () => {
    const { id, container } = await built('replaced-1');
    const vmid = container.vmid!;
    await replaceWithForeignGuest(vmid, { running: true });
    await worker();

    const page = await admin.agent.get(`/containers/${id}`).expect(200);
    expect(page.text).toContain('now belongs to another guest (“someone-else”)');
    expect(page.text).toContain('Forget this entry');
    expect(page.text).not.toContain(`href="/containers/${id}/destroy"`);
    // Nor that guest's usage: the page follows no usage stream and its usage panel stays hidden.
    expect(page.text).not.toContain(`sse-connect="/containers/${id}/live`);
    expect(page.text).toMatch(/<section id="usage-panel" class="card p-5 hidden"/);

    for (const [action, foreignRunning] of [['start', false], ['stop', true], ['shutdown', true], ['reboot', true]] as const) {
      await setForeignRunning(vmid, foreignRunning);
      const before = foreignSnapshot(vmid);
      const seq = (await row(id)).lastSeq;
      expect((await post(id, action)).status).toBe(303);
      await waitUntil(`the ${action} to end`, async () => (await row(id)).currentAction === null && (await env.deps.repos.events.listAfter(id, seq, 1000)).some((e) => e.kind === 'error' || e.kind === 'complete'));
      const end = (await env.deps.repos.events.listAfter(id, seq, 1000)).find((e) => e.kind === 'error' || e.kind === 'complete')!;
      expect(end.kind, `${action}: ${end.text}`).toBe('error');
      expect(end.text).toContain(`CT ${vmid} on sim is now “someone-else”, not replaced-1: it belongs to another guest, so Launchpad leaves it alone.`);
      expect(end.text).toContain('Forget this entry');
      expect(foreignSnapshot(vmid), action).toEqual(before);
    }

    // Destroy, posted by hand although the page no longer offers it.
    const before = foreignSnapshot(vmid);
    expect((await post(id, 'destroy', { confirm_hostname: 'replaced-1' })).status).toBe(303);
    await waitUntil('the destroy to end', async () => (await row(id)).lifecycle !== 'destroying');
    // Refused, it is what it was before (ready), with the refusal as its last action's error.
    expect((await row(id)).lifecycle).toBe('ready');
    expect((await events(id)).at(-1)?.text).toContain('is now “someone-else”, not replaced-1');
    expect(foreignSnapshot(vmid)).toEqual(before);
    expect(simulator.sim.state.container(vmid)?.hostname).toBe('someone-else');

    // What is left: Forget, which asks the node but sends it nothing.
    const failedPage = await admin.agent.get(`/containers/${id}`).expect(200);
    expect(failedPage.text).toContain('Forget this entry');
    expect(failedPage.text).not.toContain(`href="/containers/${id}/destroy"`);
    expect((await post(id, 'forget')).status).toBe(303);
    expect((await row(id)).lifecycle).toBe('destroyed');
    expect(foreignSnapshot(vmid)).toEqual(before);
  }, 120_000);

  it('Retry of a failed build refuses to adopt the other guest and advises Forget', async () => {
    const { id, outcome, container } = await built('replaced-2', {
      scripts: ['10-fail.sh'],
      template: { scripts: [{ name: '10-fail.sh', content: 'echo failing; exit 3' }], files: [], packages: [] },
    });
    expect(outcome).toBe('failed');
    const vmid = container.vmid!;
    await replaceWithForeignGuest(vmid, { running: false });
    const before = foreignSnapshot(vmid);
    await worker();
    expect((await post(id, 'retry')).status).toBe(303);
    await waitUntil('the retry to end', async () => (await row(id)).lifecycle === 'failed' && (await row(id)).attempt === 2, 60_000);
    const failed = await row(id);
    expect(failed.error).toContain(`CT ${vmid} on sim is now “someone-else”, not replaced-2: it belongs to another guest, so Launchpad leaves it alone.`);
    expect(failed.error).toContain('Forget this entry');
    expect(foreignSnapshot(vmid)).toEqual(before);
    const page = await admin.agent.get(`/containers/${id}`).expect(200);
    expect(page.text).toContain('Forget this entry');
    expect(page.text).not.toContain(`href="/containers/${id}/destroy"`);
  }, 120_000);

  it('a build resumed after a worker crash does not take over the other guest', async () => {
    for (const w of workers) w.kill('SIGKILL');
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      hostname: 'replaced-3',
      config: {
        scripts: ['10-slow.sh'],
        template: { scripts: [{ name: '10-slow.sh', content: 'for i in $(seq 1 100); do echo "tick $i"; sleep 0.1; done' }], files: [], packages: [] },
      },
    });
    const first = startWorkerProcess(env.config);
    workers.push(first);
    await first.ready;
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    await waitUntil('the script to run', async () => (await events(c.id)).some((e) => e.text === 'tick 3'));
    first.kill('SIGKILL');
    await first.exited;
    const vmid = (await row(c.id)).vmid!;
    await replaceWithForeignGuest(vmid, { running: false });
    const before = foreignSnapshot(vmid);

    const second = startWorkerProcess(env.config);
    workers.push(second);
    await waitUntil('the resumed build to stop', async () => (await row(c.id)).lifecycle === 'failed', 60_000);
    expect((await row(c.id)).error).toContain(`CT ${vmid} on sim is now “someone-else”, not replaced-3`);
    expect(foreignSnapshot(vmid)).toEqual(before);
    expect(simulator.sim.state.containers.get(vmid)!.status).toBe('stopped');
  }, 120_000);
});

describe('a build whose CT is replaced by another guest while it runs', () => {
  it('stops at once and runs nothing in that guest', async () => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname: 'swapped-1', config: {} });
    // No DHCP lease yet: the build waits for an address while someone replaces its CT.
    simulator.sim.faults.set({ dhcpNever: true });
    const run = runCreatePipeline(testPipelineDeps(env, { pollMs: 50, ipWaitMs: 60_000, lockWaitMs: 4000 }), c.id, new AbortController().signal);
    try {
      await waitUntil('the build to start its CT and wait for an address', async () => {
        const vmid = (await row(c.id)).vmid;
        return vmid !== null && simulator.sim.state.container(vmid)?.status === 'running';
      });
      const vmid = (await row(c.id)).vmid!;
      const commands = simulator.sim.nodeCommands.length;
      await replaceWithForeignGuest(vmid, { running: true });
      const before = foreignSnapshot(vmid);
      simulator.sim.faults.set({ dhcpNever: false });
      expect(await run).toBe('failed');
      const error = (await row(c.id)).error ?? '';
      // Which refusal depends on when the build looked: the CT gone, the other guest still being made, or made.
      expect(error).toMatch(new RegExp(`CT ${vmid} (no longer exists on sim|on sim is still being created|on sim is now “someone-else”, not swapped-1)`));
      expect(simulator.sim.nodeCommands.slice(commands).filter((cmd) => cmd.includes(`pct exec ${vmid}`) || cmd.includes(`pct push ${vmid}`))).toEqual([]);
      expect(foreignSnapshot(vmid)).toEqual(before);
    } finally {
      simulator.sim.faults.set({ dhcpNever: false });
      await run.catch(() => undefined);
    }
  }, 120_000);
});

describe('a health check of a VMID another guest now holds', () => {
  it('runs nothing in that guest and says why it was not checked', async () => {
    const { id, container } = await built('replaced-4');
    const vmid = container.vmid!;
    await env.deps.knex('container_services').insert({ container_id: id, name: 'web', kind: 'tcp', port: 80, url: null, unit: 'nginx.service' });
    await replaceWithForeignGuest(vmid, { running: true });
    const before = foreignSnapshot(vmid);
    const commands = simulator.sim.nodeCommands.length;
    const result = await runHealthCheck(env.deps, id, { trigger: 'schedule', userId: null });
    expect(result).toMatchObject({ state: 'not-checked' });
    expect(typeof result === 'object' && result.summary).toBe(`not checked: CT ${vmid} on sim is now “someone-else”, not replaced-4: it belongs to another guest, so Launchpad leaves it alone. Use “Forget this entry” to drop this entry (nothing is sent to the node).`);
    expect(simulator.sim.nodeCommands.slice(commands)).toEqual([]);
    expect(foreignSnapshot(vmid)).toEqual(before);
  }, 60_000);
});

describe('a CT renamed and retagged in the Proxmox UI', () => {
  it('is still this container (the mark decides): listed with its status and power actions, not as gone', async () => {
    const { id, container } = await built('renamed-1');
    const vmid = container.vmid!;
    // What an edit of Name and Tags in the Proxmox UI leaves in the CT's config.
    const record = simulator.sim.state.containers.get(vmid)!;
    record.config.hostname = 'renamed-in-the-ui';
    record.config.tags = 'prod';
    const page = await admin.agent.get(`/containers/${id}`).expect(200);
    expect(page.text).not.toContain('belongs to another guest');
    expect(page.text).not.toContain('Forget this entry');
    expect(page.text).toContain(`href="/containers/${id}/destroy"`);
    expect(page.text).toContain(`action="/containers/${id}/stop"`);
    const list = await admin.agent.get('/containers').set('Accept', 'application/json').expect(200);
    const listed = (list.body.containers as Array<{ id: string; status: string }>).find((c) => c.id === id);
    expect(listed?.status).toBe('running');
    expect((await post(id, 'forget')).status).toBe(409);
    expect((await row(id)).lifecycle).toBe('ready');
  }, 60_000);
});

describe('a CT migrated to another node of the cluster', () => {
  it('is shown as moved, not gone: Destroy, Start and Forget send nothing and say to migrate it back', async () => {
    const { id, container } = await built('moved-1');
    const vmid = container.vmid!;
    await setForeignRunning(vmid, false);
    simulator.sim.state.moveToPeer(vmid, 'pve2');
    const moved = () => JSON.stringify(simulator.sim.state.containers.get(vmid));
    const before = moved();
    const said = `CT ${vmid} is now on node pve2, not sim: it was migrated outside Launchpad, which acts on it only on sim.`;
    const words = `${said} Use “Follow it to pve2” on its page (pve2 must be one of Launchpad's nodes), or migrate it back to sim in Proxmox; then try again.`;

    const page = await admin.agent.get(`/containers/${id}`).expect(200);
    expect(page.text).toContain(said);
    expect(page.text).not.toContain('Forget this entry');
    expect(page.text).not.toContain(`href="/containers/${id}/destroy"`);
    expect(page.text).toContain('>Follow it to pve2</button>');

    // Forget refuses: the CT is not gone.
    const forget = await post(id, 'forget');
    expect(forget.status).toBe(409);
    expect((await row(id)).lifecycle).toBe('ready');

    await worker();
    const seq = (await row(id)).lastSeq;
    expect((await post(id, 'start')).status).toBe(303);
    await waitUntil('the start to end', async () => (await row(id)).currentAction === null && (await env.deps.repos.events.listAfter(id, seq, 1000)).some((e) => e.kind === 'error' || e.kind === 'complete'));
    expect((await env.deps.repos.events.listAfter(id, seq, 1000)).find((e) => e.kind === 'error')?.text).toContain(words);

    expect((await post(id, 'destroy', { confirm_hostname: 'moved-1' })).status).toBe(303);
    await waitUntil('the destroy to end', async () => (await row(id)).lifecycle !== 'destroying');
    expect((await row(id)).lifecycle).toBe('ready');
    expect((await events(id)).at(-1)?.text).toContain(words);
    expect(moved()).toBe(before);
  }, 120_000);

  it('Follow moves the entry to the node it was migrated to, once that node is one of Launchpad\'s and the CT there is marked as this container\'s', async () => {
    const { id, container } = await built('moved-3');
    const vmid = container.vmid!;
    await setForeignRunning(vmid, false);
    simulator.sim.state.moveToPeer(vmid, 'pve3');
    const mark = simulator.sim.requests.at(-1)?.seq ?? 0;

    // pve3 is not one of Launchpad's nodes yet: Follow says what to do, and the entry stays where it was.
    const unknown = await post(id, 'follow');
    expect(unknown.status).toBe(409);
    expect(unknown.text).toContain(`CT ${vmid} is on node pve3, which is not one of Launchpad&#39;s nodes. Add pve3 under Nodes`);
    expect((await row(id)).nodeId).toBe(simulator.node.id);
    expect((await row(id)).currentAction).toBeNull();

    // A teammate's page is open on it meanwhile (its usage stream asks sim, which no longer has the CT).
    const server = await listen(app);
    const { cookie } = await signIn(server.baseUrl, 'marks', 'correct horse battery staple');
    const stream = await connectSse(`${server.baseUrl}/containers/${id}/live`, { cookie });
    await stream.waitFor((e) => e.event === 'live');

    // An admin adds pve3 (the simulator answers for it as a peer node of its cluster): Follow moves the entry there.
    const pve3 = await registerSimulatorNode(env.deps, { ...simulator.sim, nodeName: 'pve3' });
    try {
      const followed = await admin.agent.post(`/containers/${id}/follow`).set('HX-Request', 'true').type('form').send({ _csrf: await admin.csrf() });
      expect(followed.status).toBe(204);
      expect(followed.headers['hx-redirect']).toBe(`/containers/${id}`);
      const after = await row(id);
      expect(after.nodeId).toBe(pve3.id);
      expect(after.currentAction).toBeNull();
      // Only reads reached the cluster: nothing was changed in Proxmox.
      expect(simulator.sim.requests.filter((r) => r.seq > mark && r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([]);

      // The page now reads the CT on pve3: stopped, Start offered, nothing left to follow.
      const page = await admin.agent.get(`/containers/${id}`).expect(200);
      expect(page.text).toContain('Followed: Launchpad manages this container on pve3 from now on.');
      expect(page.text).toContain(`action="/containers/${id}/start"`);
      expect(page.text).not.toContain('Follow it to');
      expect((await events(id)).at(-1)?.text).toBe(`Followed CT ${vmid} to pve3, where it was migrated outside Launchpad (from sim); Launchpad manages it there from now on. Requested by marks.`);
      const history = await env.deps.repos.history.list({ containerId: id }, { limit: 10, offset: 0 });
      expect(history.map((h) => h.summary)).toContain(`Followed CT ${vmid} to pve3, where it was migrated outside Launchpad (from sim); Launchpad manages it there from now on.`);
      await expect.poll(async () => (await env.deps.knex('audit_entries').where({ action: 'container.follow', container_id: id }).select('outcome')).map((a) => a.outcome)).toEqual(['failure', 'success']);

      // The open page hears of it: its last message is the state read on pve3 (Start offered), and its stream ends
      // so that the page's next one watches the CT on pve3.
      const done = await stream.waitFor((e) => e.event === 'done', 10_000);
      expect(done.data).toContain(`action="/containers/${id}/start"`);
      expect(done.data).not.toContain('Follow it to');
      await stream.ended;

      // Following again finds nothing to follow.
      const again = await post(id, 'follow');
      expect(again.status).toBe(409);
      expect(again.text).toContain(`CT ${vmid} is on pve3, where Launchpad already manages it: there is nothing to follow.`);
    } finally {
      stream.close();
      await server.close();
      // A node with a live container cannot be removed: this one is done with.
      await env.deps.knex('containers').where({ id }).update({ lifecycle: 'destroyed' });
      await env.deps.repos.nodes.delete(pve3.id);
    }
  }, 120_000);

  it('Retry of a failed build sends no create for the VMID its CT holds on the other node, and says it was migrated', async () => {
    const { id, outcome, container } = await built('moved-2', {
      scripts: ['10-fail.sh'],
      template: { scripts: [{ name: '10-fail.sh', content: 'echo failing; exit 3' }], files: [], packages: [] },
    });
    expect(outcome).toBe('failed');
    const vmid = container.vmid!;
    await setForeignRunning(vmid, false);
    simulator.sim.state.moveToPeer(vmid, 'pve2');
    const mark = simulator.sim.requests.at(-1)?.seq ?? 0;
    await worker();
    expect((await post(id, 'retry')).status).toBe(303);
    await waitUntil('the retry to end', async () => (await row(id)).lifecycle === 'failed' && (await row(id)).attempt === 2, 60_000);
    const failed = await row(id);
    expect(failed.error).toContain(`CT ${vmid} is now on node pve2, not sim: it was migrated outside Launchpad`);
    expect(failed.error).not.toContain('free VMID');
    expect(simulator.sim.requests.filter((r) => r.seq > mark && r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([]);
  }, 120_000);
});

describe('containers recorded before marks existed', () => {
  it('are adopted only when hostname and VMID both match, and are marked then', async () => {
    const { id, container } = await built('legacy-1');
    const vmid = container.vmid!;
    // As a row from before marks: no mark on the CT, marks_ct false.
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      await api.updateLxcConfig(simulator.node.name, vmid, { tags: [], description: 'set up by hand' });
    } finally {
      api.close();
    }
    await env.deps.knex('containers').where({ id }).update({ marks_ct: false });
    await worker();
    expect((await post(id, 'stop')).status).toBe(303);
    await waitUntil('the stop to end', async () => (await row(id)).currentAction === null && simulator.sim.state.container(vmid)?.status === 'stopped');
    const record = simulator.sim.state.containers.get(vmid)!;
    expect(String(record.config.tags)).toBe('launchpad');
    expect(markOf({ description: String(record.config.description) })).toBe(id);
    expect(String(record.config.description)).toMatch(/^set up by hand\n/);

    // Another legacy row whose VMID now holds a guest with another hostname: refused, untouched.
    const { id: otherId, container: other } = await built('legacy-2');
    await replaceWithForeignGuest(other.vmid!, { running: true });
    await env.deps.knex('containers').where({ id: otherId }).update({ marks_ct: false });
    const before = foreignSnapshot(other.vmid!);
    const seq = (await row(otherId)).lastSeq;
    expect((await post(otherId, 'stop')).status).toBe(303);
    await waitUntil('the stop to end', async () => (await row(otherId)).currentAction === null && (await env.deps.repos.events.listAfter(otherId, seq, 100)).some((e) => e.kind === 'error'));
    expect(foreignSnapshot(other.vmid!)).toEqual(before);
  }, 120_000);

  it('are not adopted when the guest at their VMID was made again with the same hostname, until someone adds the mark by hand', async () => {
    const { id, container } = await built('legacy-3');
    const vmid = container.vmid!;
    // Someone deletes the CT and makes another with the same hostname at the same VMID; the row is from before marks.
    await replaceWithForeignGuest(vmid, { running: true, hostname: 'legacy-3' });
    await env.deps.knex('containers').where({ id }).update({ marks_ct: false });
    await worker();
    const before = foreignSnapshot(vmid);
    const seq = (await row(id)).lastSeq;
    expect((await post(id, 'stop')).status).toBe(303);
    await waitUntil('the stop to end', async () => (await row(id)).currentAction === null && (await env.deps.repos.events.listAfter(id, seq, 100)).some((e) => e.kind === 'error'));
    const refusal = (await env.deps.repos.events.listAfter(id, seq, 100)).find((e) => e.kind === 'error')!.text;
    expect(refusal).toContain(`CT ${vmid} on sim (“legacy-3”) carries no Launchpad mark, and its node's task history cannot show that it is the CT Launchpad created for legacy-3`);
    expect(refusal).toContain(`add the line “launchpad-container: ${id}” to its Notes in Proxmox and try again`);
    expect(foreignSnapshot(vmid)).toEqual(before);

    // The admin says it is this container's CT, as the message asks: then it is acted on.
    const byHand = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      await byHand.updateLxcConfig(simulator.node.name, vmid, { description: markedDescription(id, 'their database server') });
    } finally {
      byHand.close();
    }
    expect((await post(id, 'stop')).status).toBe(303);
    await waitUntil('the second stop to end', async () => (await row(id)).currentAction === null && simulator.sim.state.container(vmid)?.status === 'stopped');
  }, 120_000);
});

describe('a build that failed at Create before any create request reached the node', () => {
  it('is listed as never created (not as removed outside Launchpad) and offers Retry and Forget', async () => {
    const vmid = 150;
    expect(simulator.sim.state.containers.has(vmid)).toBe(false);
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname: 'never-made', vmid });
    simulator.sim.faults.set({ unreachable: true });
    try {
      expect(await runCreatePipeline(pipelineDeps, c.id, new AbortController().signal)).toBe('failed');
    } finally {
      simulator.sim.faults.reset();
    }
    expect(simulator.sim.state.containers.has(vmid)).toBe(false);

    const list = await admin.agent.get('/containers').expect(200);
    const rowHtml = list.text.slice(list.text.indexOf(`<tr id="container-${c.id}">`), list.text.indexOf('</tr>', list.text.indexOf(`<tr id="container-${c.id}">`)));
    expect(rowHtml).toContain(`CT ${vmid} was never created on sim: the build stopped before a create request was sent. Retry builds it; Forget drops this entry.`);
    expect(rowHtml).toContain('not created');
    expect(rowHtml).not.toContain('removed outside Launchpad');

    const page = await admin.agent.get(`/containers/${c.id}`).expect(200);
    expect(page.text).toContain(`action="/containers/${c.id}/retry"`);
    expect(page.text).toContain('Forget this entry');
    expect(page.text).not.toContain(`href="/containers/${c.id}/destroy"`);

    expect((await post(c.id, 'forget')).status).toBe(303);
    expect((await row(c.id)).lifecycle).toBe('destroyed');
    expect((await events(c.id)).at(-1)?.text).toBe('Forgotten by marks; no CT was ever created.');
  }, 120_000);
});

describe('a build cancelled while its create task ran', () => {
  it('is listed as not created (Proxmox removed the half-made CT), not as removed outside Launchpad, and Retry builds it', async () => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname: 'cut-short' });
    simulator.sim.faults.set({ slowStorage: true });
    const controller = new AbortController();
    const run = runCreatePipeline(pipelineDeps, c.id, controller.signal);
    try {
      await waitUntil('the create task to start', async () => (await row(c.id)).createUpid !== null);
      controller.abort(new Error('Cancelled by marks.'));
      expect(await run).toBe('cancelled');
    } finally {
      simulator.sim.faults.reset();
    }
    const vmid = (await row(c.id)).vmid!;
    expect(simulator.sim.state.containers.has(vmid)).toBe(false);

    const page = await admin.agent.get(`/containers/${c.id}`).expect(200);
    expect(page.text).toContain(`CT ${vmid} is not on sim: its create task did not finish, and Proxmox removed what it had made. Retry builds it; Forget drops this entry.`);
    expect(page.text).not.toContain('removed outside Launchpad');
    expect(page.text).toContain(`action="/containers/${c.id}/retry"`);
    expect(page.text).toContain('Forget this entry');

    await env.deps.repos.containers.update(c.id, { lifecycle: 'queued' });
    expect(await runCreatePipeline(pipelineDeps, c.id, new AbortController().signal)).toBe('ready');
    expect(simulator.sim.state.container(vmid)?.hostname).toBe('cut-short');
  }, 120_000);
});
