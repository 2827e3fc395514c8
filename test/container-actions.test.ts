// Power actions (start, stop, shutdown, reboot) and destroy through the front door, run by a real worker process
// against the simulator: each changes the simulated CT and ends with a recorded event; one action at a time per
// container; the live stream stays open while an action runs; stored credentials never appear in a GET response.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLifecycleAction } from '../src/domain/pipeline/lifecycle-action-pipeline.ts';
import { runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { listen, signIn } from './support/http-session.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { connectSse } from './support/sse-client.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import { createTestApp } from './support/test-app.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import type { Container } from '../src/domain/containers/container.ts';
import type { ContainerEvent } from '../src/domain/containers/container-event.ts';
import { CONTAINER_ACTION_JOB, actionJobId, destroyJobId } from '../src/jobs/job-types.ts';
import { credentialAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let app: Express;
let admin: SignedInAgent;
let ownerId: number;
let pipelineDeps: PipelineDeps;
let worker: WorkerProcess | undefined;
let ct: Container; // a ready container with a real CT and a stored credential
let vmid: number;
const ROOT_PASSWORD = 'root-Pa55word-for-actions';

const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const events = (id: string): Promise<ContainerEvent[]> => env.deps.repos.events.listAfter(id, 0, 100_000);
const logText = async (id: string) => (await events(id)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
const simStatus = () => simulator.sim.state.container(vmid)?.status;

async function ensureWorker() {
  if (worker) return;
  worker = startWorkerProcess(env.config);
  await worker.ready;
}

/** POSTs an action form as a browser without JavaScript would. */
async function post(id: string, action: string, body: Record<string, string> = {}) {
  return admin.agent.post(`/containers/${id}/${action}`).type('form').send({ _csrf: await admin.csrf(), ...body });
}

/** Waits until the action's lock is released and its final event is stored; returns that event. */
async function settled(id: string, afterSeq: number): Promise<ContainerEvent> {
  let last: ContainerEvent | undefined;
  await waitUntil('the action to finish', async () => {
    const row = await env.deps.repos.containers.findById(id);
    last = (await env.deps.repos.events.listAfter(id, afterSeq, 100_000)).filter((e) => e.kind === 'complete' || e.kind === 'error').at(-1);
    return row?.currentAction === null && last !== undefined;
  });
  return last!;
}
const lastSeq = async (id: string) => (await env.deps.repos.containers.findById(id))!.lastSeq;

/** Starts or stops the CT directly through the Proxmox API (behind Launchpad's back), unless it already is so. */
async function putCtInState(state: 'running' | 'stopped') {
  if (simStatus() === state) return;
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  try {
    const upid = state === 'running' ? await api.startLxc(simulator.node.name, vmid) : await api.stopLxc(simulator.node.name, vmid);
    await waitForTask(api, upid, { pollIntervalMs: 20 });
  } finally {
    api.close();
  }
}

/** Runs an action end to end over HTTP and returns its final event. */
async function act(id: string, action: string) {
  const before = await lastSeq(id);
  const res = await post(id, action);
  expect(res.status, res.text).toBe(303);
  expect(res.headers.location).toBe(`/containers/${id}`);
  return settled(id, before);
}

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  app = createTestApp(env);
  admin = await signedInAgent(app, env.deps, { username: 'operator' });
  ownerId = (await env.deps.repos.users.findByUsername('operator'))!.id;
  pipelineDeps = testPipelineDeps(env);
  // Built by the real creation pipeline: the script stores a generated credential inside the CT.
  const row = await insertDeployment(env.deps, {
    ownerId,
    nodeId: simulator.node.id,
    hostname: 'act-01',
    password: ROOT_PASSWORD,
    config: {
      scripts: ['10-secret.sh'],
      template: { scripts: [{ name: '10-secret.sh', content: 'save_credential APP_PASSWORD "$(generate_password 28)"\necho stored\n' }], files: [], packages: [] },
    },
  });
  expect(await runCreatePipeline(pipelineDeps, row.id, new AbortController().signal)).toBe('ready');
  ct = (await env.deps.repos.containers.findById(row.id))!;
  vmid = ct.vmid!;
}, 90_000);
afterAll(async () => {
  if (worker) {
    worker.kill('SIGTERM');
    await worker.exited;
  }
  await simulator?.close();
  await env?.close();
});

describe('credentials', () => {
  it('never appear in any GET response of a ready container; only the reveal POST returns them', async () => {
    const sealed = await env.deps.repos.containerExtras.sealedCredentials(ct.id);
    expect(sealed.map((s) => s.key)).toEqual(['APP_PASSWORD']);
    const secret = env.deps.secrets.open(sealed[0]!.valueEnc, credentialAad(ct.id, 'APP_PASSWORD'));
    expect(secret).toMatch(/^[A-Za-z0-9]{28}$/);

    const scan = async () => {
      const pages = [
        '/containers',
        '/containers?filter=running&sort=status',
        `/containers/${ct.id}`,
        `/containers/${ct.id}?from=1`,
        `/containers/${ct.id}/log.txt`,
        `/containers/${ct.id}/events`,
        `/containers/${ct.id}/status`,
        `/containers/${ct.id}/destroy`,
        `/containers/${ct.id}/credentials`,
      ];
      for (const page of pages) {
        const res = await admin.agent.get(page).buffer(true);
        expect([200, 404], page).toContain(res.status);
        for (const value of [secret, ROOT_PASSWORD]) expect(res.text, page).not.toContain(value);
      }
      const rows = await admin.agent.get('/containers').set('HX-Request', 'true').set('HX-Target', 'container-rows');
      expect(rows.text).toContain(ct.hostname);
      expect(rows.text).not.toContain(secret);
    };
    await scan();
    const page = await admin.agent.get(`/containers/${ct.id}`);
    expect(page.text).toContain('Reveal credentials (APP_PASSWORD)');
    // The detail page: configuration summary and what Proxmox says right now (a badge the usage stream keeps current).
    expect(page.text).toMatch(/<dt[^>]*>Memory<\/dt><dd[^>]*>512 MiB \+ 512 MiB swap<\/dd>/);
    expect(page.text).toMatch(/<dt[^>]*>Network<\/dt><dd[^>]*>eth0 on vmbr0, DHCP<\/dd>/);
    expect(page.text).toMatch(new RegExp(`<dt[^>]*>VMID</dt><dd[^>]*>${vmid}</dd>`));
    expect(page.text).toMatch(/<span id="live-status"><span class="badge [^"]*">running<\/span><\/span>/);
    expect(page.text).toMatch(new RegExp(`sse-connect="/containers/${ct.id}/live\\?history=\\d+&amp;seen=\\d+"`));
    const badge = await admin.agent.get(`/containers/${ct.id}/status`).expect(200);
    // Exactly the element, nothing around it: swapped in place of the badge, a newline would stay in the page as a
    // text node that a reload does not have.
    expect(badge.text).toMatch(/^<span id="live-status"[^>]*><span class="badge [^"]*">running<\/span><\/span>$/);

    const revealed = await post(ct.id, 'credentials');
    expect(revealed.status).toBe(200);
    expect(revealed.text).toContain(secret);
    expect(revealed.headers['cache-control']).toBe('no-store');
    // The reveal is logged (who, which keys), not the value.
    expect((await logText(ct.id)).some((l) => l === 'Credentials (APP_PASSWORD) revealed to operator.')).toBe(true);
    await scan();
  });
});

describe('one action at a time', () => {
  it('of a Retry and a Destroy pressed at once, or two Retries, one goes ahead and the other hears why not', async () => {
    const failedRow = async () => {
      const row = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
      await env.deps.repos.containers.update(row.id, { lifecycle: 'failed', error: 'Script 10-x.sh exited with code 1' });
      return row;
    };
    const cleanUp = async (id: string) => {
      for (const jobId of [id, destroyJobId(id)]) await env.deps.queue.remove(jobId);
      await env.deps.repos.containers.update(id, { lifecycle: 'destroyed' });
    };
    const csrf = await admin.csrf();
    const send = (id: string, action: string, body: Record<string, string> = {}) => admin.agent.post(`/containers/${id}/${action}`).type('form').send({ _csrf: csrf, ...body });

    const twice = await failedRow();
    const retries = await Promise.all([send(twice.id, 'retry'), send(twice.id, 'retry')]);
    expect(retries.map((r) => r.status).sort()).toEqual([303, 409]);
    const requested = (await env.deps.repos.events.listAfter(twice.id, 0, 1000)).filter((e) => /^Retry requested by/.test(e.text ?? ''));
    expect(requested).toHaveLength(1);
    await cleanUp(twice.id);

    const both = await failedRow();
    const [retry, destroy] = await Promise.all([send(both.id, 'retry'), send(both.id, 'destroy', { confirm_hostname: both.hostname })]);
    expect([retry.status, destroy.status].sort()).toEqual([303, 409]);
    const after = (await env.deps.repos.containers.findById(both.id))!;
    expect(after.lifecycle).toBe(retry.status === 303 ? 'queued' : 'destroying');
    expect(after.currentAction).toBeNull();
    await cleanUp(both.id);
  });

  it('two concurrent requests make one job; the other (and any other action) hears what is in progress', async () => {
    const before = await lastSeq(ct.id);
    const startedAt = simulator.sim.state.containers.get(vmid)!.startedAt;
    const csrf = await admin.csrf();
    const [a, b] = await Promise.all([0, 1].map(() => admin.agent.post(`/containers/${ct.id}/reboot`).type('form').send({ _csrf: csrf })));
    const statuses = [a!.status, b!.status].sort();
    expect(statuses).toEqual([303, 409]);
    const refused = [a!, b!].find((r) => r.status === 409)!;
    expect(refused.text).toMatch(/Your reboot is in progress \(requested \d+ s ago\)\. Wait for it to finish, then try again\./);

    // A teammate is told who asked, and when.
    const teammate = await signedInAgent(app, env.deps, { username: 'teammate' });
    const other = await teammate.agent.post(`/containers/${ct.id}/stop`).type('form').send({ _csrf: await teammate.csrf() });
    expect(other.status).toBe(409);
    expect(other.text).toMatch(/A reboot is in progress, requested by operator \d+ s ago\. Wait for it to finish, then try again\./);
    const other2 = await post(ct.id, 'destroy', { confirm_hostname: ct.hostname });
    expect(other2.status).toBe(409);
    // With htmx the answer is a redirect to the page, which says it.
    const hx = await admin.agent.post(`/containers/${ct.id}/shutdown`).set('HX-Request', 'true').type('form').send({ _csrf: csrf });
    expect(hx.status).toBe(204);
    expect(hx.headers['hx-redirect']).toBe(`/containers/${ct.id}`);
    // …and the audit log records it as refused, not as a success.
    // (Audited once the response has finished: the entry may be written a moment after the answer arrived.)
    const newestShutdown = async () => (await env.deps.repos.audit.list({ action: 'container.shutdown', containerId: ct.id }, { limit: 1, offset: 0 }))[0];
    await expect.poll(newestShutdown).toMatchObject({ outcome: 'failure', details: { status: 409 } });
    const audit = await newestShutdown();
    expect(String(audit!.details.message)).toMatch(/^Your reboot is in progress \(requested \d+ s ago\)\. Wait for it to finish, then try again\.$/);
    const page = await admin.agent.get(`/containers/${ct.id}`).expect(200);
    expect(page.text).toContain('Wait for it to finish');
    expect(page.text).toContain('A reboot requested by operator is in progress — follow it in the log below.');
    const json = await teammate.agent.get(`/containers/${ct.id}`).set('Accept', 'application/json').expect(200);
    expect(json.body).toMatchObject({ current_action: 'reboot', current_action_by: 'operator' });
    expect(page.text).toContain(`sse-connect="/containers/${ct.id}/events?after=`); // live while the action runs

    // One job, one request recorded; nothing ran yet (no worker).
    const jobs = (await env.deps.queue.getJobs(['waiting', 'active', 'delayed', 'completed'])).filter((j) => j.name === CONTAINER_ACTION_JOB);
    expect(jobs.map((j) => [j.id, j.data])).toEqual([[actionJobId(ct.id), { containerId: ct.id, action: 'reboot', requestedBy: ownerId }]]);
    const requested = (await env.deps.repos.events.listAfter(ct.id, before, 1000)).filter((e) => /requested by/.test(e.text ?? ''));
    expect(requested.map((e) => e.text)).toEqual(['Reboot requested by operator; waiting for a worker…']);
    expect(simStatus()).toBe('running');

    await ensureWorker();
    const final = await settled(ct.id, before);
    expect(final).toMatchObject({ kind: 'complete', text: `CT ${vmid} rebooted and is running.` });
    expect(simStatus()).toBe('running');
    expect(simulator.sim.state.containers.get(vmid)!.startedAt).not.toBe(startedAt);
    expect(await logText(ct.id)).toContain(`Rebooting CT ${vmid}…`);
    const after = await admin.agent.get(`/containers/${ct.id}`).expect(200);
    // Settled again: the page watches usage, not progress.
    expect(after.text).not.toContain('id="progress-stream"');
    expect(after.text).toMatch(new RegExp(`sse-connect="/containers/${ct.id}/live\\?history=\\d+&amp;seen=\\d+"`));
    expect(after.text).toContain(`action="/containers/${ct.id}/reboot"`);
  }, 60_000);

  it('takes over a lock whose job was lost (the web process died before queueing it)', async () => {
    await env.deps.knex('containers').where({ id: ct.id }).update({ current_action: 'stop', current_action_at: new Date(Date.now() - 5 * 60_000) });
    expect(await act(ct.id, 'start')).toMatchObject({ kind: 'complete', text: `CT ${vmid} is running.` });
  }, 30_000);
});

describe('each action against the simulator', () => {
  // Each case puts the CT in the state it starts from (through the Proxmox API), so the cases run in any order.
  const cases: Array<[action: string, status: 'running' | 'stopped', final: string, logged: RegExp, from: 'running' | 'stopped']> = [
    ['stop', 'stopped', 'CT {vmid} is stopped.', /^Stopping CT \d+…$/, 'running'],
    ['start', 'running', 'CT {vmid} is running.', /^Starting CT \d+…$/, 'stopped'],
    ['shutdown', 'stopped', 'CT {vmid} is shut down.', /^Shutting down CT \d+ \(stopped hard if it is not down within 60 s\)…$/, 'running'],
    ['reboot', 'running', 'CT {vmid} is running.', /^CT \d+ is not running; starting it instead of a reboot…$/, 'stopped'],
    ['start', 'running', 'CT {vmid} is running.', /^CT \d+ is already running\.$/, 'running'],
  ];
  it.each(cases)('%s → the CT is %s, and a final event is recorded', async (action, status, final, logged, from) => {
    await ensureWorker();
    await putCtInState(from);
    const before = await lastSeq(ct.id);
    const event = await act(ct.id, action);
    expect(event).toMatchObject({ kind: 'complete', text: final.replace('{vmid}', String(vmid)) });
    expect(simStatus()).toBe(status);
    const lines = (await env.deps.repos.events.listAfter(ct.id, before, 10_000)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
    expect(lines.some((l) => logged.test(l))).toBe(true);
    if (!/already/.test(logged.source)) expect(lines).toContain('TASK OK'); // the Proxmox task log, streamed
    const row = (await env.deps.repos.containers.findById(ct.id))!;
    expect(row).toMatchObject({ lifecycle: 'ready', currentAction: null, error: null });
    expect(row.finishedAt).toEqual(ct.finishedAt); // the build's finish time is not an action's
    if (status === 'running') expect(row.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  }, 30_000);

  it('a failing action ends with an error event and a readable message; the container stays ready and unlocked', async () => {
    await ensureWorker();
    await act(ct.id, 'stop');
    simulator.sim.faults.set({ startFailure: true });
    let event: ContainerEvent;
    try {
      event = await act(ct.id, 'start');
    } finally {
      simulator.sim.faults.reset();
    }
    expect(event.kind).toBe('error');
    expect(event.text).toMatch(/^Start failed: .*startup for container '\d+' failed — Proxmox could not start the container/);
    const row = (await env.deps.repos.containers.findById(ct.id))!;
    expect(row).toMatchObject({ lifecycle: 'ready', currentAction: null });
    expect(row.error).toBe(event.text);
    const page = await admin.agent.get(`/containers/${ct.id}`).expect(200);
    expect(page.text).toContain('Last action failed: Start failed:');
    expect(simStatus()).toBe('stopped');

    expect(await act(ct.id, 'start')).toMatchObject({ kind: 'complete' });
    expect((await env.deps.repos.containers.findById(ct.id))!.error).toBeNull();
  }, 30_000);

  it('a reboot while a backup holds the CT locked is refused before anything is sent: a real reboot would stop it and fail to start it', async () => {
    await ensureWorker();
    await putCtInState('running');
    // What vzdump does to the config while it backs a running CT up (snapshot mode).
    simulator.sim.state.setLock(vmid, 'backup');
    let event: ContainerEvent;
    const mark = simulator.sim.requests.at(-1)?.seq ?? 0;
    try {
      event = await act(ct.id, 'reboot');
    } finally {
      simulator.sim.state.setLock(vmid, undefined);
    }
    expect(event.kind).toBe('error');
    expect(event.text).toContain(`CT ${vmid} is locked (backup) in Proxmox`);
    expect(simStatus()).toBe('running');
    expect(simulator.sim.requests.filter((r) => r.seq > mark && r.method === 'POST').map((r) => r.path)).toEqual([]);
    expect((await env.deps.repos.containers.findById(ct.id))!).toMatchObject({ lifecycle: 'ready', currentAction: null });
  }, 30_000);

  it('a start whose address cannot be read afterwards is still a success, with the last known address kept', async () => {
    await ensureWorker();
    await putCtInState('stopped');
    const ip = (await env.deps.repos.containers.findById(ct.id))!.ip;
    simulator.sim.faults.failNextRequest('GET', /\/lxc\/\d+\/interfaces$/, 500, 1000);
    let event: ContainerEvent;
    try {
      event = await act(ct.id, 'start');
    } finally {
      simulator.sim.faults.reset();
    }
    expect(event).toMatchObject({ kind: 'complete', text: `CT ${vmid} is running.` });
    expect(simStatus()).toBe('running');
    expect((await logText(ct.id)).some((l) => l.startsWith(`Could not read eth0's address (`) && l.endsWith(`keeping the last known one (${ip}).`))).toBe(true);
    expect((await env.deps.repos.containers.findById(ct.id))!).toMatchObject({ ip, error: null });
  }, 30_000);
});

describe('while an action runs', () => {
  it('the page is live and its stream ends only once the action is done; a redelivered job finishes idempotently', async () => {
    const server = await listen(app);
    try {
      const { cookie } = await signIn(server.baseUrl, 'operator', 'correct horse battery staple');
      // As if a worker died mid-start: the lock is held, the CT is already running, the job comes back.
      expect(await env.deps.repos.containers.claimAction(ct.id, 'start', ['ready'], 'admin')).toBeDefined();
      const cursor = await lastSeq(ct.id);
      const page = await admin.agent.get(`/containers/${ct.id}`).expect(200);
      expect(page.text).toContain(`sse-connect="/containers/${ct.id}/events?after=${cursor}"`);
      expect(page.text).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');

      const stream = await connectSse(`${server.baseUrl}/containers/${ct.id}/events?after=${cursor}`, { cookie });
      expect(stream.status).toBe(200);
      await new Promise((r) => setTimeout(r, 400));
      expect(stream.events.filter((e) => e.event === 'done')).toEqual([]);

      expect(await runLifecycleAction(pipelineDeps, ct.id, 'start', { resumed: true })).toBe('done');
      const done = await stream.waitFor((e) => e.event === 'done');
      await stream.ended;
      const html = stream.events.map((e) => e.data).join('\n');
      expect(html).toContain('The worker stopped during this start; checking the CT and finishing it.');
      expect(html).toContain(`CT ${vmid} is already running.`);
      expect(html).toContain('id="status-panel" hx-swap-oob="true"'); // the final panel, with the actions back
      expect(done.data).toContain(`action="/containers/${ct.id}/shutdown"`);
      expect((await env.deps.repos.containers.findById(ct.id))!.currentAction).toBeNull();

      // Without the lock there is nothing to do: a stale delivery changes nothing.
      const seq = await lastSeq(ct.id);
      expect(await runLifecycleAction(pipelineDeps, ct.id, 'stop')).toBe('skipped');
      expect(await lastSeq(ct.id)).toBe(seq);
      expect(simStatus()).toBe('running');
    } finally {
      await server.close();
    }
  }, 30_000);
});

describe('guests that are not ours', () => {
  it('are never acted on, even when one of ours points at their VMID', async () => {
    await ensureWorker();
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    let foreign: number;
    try {
      foreign = await api.nextId();
      await waitForTask(api, await api.createLxc(simulator.node.name, {
        vmid: foreign,
        hostname: 'not-launchpads',
        ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
        rootfs: { storage: 'local-lvm', sizeGiB: 1 },
      }), { pollIntervalMs: 20 });
      await waitForTask(api, await api.startLxc(simulator.node.name, foreign), { pollIntervalMs: 20 });
    } finally {
      api.close();
    }
    const stale = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname: 'was-here', vmid: foreign });
    await env.deps.repos.containers.update(stale.id, { lifecycle: 'ready' });
    const event = await act(stale.id, 'stop');
    expect(event.kind).toBe('error');
    expect(event.text).toContain(`CT ${foreign} on sim is now “not-launchpads”, not was-here: it belongs to another guest, so Launchpad leaves it alone.`);
    expect(simulator.sim.state.container(foreign)?.status).toBe('running');

    const unknownId = '00000000-0000-4000-8000-000000000000';
    expect((await post(unknownId, 'stop')).status).toBe(404);
  }, 30_000);
});

describe('a CT that is a Proxmox HA resource', () => {
  // Start, stop and shutdown only hand the request to the HA manager (hastart, hastop tasks that end at once); the
  // simulator's HA stack acts a round later with its own task. Reboot is an ordinary vzreboot.
  const actionHistory = () => env.deps.repos.history.list({ containerId: ct.id, kind: 'action' }, { limit: 1000, offset: 0 });
  const linesAfter = async (seq: number) => (await env.deps.repos.events.listAfter(ct.id, seq, 10_000)).filter((e) => e.kind === 'log').map((e) => e.text ?? '');
  beforeAll(async () => {
    await ensureWorker();
    await putCtInState('stopped');
    simulator.sim.state.addToHa(vmid);
  });
  afterAll(async () => {
    if (simulator.sim.state.containers.get(vmid)?.ha) simulator.sim.state.removeFromHa(vmid);
    await putCtInState('running'); // as the destroy test expects it
  });

  it('starts, reboots and shuts down: the log says the HA manager does it, and each ends as a success', async () => {
    let before = await lastSeq(ct.id);
    expect(await act(ct.id, 'start')).toMatchObject({ kind: 'complete', text: `CT ${vmid} is running.` });
    expect(simStatus()).toBe('running');
    let lines = await linesAfter(before);
    const waiting = `CT ${vmid} is managed by Proxmox HA: the HA manager starts it; waiting for it to run…`;
    // In this order: the request, the hastart task's own lines, then the wait for the HA stack.
    expect(lines.filter((l) => [`Starting CT ${vmid}…`, `Requesting HA start for CT ${vmid}`, 'TASK OK', waiting].includes(l))).toEqual([
      `Starting CT ${vmid}…`, `Requesting HA start for CT ${vmid}`, 'TASK OK', waiting,
    ]);
    expect(lines.some((l) => new RegExp(`^The HA manager started CT ${vmid} after \\d+ s\\.$`).test(l))).toBe(true);
    expect((await env.deps.repos.containers.findById(ct.id))!.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    expect(await act(ct.id, 'reboot')).toMatchObject({ kind: 'complete', text: `CT ${vmid} rebooted and is running.` });

    before = await lastSeq(ct.id);
    expect(await act(ct.id, 'shutdown')).toMatchObject({ kind: 'complete', text: `CT ${vmid} is shut down.` });
    expect(simStatus()).toBe('stopped');
    lines = await linesAfter(before);
    expect(lines).toEqual(expect.arrayContaining([
      `Shutting down CT ${vmid} (the HA manager gives it 60 s)…`,
      `Requesting HA stop for CT ${vmid}`,
      `CT ${vmid} is managed by Proxmox HA: the HA manager shuts it down; waiting for it to stop…`,
    ]));
    expect(lines.some((l) => /^The HA manager shut down CT \d+ after \d+ s\.$/.test(l))).toBe(true);

    const [shutdown, reboot, start] = await actionHistory();
    expect([start, reboot, shutdown].map((e) => [e!.details.action, e!.outcome, e!.summary])).toEqual([
      ['start', 'succeeded', `Start: CT ${vmid} is running.`],
      ['reboot', 'succeeded', `Reboot: CT ${vmid} rebooted and is running.`],
      ['shutdown', 'succeeded', `Shut down: CT ${vmid} is shut down.`],
    ]);
    expect((await env.deps.repos.containers.findById(ct.id))!).toMatchObject({ lifecycle: 'ready', currentAction: null, error: null });
  }, 60_000);

  it('fails with what to do on the node when the HA manager gives up (HA state error)', async () => {
    await putCtInState('stopped');
    simulator.sim.faults.set({ startFailure: true });
    let event: ContainerEvent;
    try {
      event = await act(ct.id, 'start');
    } finally {
      simulator.sim.faults.reset();
    }
    expect(event).toMatchObject({ kind: 'error' });
    expect(event.text).toBe(
      `Start failed: The Proxmox HA manager could not start CT ${vmid}: its HA state is “error”. On sim, the CT's task history and ha-manager status show why; once the cause is fixed, clear the error (Datacenter → HA, or ha-manager set ct:${vmid} --state disabled), then try again.`,
    );
    expect(simStatus()).toBe('stopped');
    expect((await env.deps.repos.containers.findById(ct.id))!).toMatchObject({ lifecycle: 'ready', currentAction: null, error: event.text });
    expect((await actionHistory())[0]).toMatchObject({ outcome: 'failed', summary: event.text, details: { action: 'start' } });

    // Still in error, a new start is refused at once by the same check, without waiting out the two minutes.
    const again = await act(ct.id, 'start');
    expect(again).toMatchObject({ kind: 'error', text: event.text });
  }, 60_000);
});

describe('destroy', () => {
  it('a CT protected in Proxmox is left running, with a message that says how to switch protection off', async () => {
    await ensureWorker();
    await putCtInState('running');
    // As an admin would in the Proxmox UI (Options → Protection).
    simulator.sim.state.containers.get(vmid)!.config.protection = 1;
    try {
      const before = await lastSeq(ct.id);
      expect((await post(ct.id, 'destroy', { confirm_hostname: ct.hostname })).status).toBe(303);
      await waitUntil('the destroy to end', async () => (await env.deps.repos.containers.findById(ct.id))!.lifecycle !== 'destroying');
      // Refused, the container is what it was before: ready, with the refusal as its last action's error.
      const after = (await env.deps.repos.containers.findById(ct.id))!;
      expect(after.lifecycle).toBe('ready');
      expect(after.error).toContain('is protected in Proxmox');
      const destroyEvents = await env.deps.repos.events.listAfter(ct.id, before, 1000);
      const last = destroyEvents.at(-1)!;
      expect(last.kind).toBe('error');
      expect(last.text).toContain(`CT ${vmid} is protected in Proxmox, which refuses to remove it; it was left as it is. Switch protection off`);
      expect(simStatus()).toBe('running');
      expect(destroyEvents.map((e) => e.text)).not.toContain(`Stopping CT ${vmid}…`);
    } finally {
      delete simulator.sim.state.containers.get(vmid)!.config.protection;
    }
    // Once protection is off it can be destroyed (the next test); meanwhile the page offers its power actions again.
    expect((await env.deps.repos.containers.findById(ct.id))!.currentAction).toBeNull();
    const page = await admin.agent.get(`/containers/${ct.id}`);
    expect(page.text).toContain(`action="/containers/${ct.id}/shutdown"`);
    expect(page.text).toContain('Last action failed: Destroy failed: CT');
  }, 30_000);

  it('a CT locked in Proxmox (pct mount) is left running: Proxmox would let the stop through and then refuse the removal', async () => {
    await ensureWorker();
    await putCtInState('running');
    simulator.sim.state.setLock(vmid, 'mounted');
    const mark = simulator.sim.requests.at(-1)?.seq ?? 0;
    try {
      expect((await post(ct.id, 'destroy', { confirm_hostname: ct.hostname })).status).toBe(303);
      await waitUntil('the destroy to end', async () => (await env.deps.repos.containers.findById(ct.id))!.lifecycle !== 'destroying');
    } finally {
      simulator.sim.state.setLock(vmid, undefined);
    }
    const after = (await env.deps.repos.containers.findById(ct.id))!;
    expect(after.lifecycle).toBe('ready');
    expect(after.error).toContain(`CT ${vmid} is locked (mounted) in Proxmox, which refuses to remove a locked CT; it was left as it is.`);
    expect(simStatus()).toBe('running');
    expect(simulator.sim.requests.filter((r) => r.seq > mark && r.method !== 'GET').map((r) => r.path)).toEqual([]);
  }, 30_000);

  it('asks for the hostname, stops and purges the CT — an HA resource, stopped by the HA manager first — and ends with a recorded event', async () => {
    await ensureWorker();
    // Its stop only asks the HA manager; removing its disks before it is down would fail (“in use”).
    simulator.sim.state.addToHa(vmid);
    await admin.agent.get(`/containers/${ct.id}/destroy`).expect(200);
    expect((await post(ct.id, 'destroy', { confirm_hostname: 'wrong' })).status).toBe(422);
    expect(simStatus()).toBe('running');

    const before = await lastSeq(ct.id);
    const res = await post(ct.id, 'destroy', { confirm_hostname: ct.hostname });
    expect(res.status).toBe(303);
    await waitUntil('the container to be destroyed', async () => (await env.deps.repos.containers.findById(ct.id))!.lifecycle === 'destroyed');
    expect(simulator.sim.state.container(vmid)).toBeUndefined();
    const last = (await env.deps.repos.events.listAfter(ct.id, before, 1000)).at(-1)!;
    expect(last).toMatchObject({ kind: 'complete', text: `Destroyed CT ${vmid}.` });
    const lines = (await env.deps.repos.events.listAfter(ct.id, before, 1000)).filter((e) => e.kind === 'log').map((e) => e.text);
    expect(lines).toEqual(expect.arrayContaining([
      `Requesting HA stop for CT ${vmid}`,
      `CT ${vmid} is managed by Proxmox HA: the HA manager stops it; waiting for it to stop…`,
      `NOTE: removed CT ${vmid} from HA resource configuration.`,
    ]));
    expect((await env.deps.repos.containers.findById(ct.id))!.currentAction).toBeNull();
    // Nothing more can be started on it.
    const again = await post(ct.id, 'start');
    expect(again.status).toBe(409);
    expect(again.text).toContain('This container is destroyed: it cannot start now.');
  }, 30_000);
});
