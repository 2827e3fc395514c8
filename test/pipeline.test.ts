// The creation pipeline against the embedded simulator (HTTPS API + SSH host with real bubblewrap sandboxes).
// Host mode: the samples' stand-ins from test/fixtures/host-mode-templates (the real samples need Debian mode; see
// test/template-conformance.test.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerShutdown, runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { runLifecycleAction } from '../src/domain/pipeline/lifecycle-action-pipeline.ts';
import { getTemplate, syncCatalogue } from '../src/domain/templates/catalogue.ts';
import { TemplatesRepository } from '../src/db/templates-repository.ts';
import { ensureUser } from './support/http-session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import type { ContainerEvent } from '../src/domain/containers/container-event.ts';
import { credentialAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let deps: PipelineDeps;
let ownerId: number;
let templates: TemplatesRepository;

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  ownerId = (await ensureUser(env.deps, 'builder', 'builder-password')).id;
  templates = new TemplatesRepository(env.deps.knex);
  await syncCatalogue(templates, path.resolve('test/fixtures/host-mode-templates'), env.deps.logger);
  deps = testPipelineDeps(env);
}, 60_000);
afterAll(async () => {
  await simulator?.close();
  await env?.close();
});

async function allEvents(containerId: string): Promise<ContainerEvent[]> {
  return env.deps.repos.events.listAfter(containerId, 0, 100_000);
}

function expectGapless(events: ContainerEvent[]) {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  const lines = events.filter((e) => e.kind === 'log').map((e) => e.lineNo);
  expect(lines).toEqual(lines.map((_, i) => i + 1));
}

const build = (id: string, signal = new AbortController().signal) => runCreatePipeline(deps, id, signal);

describe('the happy path of each sample template', () => {
  it.each(['static-web', 'postgresql', 'dev-box'])('%s ends ready, with services and credentials recorded', async (name) => {
    const template = await getTemplate(templates, name);
    // One of them starts at boot: the CT is created with onboot=1, the others without it.
    const onboot = name === 'dev-box';
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, template, config: { onboot } });
    expect(await build(c.id)).toBe('ready');

    const done = (await env.deps.repos.containers.findById(c.id))!;
    expect(done.lifecycle).toBe('ready');
    expect(done.percent).toBe(100);
    expect(done.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(done.vmid).toBeGreaterThanOrEqual(100);
    expect(simulator.sim.state.container(done.vmid!)?.status).toBe('running');
    expect(simulator.sim.state.containers.get(done.vmid!)?.config.onboot).toBe(onboot ? 1 : undefined);

    const events = await allEvents(c.id);
    expectGapless(events);
    const log = events.filter((e) => e.kind === 'log').map((e) => e.text).join('\n');
    expect(log).toContain('TASK OK'); // the vzcreate task log, streamed
    for (const script of template.scripts.filter((s) => s.enabled)) expect(log).toContain(`✔ ${script.name} finished.`);
    const phases = events.filter((e) => e.kind === 'step').map((e) => e.step);
    expect([...new Set(phases)]).toEqual(['creating', 'starting', 'deploying', 'syncing', 'finalizing']);

    const services = await env.deps.repos.containerExtras.services(c.id);
    expect(services.length).toBeGreaterThan(0);
    if (name === 'postgresql') {
      const sealed = await env.deps.repos.containerExtras.sealedCredentials(c.id);
      const values = sealed.map((s) => env.deps.secrets.open(s.valueEnc, credentialAad(c.id, s.key)));
      const password = values.find((v) => v.length >= 16);
      expect(password).toBeDefined(); // a generated password
      expect(log).not.toContain(password!); // never in the log
    }
  });
});

describe('the strict samples in host mode', () => {
  it('the real static-web scripts fail loudly where nginx is only recorded, not installed', async () => {
    const standIn = await getTemplate(templates, 'static-web');
    const scripts = await Promise.all(standIn.scripts.map(async (script) => ({
      ...script, content: await readFile(path.resolve('templates/static-web/scripts', script.name), 'utf8'),
    })));
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, template: { ...standIn, scripts } });
    expect(await build(c.id)).toBe('failed');
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.error).toContain('Script 10-enable-site.sh exited with code 1');
    expect(failed.error).toContain('nginx is not installed (no nginx binary on PATH)');
    expect(await env.deps.repos.containerExtras.services(c.id)).toEqual([]);
  });
});

describe('resuming', () => {
  it('a second run of a finished build changes nothing; a re-run after a failure skips finished work', async () => {
    const template = await getTemplate(templates, 'static-web');
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, template });
    // A first run that dies in the scripts phase: the script fails once, then (fixed) succeeds on retry.
    const flaky = { name: '99-flaky.sh', content: 'set -eu\nif [ ! -e /root/second-run ]; then touch /root/second-run; printf "\\033[31mfirst run fails\\033[0m\\n" >&2; exit 7; fi\necho "second run works"\n' };
    const config = { ...(c.config as Record<string, unknown>) } as { scripts: string[]; template: { scripts: Array<{ name: string; content: string }> } };
    config.scripts = [...config.scripts, flaky.name];
    config.template.scripts = [...config.template.scripts, flaky];
    await env.deps.knex('containers').where({ id: c.id }).update({ config });

    expect(await build(c.id)).toBe('failed');
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.currentStep).toBe('syncing');
    expect(failed.error).toContain('Script 99-flaky.sh exited with code 7');
    // Quoted in plain text: the colour codes the log renders are not in the message.
    expect(failed.error).toContain('Last lines:\nfirst run fails');
    expect(failed.error).not.toContain('\x1b');

    await env.deps.repos.containers.update(c.id, { lifecycle: 'queued' });
    expect(await build(c.id)).toBe('ready');
    const events = await allEvents(c.id);
    expectGapless(events);
    const log = events.filter((e) => e.kind === 'log').map((e) => e.text ?? '');
    const attempt = events.find((e) => e.kind === 'attempt');
    expect(attempt?.text).toMatch(/^Attempt 2: resuming at Run Scripts/);
    expect(log.filter((l) => l.startsWith('Creating CT '))).toHaveLength(1); // one create call in all
    expect(log.some((l) => /already exists on sim — keeping it/.test(l))).toBe(true);
    expect(log.some((l) => /already pushed — skipped/.test(l))).toBe(true);
    expect(log.filter((l) => l === '▶ 10-install-site.sh' || /10-.*: completed in an earlier attempt/.test(l)).length).toBeGreaterThan(0);
    expect(log).toContain('second run works');
  });
});

describe('faults end in a failed phase with a human message', () => {
  const cases: Array<[string, () => void, string, RegExp]> = [
    ['storage full', () => simulator.sim.faults.set({ storageFull: true }), 'creating', /storage is full/],
    ['missing OS template', () => simulator.sim.faults.set({ missingTemplate: true }), 'creating', /OS template is missing on the node/],
    ['lock timeout', () => simulator.sim.faults.set({ lockTimeout: true }), 'creating', /lock/i],
    ['start failure', () => simulator.sim.faults.set({ startFailure: true }), 'starting', /could not start the container/],
    ['DHCP never answers', () => simulator.sim.faults.set({ dhcpNever: true }), 'starting', /got no IPv4 address from DHCP within \d+ s — check that bridge “vmbr0”/],
    ['a 596 on the create call', () => simulator.sim.faults.failNextRequest('POST', /\/lxc$/, 596), 'creating', /did not answer in time/],
  ];
  it.each(cases)('%s', async (_name, arm, phase, message) => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
    arm();
    try {
      expect(await build(c.id)).toBe('failed');
    } finally {
      simulator.sim.faults.reset();
    }
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.lifecycle).toBe('failed');
    expect(failed.currentStep).toBe(phase);
    expect(failed.error).toMatch(message);
    const last = (await allEvents(c.id)).at(-1)!;
    expect(last.kind).toBe('error');
    expect((last.data?.progress as { phases: Array<{ key: string; state: string }> }).phases.find((p) => p.key === phase)?.state).toBe('failed');
  });

  it('a token lacking a privilege: the refusal, and the command to grant it for this node’s own token', async () => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
    // A privilege-separated token without Datastore.AllocateSpace on the root-disk storage.
    simulator.sim.faults.set({ deniedPrivileges: ['/storage/local-lvm, Datastore.AllocateSpace'] });
    try {
      expect(await build(c.id)).toBe('failed');
    } finally {
      simulator.sim.faults.reset();
    }
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.currentStep).toBe('creating');
    expect(failed.error).toContain('Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)');
    expect(failed.error).toContain(`pveum acl modify / --tokens '${simulator.node.tokenId}' --roles`);
    expect(failed.error).not.toContain('user@realm!token');
  });

  it('an SSH host-key mismatch aborts with its own message', async () => {
    const other = await env.deps.repos.nodes.update(simulator.node.id, { ...simulator.node, sshHostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, () => ({}));
    try {
      const c = await insertDeployment(env.deps, { ownerId, nodeId: other!.id });
      expect(await build(c.id)).toBe('failed');
      const failed = (await env.deps.repos.containers.findById(c.id))!;
      expect(failed.currentStep).toBe('deploying');
      expect(failed.error).toMatch(/host key/i);
      expect(failed.error).toMatch(/confirm the new key under Nodes → Edit/);
    } finally {
      await env.deps.repos.nodes.update(simulator.node.id, simulator.node, () => ({}));
    }
  });

  it('an SSH user that is not root fails Deploy Files at the first pct command, saying to use root', async () => {
    simulator.sim.addSshLogin('deploy', 1000);
    const asDeploy = await env.deps.repos.nodes.update(simulator.node.id, { ...simulator.node, sshUser: 'deploy' }, () => ({}));
    try {
      const c = await insertDeployment(env.deps, { ownerId, nodeId: asDeploy!.id });
      expect(await build(c.id)).toBe('failed');
      const failed = (await env.deps.repos.containers.findById(c.id))!;
      expect(failed.currentStep).toBe('deploying');
      expect(failed.error).toBe(
        `pct answered “please run as root”: Launchpad signs in to ${simulator.sim.ssh.host} as deploy, and pct runs only as root. — ` +
          'Launchpad runs pct on the node, and pct — like every Proxmox VE command-line tool — refuses to run as anyone but root. ' +
          'Under Nodes → Edit set the SSH user to root, and add the public half of the key to /root/.ssh/authorized_keys on the node. Then Retry.',
      );
      // Not waited on: the filesystem probe ran once.
      expect(simulator.sim.nodeCommands.filter((line) => line === `pct exec ${failed.vmid} -- test -d /etc`)).toHaveLength(1);
    } finally {
      await env.deps.repos.nodes.update(simulator.node.id, simulator.node, () => ({}));
    }
  }, 120_000);

  it('destroy_on_failure removes the CT after a failed script', async () => {
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: { scripts: ['10-fail.sh'], template: { scripts: [{ name: '10-fail.sh', content: 'echo boom >&2; exit 3' }], files: [], packages: [] }, destroyOnFailure: true },
    });
    expect(await build(c.id)).toBe('failed');
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.error).toContain('Script 10-fail.sh exited with code 3');
    expect(simulator.sim.state.container(failed.vmid!)).toBeUndefined();
    const events = await allEvents(c.id);
    expect(events.map((e) => e.text).join('\n')).toContain(`CT ${failed.vmid} destroyed.`);
    // The failure is the last event: viewers end their stream on it, so the destroy's lines come before it.
    expect(events.at(-1)).toMatchObject({ kind: 'error' });
  });

  it('destroy_on_failure refused with 403: the log names this node’s own token in the pveum command', async () => {
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: { scripts: ['10-fail.sh'], template: { scripts: [{ name: '10-fail.sh', content: 'echo boom >&2; exit 3' }], files: [], packages: [] }, destroyOnFailure: true },
    });
    const building = build(c.id);
    try {
      // Once the CT runs, the token loses VM.Allocate on it: destroy_vm's check (pve-container API2/LXC.pm) refuses.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const vmid = (await env.deps.repos.containers.findById(c.id))?.vmid;
        if (vmid && simulator.sim.state.container(vmid)?.status === 'running') {
          simulator.sim.faults.set({ deniedPrivileges: [`/vms/${vmid}, VM.Allocate`] });
          break;
        }
        if (Date.now() > deadline) throw new Error('the CT never ran');
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await building).toBe('failed');
    } finally {
      simulator.sim.faults.reset();
    }
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(simulator.sim.state.container(failed.vmid!)).toBeDefined();
    const text = (await allEvents(c.id)).map((e) => e.text).join('\n');
    expect(text).toContain(`Could not destroy CT ${failed.vmid}: `);
    expect(text).toContain(`Permission check failed (/vms/${failed.vmid}, VM.Allocate)`);
    expect(text).toContain(`pveum acl modify / --tokens '${simulator.node.tokenId}' --roles`);
    expect(text).not.toContain('user@realm!token');
  });
});

describe('an install an earlier attempt left half-done', () => {
  it('is finished with dpkg --configure -a before apt-get installs again, instead of failing every Retry', async () => {
    // What a cancel during an install leaves: dpkg's journal in /var/lib/dpkg/updates (pushed here as a file, which
    // arrives before packages are installed).
    const journal = { name: 'journal', targetPath: '/var/lib/dpkg/updates/0001', content: 'half-done\n', mode: '0644', owner: 'root:root', policy: 'replace' as const };
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: { scripts: [], resolvedPackages: [{ manager: 'apt', name: 'htop', version: null }], template: { scripts: [], files: [journal], packages: [] } },
    });
    expect(await build(c.id)).toBe('ready');
    const log = (await allEvents(c.id)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
    const at = (line: string) => log.indexOf(line);
    expect(at("E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem.")).toBeGreaterThan(-1);
    expect(at('$ dpkg --configure -a')).toBeGreaterThan(at("E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem."));
    expect(log.lastIndexOf('Setting up htop (3.2.2-2) ...')).toBeGreaterThan(at('$ dpkg --configure -a'));
  });

  it('an apt failure of another kind still fails the step with its last lines; an unknown package is named, and Retry is not offered as the cure', async () => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, config: { scripts: [], resolvedPackages: [{ manager: 'apt', name: 'nonexistent-pkg', version: null }] } });
    expect(await build(c.id)).toBe('failed');
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.error).toMatch(/^apt has no package “nonexistent-pkg” \(a typo, or not in this Debian release's repositories\)\. Retry would ask for it again: use “Change settings and deploy again…”/);
    expect(failed.error).not.toContain('then Retry');
    expect(failed.error).toContain('E: Unable to locate package nonexistent-pkg');
    expect(failed.failureKind).toBe('settings');
    expect((await allEvents(c.id)).some((e) => e.text === '$ dpkg --configure -a')).toBe(false);
  });
});

describe('Proxmox VE 8.0, which has no GET …/lxc/{vmid}/interfaces (501; it came with 8.1)', () => {
  afterAll(() => simulator.sim.faults.reset());

  it('a build reads the address inside the CT instead, and so do the power actions', async () => {
    simulator.sim.faults.set({ pveVersion: '8.0.4' });
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
    expect(await build(c.id)).toBe('ready');
    const done = (await env.deps.repos.containers.findById(c.id))!;
    const lease = simulator.sim.state.container(done.vmid!)!.ipv4!;
    expect(done.ip).toBe(lease);
    const log = (await allEvents(c.id)).map((e) => e.text ?? '');
    expect(log).toContain(`sim has no API endpoint for a CT's addresses (…/interfaces came with Proxmox VE 8.1): reading eth0's address inside CT ${done.vmid} with \`ip\` instead.`);
    expect(log).toContain(`eth0 has ${lease}.`);
    expect(simulator.sim.nodeCommands).toContain(`pct exec ${done.vmid} -- ip -4 -o addr show dev eth0`);

    await env.deps.repos.containers.update(c.id, { ip: null });
    expect(await env.deps.repos.containers.claimAction(c.id, 'reboot', ['ready'], 'admin')).toBeDefined();
    expect(await runLifecycleAction(deps, c.id, 'reboot')).toBe('done');
    expect((await env.deps.repos.containers.findById(c.id))!.ip).toBe(lease);
  }, 120_000);
});

describe('hostile content', () => {
  it('template files with quotes, $(), backticks, newlines and unicode arrive byte-exact and are never executed', async () => {
    const nasty = `#!/bin/sh\necho '$(touch /root/pwned)' "\`touch /root/pwned2\`" ; rm -rf / ;\r\n\ttab \\ back\\slash\nünïcödé 🚀 \u200b zero-width\n$HOME \${PATH}\n`;
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: {
        scripts: ["10-it's; $(odd) name.sh"],
        template: {
          scripts: [{ name: "10-it's; $(odd) name.sh", content: 'echo "script with an odd name ran"' }],
          files: [{ name: 'nasty', targetPath: "/etc/launchpad-test/it's $(weird) `name`.conf", content: nasty, mode: '0600', owner: 'root:root', policy: 'replace' }],
          packages: [],
        },
      },
    });
    expect(await build(c.id)).toBe('ready');
    const done = (await env.deps.repos.containers.findById(c.id))!;
    const root = simulator.sim.state.container(done.vmid!)!.rootDir;
    const { readFile, stat } = await import('node:fs/promises');
    const { existsSync } = await import('node:fs');
    const target = path.join(root, "etc/launchpad-test/it's $(weird) `name`.conf");
    expect(await readFile(target, 'utf8')).toBe(nasty);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(root, 'root/pwned'))).toBe(false);
    expect(existsSync(path.join(root, 'root/pwned2'))).toBe(false);
    const log = (await allEvents(c.id)).map((e) => e.text).join('\n');
    expect(log).toContain('script with an odd name ran');
  });
});

describe('a CT that answers a read with endless output', () => {
  it('fails Finalize saying so, instead of the worker holding all of it in memory', async () => {
    // What the CT's root (its owner, or whoever broke into a service in it) may do to a file Launchpad reads back: a
    // link to /dev/zero would be endless; 8 MB stands for it here.
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: {
        scripts: ['10-flood.sh'],
        template: { scripts: [{ name: '10-flood.sh', content: "mkdir -p /etc/launchpad && head -c 8000000 /dev/zero | tr '\\0' x | fold -w 100 > /etc/launchpad/credentials" }], files: [], packages: [] },
      },
    });
    expect(await build(c.id)).toBe('failed');
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.currentStep).toBe('finalizing');
    expect(failed.error).toMatch(/cat \/etc\/launchpad\/credentials` printed more than 1 MiB and was stopped/);
    expect(await env.deps.repos.containerExtras.sealedCredentials(c.id)).toEqual([]);
  });
});

describe('cancel', () => {
  it('aborts a running script, marks the build cancelled, and a retry finishes it with one CT', async () => {
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: { scripts: ['10-slow.sh'], template: { scripts: [{ name: '10-slow.sh', content: 'echo started; [ -e /root/go ] || { touch /root/go; sleep 30; }; echo finished' }], files: [], packages: [] } },
    });
    const controller = new AbortController();
    const running = build(c.id, controller.signal);
    for (let i = 0; i < 200; i++) {
      const events = await allEvents(c.id);
      if (events.some((e) => e.text === 'started')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    controller.abort(new Error('Cancelled by builder.'));
    expect(await running).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
    const cancelled = (await env.deps.repos.containers.findById(c.id))!;
    expect(cancelled.lifecycle).toBe('cancelled');
    expect(cancelled.error).toBe('Cancelled by builder.');

    await env.deps.repos.containers.update(c.id, { lifecycle: 'queued' });
    expect(await build(c.id)).toBe('ready');
    const events = await allEvents(c.id);
    expectGapless(events);
    expect(events.filter((e) => e.text === 'finished')).toHaveLength(1);
    expect(events.filter((e) => e.text?.startsWith('Creating CT '))).toHaveLength(1);
  });
});

describe('the node stops answering while a task runs', () => {
  it('the build fails saying the task goes on, keeps it pending, and a Retry records the lines the node wrote meanwhile', async () => {
    const patient = testPipelineDeps(env, { pollMs: 50, ipWaitMs: 4000, lockWaitMs: 4000, taskContactMs: 1000 });
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
    simulator.sim.faults.set({ slowStorage: true });
    const running = runCreatePipeline(patient, c.id, new AbortController().signal);
    let upid: string | null = null;
    for (let i = 0; i < 200 && !upid; i++) {
      upid = (await env.deps.repos.containers.findById(c.id))!.createUpid;
      if (!upid) await new Promise((r) => setTimeout(r, 20));
    }
    expect(upid).toMatch(/:vzcreate:/);
    simulator.sim.faults.set({ slowStorage: true, unreachable: true });
    try {
      expect(await running).toBe('failed');
    } finally {
      simulator.sim.faults.reset();
    }
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.currentStep).toBe('creating');
    expect(failed.pendingTask).toMatchObject({ upid });
    const logOf = async () => (await allEvents(c.id)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
    const before = await logOf();
    expect(before.some((l) => l.startsWith(`Lost track of task ${upid}: sim stopped answering`))).toBe(true);
    expect(before.some((l) => l.startsWith('TASK '))).toBe(false);

    await env.deps.repos.containers.update(c.id, { lifecycle: 'queued' });
    expect(await runCreatePipeline(patient, c.id, new AbortController().signal)).toBe('ready');
    const events = await allEvents(c.id);
    expectGapless(events);
    const log = await logOf();
    // Every line of the create task, once, in the node's order; one create request in all.
    const nodeLog = simulator.sim.state.tasks.get(upid!)!.lines.filter((l) => l !== '');
    expect(nodeLog.at(-1)).toMatch(/^TASK (OK|WARNINGS: \d+)$/);
    let at = -1;
    for (const line of nodeLog) {
      at = log.indexOf(line, at + 1);
      expect(at, `“${line}” after line ${at}`).toBeGreaterThanOrEqual(0);
    }
    for (const line of nodeLog.filter((l) => !l.startsWith('TASK '))) expect(log.filter((l) => l === line), line).toHaveLength(1);
    expect(log.filter((l) => l.startsWith('Creating CT '))).toHaveLength(1);
    expect(log.some((l) => l.startsWith(`Reading the log of task ${upid} from line `))).toBe(true);
  });
});

describe('a worker shutting down while a task runs', () => {
  it('leaves the Proxmox task running, keeps it pending, and the next run follows it on with one create', async () => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
    simulator.sim.faults.set({ slowStorage: true });
    const controller = new AbortController();
    const running = build(c.id, controller.signal);
    let upid: string | null = null;
    try {
      for (let i = 0; i < 200 && !upid; i++) {
        upid = (await env.deps.repos.containers.findById(c.id))!.createUpid;
        if (!upid) await new Promise((r) => setTimeout(r, 20));
      }
      expect(upid).toMatch(/:vzcreate:/);
      controller.abort(new WorkerShutdown());
      expect(await running).toBe('interrupted');
    } finally {
      simulator.sim.faults.reset();
    }
    expect((await env.deps.repos.containers.findById(c.id))!.pendingTask).toMatchObject({ upid });
    // Not stopped on the node: it ends on its own, successfully.
    const task = simulator.sim.state.tasks.get(upid!)!;
    for (let i = 0; i < 200 && task.status === 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(task.exitstatus).toMatch(/^(OK|WARNINGS: \d+)$/);

    expect(await build(c.id)).toBe('ready');
    const log = (await allEvents(c.id)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
    expect(log.filter((l) => l.startsWith('Creating CT '))).toHaveLength(1);
    expect(log.some((l) => l.startsWith(`Reading the log of task ${upid} from line `))).toBe(true);
    expect(log.some((l) => /received interrupt/.test(l))).toBe(false);
  });
});
