// /cluster/nextid reserves nothing: the VMID Deploy took from it (VMID left empty) can be taken by someone else
// while the build waits — a CT on this node, a QEMU VM, a CT on another cluster node. Until a create task has run for
// the container, the build then moves to the next free VMID (on its first run and on Retry) and says so in the log.
// A VMID the user chose is never replaced: the failure says so and what to do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { markOf } from '../src/domain/pipeline/ct-mark.ts';
import { runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { ensureUser } from './support/http-session.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let deps: PipelineDeps;
let ownerId: number;

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  ownerId = (await ensureUser(env.deps, 'racer', 'racer-password')).id;
  deps = testPipelineDeps(env);
}, 60_000);
afterAll(async () => {
  await simulator?.close();
  await env?.close();
});

const build = (id: string) => runCreatePipeline(deps, id, new AbortController().signal);
const row = async (id: string) => (await env.deps.repos.containers.findById(id))!;
const logOf = async (id: string) => (await env.deps.repos.events.listAfter(id, 0, 100_000)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
/** As Retry leaves it for the worker. */
const retry = async (id: string) => {
  await env.deps.repos.containers.update(id, { lifecycle: 'queued' });
  return build(id);
};

/** The number /cluster/nextid proposes right now, as Deploy stored it. */
async function nextFree(): Promise<number> {
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  try {
    return await api.nextId();
  } finally {
    api.close();
  }
}

/** Someone else creates a CT at `vmid` on the node, outside Launchpad. */
async function someoneCreatesCt(vmid: number, hostname: string) {
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  try {
    const upid = await api.createLxc(simulator.node.name, {
      vmid, hostname, ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', rootfs: { storage: 'local-lvm', sizeGiB: 1 }, description: 'not yours',
    });
    await waitForTask(api, upid, { pollIntervalMs: 20 });
  } finally {
    api.close();
  }
}

const guestAt = (vmid: number) => {
  const record = simulator.sim.state.containers.get(vmid);
  return record && { config: JSON.stringify(record.config), status: record.status };
};

describe('VMID left empty, taken before the create', () => {
  it('by a CT on this node: the first run moves to the next free VMID, leaves that CT alone, and says so', async () => {
    const vmid = await nextFree();
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname: 'moved-1', vmid, config: { vmidEntered: false } });
    await someoneCreatesCt(vmid, 'took-it-first');
    const before = guestAt(vmid);

    expect(await build(c.id)).toBe('ready');
    const done = await row(c.id);
    expect(done.vmid).not.toBe(vmid);
    expect(simulator.sim.state.container(done.vmid!)?.hostname).toBe('moved-1');
    expect(guestAt(vmid)).toEqual(before);
    const log = await logOf(c.id);
    expect(log).toContain(
      `VMID ${vmid} was taken after Deploy: sim has CT ${vmid} “took-it-first”, which is not this container's. VMID was left empty and nothing was created at ${vmid}, so Launchpad moves on to the next free one: VMID ${done.vmid}.`,
    );
    expect(log.filter((l) => l.startsWith('Creating CT '))).toEqual([`Creating CT ${done.vmid} (moved-1) on sim from local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst…`]);
  }, 120_000);

  it.each([
    ['a QEMU VM', 'qemu', 'sim', 'VM'],
    ['a CT on another cluster node', 'lxc', 'pve2', 'CT'],
  ] as const)('by %s (not listed on this node): Proxmox refuses the create, and the build moves on', async (_what, type, node, word) => {
    const vmid = await nextFree();
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, vmid, config: { vmidEntered: false } });
    simulator.sim.state.addOtherGuest({ vmid, type, node, name: 'not-a-launchpad-guest' });

    expect(await build(c.id)).toBe('ready');
    const done = await row(c.id);
    expect(done.vmid).not.toBe(vmid);
    expect(done.pendingTask).toBeNull();
    const log = await logOf(c.id);
    expect(log).toContain(
      `VMID ${vmid} was taken after Deploy: Proxmox answered “${word} ${vmid} already exists on node '${node}'”. VMID was left empty and nothing was created at ${vmid}, so Launchpad moves on to the next free one: VMID ${done.vmid}.`,
    );
  }, 120_000);

  it('on Retry of a build that stopped before creating anything', async () => {
    const vmid = await nextFree();
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, vmid, config: { vmidEntered: false } });
    simulator.sim.faults.set({ unreachable: true });
    try {
      expect(await build(c.id)).toBe('failed');
    } finally {
      simulator.sim.faults.reset();
    }
    simulator.sim.state.addOtherGuest({ vmid, type: 'qemu', node: 'sim', name: 'meanwhile' });

    expect(await retry(c.id)).toBe('ready');
    const done = await row(c.id);
    expect(done.vmid).not.toBe(vmid);
    expect(await logOf(c.id)).toContain(
      `VMID ${vmid} was taken after Deploy: Proxmox answered “VM ${vmid} already exists on node 'sim'”. VMID was left empty and nothing was created at ${vmid}, so Launchpad moves on to the next free one: VMID ${done.vmid}.`,
    );
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      expect(markOf(await api.getLxcConfig(simulator.node.name, done.vmid!))).toBe(c.id);
    } finally {
      api.close();
    }
  }, 120_000);

  it('not once a create task ran at it: the failure says why the VMID stays and what to do', async () => {
    const vmid = await nextFree();
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, vmid, config: { vmidEntered: false } });
    simulator.sim.faults.set({ storageFull: true });
    try {
      expect(await build(c.id)).toBe('failed'); // the vzcreate task ran and failed; Proxmox removed what it made
    } finally {
      simulator.sim.faults.reset();
    }
    expect((await row(c.id)).createUpid).toMatch(/:vzcreate:/);
    simulator.sim.state.addOtherGuest({ vmid, type: 'qemu', node: 'sim', name: 'meanwhile-2' });

    expect(await retry(c.id)).toBe('failed');
    const failed = await row(c.id);
    expect(failed.vmid).toBe(vmid);
    expect(failed.currentStep).toBe('creating');
    expect(failed.error).toBe(
      `VMID ${vmid} is taken: Proxmox answered “VM ${vmid} already exists on node 'sim'”. A create task of this container already ran at VMID ${vmid}, so Launchpad does not move it — free VMID ${vmid} on the cluster and Retry, or deploy again (an empty VMID takes the next free one).`,
    );
  }, 120_000);
});

describe('a VMID the user chose, taken before the create', () => {
  it('by a QEMU VM: the build fails saying the VMID was chosen and what to do; nothing moves, nothing is created', async () => {
    const vmid = 4321;
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, vmid });
    simulator.sim.state.addOtherGuest({ vmid, type: 'qemu', node: 'sim', name: 'their-vm' });
    const cts = simulator.sim.state.containers.size;

    expect(await build(c.id)).toBe('failed');
    const failed = await row(c.id);
    expect([failed.vmid, failed.currentStep, failed.pendingTask]).toEqual([vmid, 'creating', null]);
    expect(failed.error).toBe(
      `VMID ${vmid} was chosen for this container and is taken: Proxmox answered “VM ${vmid} already exists on node 'sim'”. Launchpad never replaces a chosen VMID — deploy again with another VMID (or leave it empty for the next free one), or free VMID ${vmid} on the cluster and Retry.`,
    );
    expect(simulator.sim.state.containers.size).toBe(cts);
  }, 120_000);

  it('by a CT on this node: the same advice, and that CT is left alone, even with “destroy the container if creation fails”', async () => {
    const vmid = 4322;
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, vmid, config: { destroyOnFailure: true } });
    await someoneCreatesCt(vmid, 'theirs');
    const before = guestAt(vmid);

    expect(await build(c.id)).toBe('failed');
    expect((await row(c.id)).error).toBe(
      `VMID ${vmid} was chosen for this container and is taken: sim has CT ${vmid} “theirs”, which is not this container's. Launchpad never replaces a chosen VMID — deploy again with another VMID (or leave it empty for the next free one), or free VMID ${vmid} on the cluster and Retry.`,
    );
    expect(guestAt(vmid)).toEqual(before);
    expect((await logOf(c.id)).filter((line) => /destroy/i.test(line))).toEqual([]); // not even tried: it is not ours
  }, 120_000);
});
