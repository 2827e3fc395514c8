// A CT of ours converted to a template in Proxmox (`pct template`; the simulator's state.convertToTemplate, its API
// path being outside the schema subset): the list and the page say so in one sentence and offer Forget and Destroy,
// no power action; an open page hears of it at the next poll; a power action asked anyway fails before any task
// reaches the node, in the same words; Forget leaves the template in Proxmox, Destroy removes it.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerEvent } from '../src/domain/containers/container-event.ts';
import type { Container } from '../src/domain/containers/container.ts';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { runCreatePipeline } from '../src/domain/pipeline/pipeline-runner.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { listen, signIn } from './support/http-session.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { connectSse } from './support/sse-client.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

const PASSWORD = 'correct horse battery staple';
let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let app: Express;
let admin: SignedInAgent;
let worker: WorkerProcess | undefined;
/** Two built containers whose CTs become templates: one to destroy, one to forget. */
let toDestroy: Container;
let toForget: Container;

const sentence = (vmid: number) =>
  `CT ${vmid} was converted to a template in Proxmox; it cannot be started. Clone it in Proxmox, or Destroy or Forget it here.`;

const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

async function ensureWorker() {
  if (worker) return;
  worker = startWorkerProcess(env.config);
  await worker.ready;
}

async function post(id: string, action: string, body: Record<string, string> = {}) {
  return admin.agent.post(`/containers/${id}/${action}`).type('form').send({ _csrf: await admin.csrf(), ...body });
}

/** The action URLs in a piece of HTML: each form's action and the Destroy… link. */
const actionsIn = (html: string, id: string) =>
  [...html.matchAll(new RegExp(`(?:action|href)="/containers/${id}/(start|stop|shutdown|reboot|retry|cancel|forget|destroy)"`, 'g'))].map((m) => m[1]).sort();
const rowOf = (html: string, id: string) => {
  const start = html.indexOf(`<tr id="container-${id}">`);
  return start < 0 ? '' : html.slice(start, html.indexOf('</tr>', start));
};
const statusPanelOf = (html: string) => html.slice(html.indexOf('<section id="status-panel"'), html.indexOf('</section>', html.indexOf('<section id="status-panel"')));

async function stopCt(vmid: number) {
  const api = proxmoxClientFor(simulator.node, env.deps.secrets);
  try {
    await waitForTask(api, await api.stopLxc(simulator.node.name, vmid), { pollIntervalMs: 20 });
  } finally {
    api.close();
  }
}

async function build(hostname: string): Promise<Container> {
  const ownerId = (await env.deps.repos.users.findByUsername('templater'))!.id;
  const row = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id, hostname });
  expect(await runCreatePipeline(testPipelineDeps(env), row.id, new AbortController().signal)).toBe('ready');
  const built = (await env.deps.repos.containers.findById(row.id))!;
  await stopCt(built.vmid!);
  return built;
}

beforeAll(async () => {
  env = await createTestEnv({ USAGE_POLL_MS: '200' });
  simulator = await startTestSimulator(env.deps);
  app = createTestApp(env);
  admin = await signedInAgent(app, env.deps, { username: 'templater', password: PASSWORD });
  toDestroy = await build('golden-image');
  toForget = await build('base-image');
  simulator.sim.state.convertToTemplate(toForget.vmid!);
}, 90_000);
afterAll(async () => {
  if (worker) {
    worker.kill('SIGTERM');
    await worker.exited;
  }
  await simulator?.close();
  await env?.close();
});

describe('a CT converted to a template in Proxmox', () => {
  it('an open page hears of it at the next poll: the sentence, Forget and Destroy, no Start, and its usage stream ends', async () => {
    const server = await listen(app);
    const { cookie } = await signIn(server.baseUrl, 'templater', PASSWORD);
    const stream = await connectSse(`${server.baseUrl}/containers/${toDestroy.id}/live`, { cookie });
    try {
      await stream.waitFor((e) => e.event === 'usage' && e.data.includes('stopped</span>'), 10_000);
      simulator.sim.state.convertToTemplate(toDestroy.vmid!);
      // The page's last message: a template never runs, so no usage stream follows it (as on a reload); the quiet
      // watch stream does, for a teammate's Forget or Destroy.
      const done = await stream.waitFor((e) => e.event === 'done', 10_000);
      expect(done.data).toContain(sentence(toDestroy.vmid!));
      expect(actionsIn(done.data, toDestroy.id)).toEqual(['destroy', 'forget']);
      expect(done.data).not.toContain('id="usage-stream"');
      expect(done.data).toContain(`<div id="watch-stream" hidden sse-connect="/containers/${toDestroy.id}/watch?seen=`);
      await stream.ended;
    } finally {
      stream.close();
      await server.close();
    }
  });

  it('the list and the page say it in a sentence and offer Forget and Destroy, no power action and no usage', async () => {
    const list = (await admin.agent.get('/containers').expect(200)).text;
    for (const c of [toDestroy, toForget]) {
      const row = rowOf(list, c.id);
      expect(row).toMatch(/<summary class="badge [^"]*" title="[^"]*">template<\/summary>/);
      expect(row).toContain(`<span class="ct-status-reason">${sentence(c.vmid!)}</span>`);
      expect(actionsIn(row, c.id)).toEqual(['destroy', 'forget']);

      const page = (await admin.agent.get(`/containers/${c.id}`).expect(200)).text;
      expect(statusPanelOf(page)).toContain(`<p class="mt-3 text-sm font-medium text-indigo-900" data-ct-template>${sentence(c.vmid!)}</p>`);
      expect(actionsIn(statusPanelOf(page), c.id)).toEqual(['destroy', 'forget']);
      expect(page).toContain('so the template stays in Proxmox.');
      // A template never runs: the usage panel stays an empty hidden slot, and no usage stream keeps it current —
      // only the quiet watch stream, from the seq the page shows.
      expect(page).toContain('<section id="usage-panel" class="card p-5 hidden"');
      expect(page).not.toContain('id="usage-stream"');
      expect(page).toContain(`<div id="watch-stream" hidden sse-connect="/containers/${c.id}/watch?seen=${(await env.deps.repos.containers.findById(c.id))!.lastSeq}"`);

      const json = await admin.agent.get(`/containers/${c.id}`).set('Accept', 'application/json').expect(200);
      expect(json.body).toMatchObject({ status: 'template', actions: ['forget', 'destroy'] });
    }
  });

  it('a power action asked anyway fails in the same words before any task reaches the node', async () => {
    await ensureWorker();
    const vmid = toDestroy.vmid!;
    const startTasks = () => [...simulator.sim.state.tasks.values()].filter((t) => t.type === 'vzstart' && t.id === String(vmid)).length;
    const tasksBefore = startTasks();
    const before = (await env.deps.repos.containers.findById(toDestroy.id))!.lastSeq;
    expect((await post(toDestroy.id, 'start')).status).toBe(303);

    let last: ContainerEvent | undefined;
    await waitUntil('the start to end', async () => {
      last = (await env.deps.repos.events.listAfter(toDestroy.id, before, 1000)).filter((e) => e.kind === 'complete' || e.kind === 'error').at(-1);
      return last !== undefined && (await env.deps.repos.containers.findById(toDestroy.id))!.currentAction === null;
    });
    expect(last).toMatchObject({ kind: 'error', text: `Start failed: ${sentence(vmid)}` });
    expect(startTasks()).toBe(tasksBefore);
    expect(simulator.sim.state.container(vmid)?.status).toBe('stopped');
    expect(await env.deps.repos.containers.findById(toDestroy.id)).toMatchObject({ lifecycle: 'ready', error: `Start failed: ${sentence(vmid)}` });
  }, 30_000);

  it('Forget drops the entry and leaves the template in Proxmox; a page left open hears it on its watch stream', async () => {
    const vmid = toForget.vmid!;
    const server = await listen(app);
    const { cookie } = await signIn(server.baseUrl, 'templater', PASSWORD);
    const watchUrl = /<div id="watch-stream" hidden sse-connect="([^"]+)"/.exec((await admin.agent.get(`/containers/${toForget.id}`).expect(200)).text)![1]!;
    const stream = await connectSse(`${server.baseUrl}${watchUrl}`, { cookie });
    try {
      await stream.waitFor((e) => e.event === 'live', 10_000);
      expect((await post(toForget.id, 'forget')).status).toBe(303);
      // The page's state as a reload renders it: destroyed, no actions; the slot replays the Forget's events.
      const done = await stream.waitFor((e) => e.event === 'done', 10_000);
      expect(done.data).toMatch(/id="lifecycle-badge"[^>]*>[^<]*destroyed/);
      expect(actionsIn(done.data, toForget.id)).toEqual([]);
      expect(done.data).toContain(`sse-connect="/containers/${toForget.id}/events?after=${watchUrl.split('seen=')[1]}"`);
      await stream.ended;
    } finally {
      stream.close();
      await server.close();
    }
    const row = (await env.deps.repos.containers.findById(toForget.id))!;
    expect(row.lifecycle).toBe('destroyed');
    const events = await env.deps.repos.events.listAfter(toForget.id, 0, 100_000);
    expect(events.at(-1)).toMatchObject({ kind: 'complete', text: `Forgotten by templater; CT ${vmid} stays in Proxmox as a template.` });
    expect(simulator.sim.state.containers.get(vmid)?.config.template).toBe(1);
  });

  it('Destroy removes the template from the node', async () => {
    await ensureWorker();
    const vmid = toDestroy.vmid!;
    expect((await post(toDestroy.id, 'destroy', { confirm_hostname: toDestroy.hostname })).status).toBe(303);
    await waitUntil('the container to be destroyed', async () => (await env.deps.repos.containers.findById(toDestroy.id))!.lifecycle === 'destroyed');
    expect(simulator.sim.state.container(vmid)).toBeUndefined();
    const logged = (await env.deps.repos.events.listAfter(toDestroy.id, 0, 100_000)).map((e) => e.text ?? '');
    expect(logged).toContain(`  Logical volume "base-${vmid}-disk-0" successfully removed.`);
    expect(logged.at(-1)).toBe(`Destroyed CT ${vmid}.`);
  }, 30_000);
});
