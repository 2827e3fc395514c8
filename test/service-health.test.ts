// Service health (#17) through the front door: a container built on the simulator (host mode, bubblewrap) with
// services its script registers, checked after the build, by "Check now" (a real worker process) and by the sweep.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHealthSweep } from '../src/domain/health/health-sweep.ts';
import { runHealthCheck } from '../src/domain/health/health-check.ts';
import { runCreatePipeline } from '../src/domain/pipeline/pipeline-runner.ts';
import { proxmoxClientFor, shellTargetFor } from '../src/domain/nodes/node-access.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { NodeShell } from '../src/proxmox/node-shell.ts';
import { ensureUser } from './support/http-session.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let admin: SignedInAgent;
let viewer: SignedInAgent;
let worker: WorkerProcess | undefined;

/** nginx with a URL on the CT's own address, and PostgreSQL (its unit defaults to its name). */
const SERVICES_SCRIPT = [
  'set -euo pipefail',
  'apt-get install -y nginx postgresql >/dev/null',
  'register_service web 80 "http://$(primary_ip)/" nginx',
  'register_service postgresql 5432',
  '',
].join('\n');

async function buildWith(script: string, hostname?: string) {
  const owner = (await env.deps.repos.users.findByUsername('tester'))!;
  const c = await insertDeployment(env.deps, { ownerId: owner.id, nodeId: sim.node.id, hostname });
  const config = c.config as { scripts: string[]; template: { scripts: Array<{ name: string; content: string }> } };
  const added = { name: '50-services.sh', content: script };
  await env.deps.knex('containers').where({ id: c.id }).update({
    config: { ...config, scripts: [...config.scripts, added.name], template: { ...config.template, scripts: [...config.template.scripts, added] } },
  });
  expect(await runCreatePipeline(testPipelineDeps(env), c.id, new AbortController().signal)).toBe('ready');
  return (await env.deps.repos.containers.findById(c.id))!;
}

/** Runs argv inside the CT, as an admin would on the node. */
async function inCt(vmid: number, argv: string[]): Promise<number> {
  const shell = await NodeShell.connect(shellTargetFor(sim.node, env.deps.secrets));
  try {
    return (await shell.pctExec(vmid, argv, { timeoutMs: 20_000 })).exitCode;
  } finally {
    await shell.close();
  }
}

const healthSection = (html: string) => /<section id="health-panel"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';

beforeAll(async () => {
  env = await createTestEnv();
  sim = await startTestSimulator(env.deps);
  const app = createTestApp(env, { perAccount: 20 });
  admin = await signedInAgent(app, env.deps);
  await ensureUser(env.deps, 'looker', 'viewer-password-long', 'viewer');
  viewer = await signedInAgent(app, env.deps, { username: 'looker', password: 'viewer-password-long' });
}, 60_000);

afterAll(async () => {
  if (worker) {
    worker.kill('SIGTERM');
    await worker.exited;
  }
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
});

describe('service health', () => {
  let id: string;
  let vmid: number;

  it('is checked when the build ends: stored, shown healthy on the page, in the list and in the log', async () => {
    const c = await buildWith(SERVICES_SCRIPT);
    id = c.id;
    vmid = c.vmid!;
    const stored = (await env.deps.repos.health.latest(id))!;
    expect(stored).toMatchObject({ state: 'healthy', trigger: 'build', summary: 'all 2 services healthy' });
    expect(stored.services.map((s) => [s.name, s.state, s.checks.map((k) => k.kind)])).toEqual([
      ['web', 'healthy', ['unit', 'port', 'http']],
      ['postgresql', 'healthy', ['unit', 'port']],
    ]);
    expect(stored.services[0]!.checks[2]!.words).toMatch(new RegExp(`^http://${c.ip!.replace(/\./g, '\\.')}/ answered 200 in \\d`));

    const page = await admin.agent.get(`/containers/${id}`).expect(200);
    const section = healthSection(page.text);
    expect(section).toContain('data-health-state="healthy"');
    expect(section).toContain('all 2 services healthy');
    expect(section).toContain('nginx.service is active');
    expect(section).toContain('>Check now</button>');

    const list = await admin.agent.get('/containers').expect(200);
    expect(list.text).toContain('2/2 services healthy');
    const log = (await env.deps.repos.events.listAfter(id, 0, 100_000)).map((e) => e.text ?? '').join('\n');
    expect(log).toContain('Health check: healthy — all 2 services healthy.');
    const history = await env.deps.repos.history.list({ containerId: id, kind: 'health' }, { limit: 10, offset: 0 });
    expect(history.map((h) => [h.outcome, h.summary])).toEqual([['healthy', 'all 2 services healthy']]);
  }, 90_000);

  it('a viewer sees the results but gets no button, and 403 on Check now', async () => {
    const page = await viewer.agent.get(`/containers/${id}`).expect(200);
    expect(healthSection(page.text)).toContain('all 2 services healthy');
    expect(healthSection(page.text)).not.toContain('Check now');
    const csrf = await viewer.csrf();
    await viewer.agent.post(`/containers/${id}/health`).type('form').send({ _csrf: csrf }).expect(403);
  });

  it('a unit that fails: Check now (a worker) shows degraded with the failing checks in words, and history records the change', async () => {
    expect(await inCt(vmid, ['systemctl', 'kill', '--signal=KILL', 'nginx'])).toBe(0);
    worker = startWorkerProcess(env.config, { HEALTH_CHECK_INTERVAL_S: '0' });
    await worker.ready;

    const csrf = await admin.csrf();
    const answer = await admin.agent.post(`/containers/${id}/health`).set('HX-Request', 'true').type('form').send({ _csrf: csrf }).expect(200);
    expect(answer.text).toMatch(/^<section id="health-panel"/);
    expect(answer.text).toContain('data-health-state="degraded"');
    expect(answer.text).toContain('nginx.service is inactive (failed)');
    expect(answer.text).toContain('nothing listens on 80');
    expect(answer.text).toMatch(/http:\/\/[\d.]+\/ did not answer: the connection was refused/);

    const page = await admin.agent.get(`/containers/${id}`).expect(200);
    expect(healthSection(page.text)).toContain('data-health-state="degraded"');
    const list = await admin.agent.get('/containers').expect(200);
    expect(list.text).toContain('1/2 services healthy');
    // The dashboard counts it as unhealthy, and its filter lists it.
    expect(list.text).toMatch(/href="\/containers\?filter=unhealthy&amp;sort=created"[^>]*><span[^>]*>1<\/span><span[^>]*>Unhealthy<\/span>/);
    expect((await admin.agent.get('/containers?filter=unhealthy').expect(200)).text).toContain('1/2 services healthy');

    const history = await env.deps.repos.history.list({ containerId: id, kind: 'health' }, { limit: 10, offset: 0 });
    expect(history[0]).toMatchObject({ outcome: 'degraded', username: 'tester' });
    expect(history[0]!.summary).toContain('nginx.service is inactive (failed)');

    // Without JavaScript: the form posts, the answer sends the browser back to the page.
    const plain = await admin.agent.post(`/containers/${id}/health`).type('form').send({ _csrf: csrf }).expect(303);
    expect(plain.headers.location).toBe(`/containers/${id}`);
  }, 90_000);

  it('back up: the next check is healthy again and written to the history', async () => {
    expect(await inCt(vmid, ['systemctl', 'start', 'nginx'])).toBe(0);
    const result = await runHealthCheck(env.deps, id, { trigger: 'schedule', userId: null });
    expect(result).toMatchObject({ state: 'healthy' });
    const history = await env.deps.repos.history.list({ containerId: id, kind: 'health' }, { limit: 10, offset: 0 });
    expect(history.map((h) => h.outcome)).toEqual(['healthy', 'degraded', 'healthy']);
  }, 60_000);

  it('an HTTP error is a failing check in words (simulator fault: services answer 502)', async () => {
    sim.sim.faults.set({ serviceErrors: true });
    try {
      const result = await runHealthCheck(env.deps, id, { trigger: 'schedule', userId: null });
      expect(result).toMatchObject({ state: 'degraded' });
      expect(typeof result === 'object' && result.summary).toMatch(/^http:\/\/[\d.]+\/ answered 502 in \d+\.\d\d s$/);
    } finally {
      sim.sim.faults.set({ serviceErrors: false });
    }
  }, 60_000);

  it('a stopped container is not down: "not checked: container stopped"', async () => {
    const api = proxmoxClientFor(sim.node, env.deps.secrets);
    await waitForTask(api, await api.stopLxc(sim.node.name, vmid), { pollIntervalMs: 50 });
    try {
      const result = await runHealthCheck(env.deps, id, { trigger: 'schedule', userId: null });
      expect(result).toMatchObject({ state: 'not-checked', summary: 'not checked: container stopped' });
      const page = await admin.agent.get(`/containers/${id}`).expect(200);
      expect(healthSection(page.text)).toContain('not checked: container stopped');
      expect(healthSection(page.text)).not.toContain('data-health-state="down"');
      // Not a change of health: no history entry for it.
      const history = await env.deps.repos.history.list({ containerId: id, kind: 'health' }, { limit: 10, offset: 0 });
      expect(history.map((h) => h.outcome)).toEqual(['degraded', 'healthy', 'degraded', 'healthy']);
    } finally {
      await waitForTask(api, await api.startLxc(sim.node.name, vmid), { pollIntervalMs: 50 });
      api.close();
    }
  }, 60_000);

  it('refuses a unit name or port a template wrote that is not valid, before anything runs on the node', async () => {
    const c = await buildWith([
      'set -euo pipefail',
      'apt-get install -y postgresql >/dev/null',
      'register_service postgresql 5432',
      // An address the node cannot fetch over HTTP is no failure: noted, not checked.
      'register_service psql 5432 "ssh://dev@$(primary_ip)" -',
      // Written past register_service, which would refuse it: the file is the template's to write.
      "printf '%s\\n' 'evil 8080 - nginx;touch${IFS}/tmp/pwned' >>/etc/launchpad/services",
      '',
    ].join('\n'));
    await env.deps.knex('container_services').where({ container_id: c.id, name: 'postgresql' }).update({ port: 70000 });
    const before = sim.sim.nodeCommands.length;
    const result = await runHealthCheck(env.deps, c.id, { trigger: 'schedule', userId: null });
    if (typeof result !== 'object') throw new Error(`not checked: ${result}`);
    const evil = result.services.find((s) => s.name === 'evil')!;
    expect(evil.checks[0]).toEqual({ kind: 'unit', ok: false, words: 'refused: “nginx;touch${IFS}/tmp/pwned” is not a systemd unit name, so it was not asked about' });
    expect(result.services.find((s) => s.name === 'postgresql')!.checks).toContainEqual({ kind: 'port', ok: false, words: 'refused: port 70000 is not a port number from 1 to 65535' });
    expect(result.services.find((s) => s.name === 'psql')).toMatchObject({ state: 'healthy', notes: ['not checked over HTTP: ssh: is not http: or https:'] });
    const ran = sim.sim.nodeCommands.slice(before);
    expect(ran.length).toBeGreaterThan(0);
    expect(ran.filter((command) => command.includes('pwned') || command.includes('70000'))).toEqual([]);
    expect(ran).toContainEqual(`pct exec ${c.vmid} -- systemctl is-active postgresql.service`);
  }, 90_000);

  it('the sweep checks every ready container but one an action holds', async () => {
    const others = await env.deps.repos.containers.healthCheckable(60_000);
    expect(others.map((c) => c.id)).toContain(id);
    const held = (await env.deps.repos.containers.claimAction(id, 'stop', ['ready'], 'admin'))!;
    expect(held).toBeDefined();
    const latestBefore = new Map(await Promise.all(others.map(async (c) => [c.id, (await env.deps.repos.health.latest(c.id))?.id] as const)));
    try {
      const swept = await runHealthSweep(env.deps, { leaseStaleMs: 60_000 });
      expect(swept.checked).toBe(others.length - 1);
    } finally {
      await env.deps.repos.containers.releaseAction(id, 'stop');
    }
    for (const c of others) {
      const latest = (await env.deps.repos.health.latest(c.id))?.id;
      if (c.id === id) expect(latest).toBe(latestBefore.get(c.id));
      else expect(latest).toBeGreaterThan(latestBefore.get(c.id) ?? 0);
    }
  }, 90_000);
});
