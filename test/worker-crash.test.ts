// A worker process SIGKILLed in each phase: BullMQ hands the job to another worker, which resumes — one CT, a
// gapless log with an attempt marker, finished work not repeated — and the build ends ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { ensureUser } from './support/http-session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import type { ContainerEvent } from '../src/domain/containers/container-event.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let ownerId: number;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  // Slow enough that each phase lasts long enough to be interrupted.
  simulator = await startTestSimulator(env.deps, { speed: 4 });
  ownerId = (await ensureUser(env.deps, 'crash', 'crash-password')).id;
}, 60_000);
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await simulator?.close();
  await env?.close();
});

const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const events = (id: string) => env.deps.repos.events.listAfter(id, 0, 100_000);
/**
 * The build attempts in the container's history, newest first: [attempt, outcome, who]. The entry is written just
 * after the container turns ready, so wait for the one of its latest attempt.
 */
async function builds(id: string) {
  const list = () => env.deps.repos.history.list({ containerId: id, kind: 'build' }, { limit: 100, offset: 0 });
  const attempt = (await env.deps.repos.containers.findById(id))!.attempt;
  await waitUntil(`the history entry of attempt ${attempt}`, async () => (await list()).some((e) => e.attempt === attempt), 10_000);
  return (await list()).map((e) => [e.attempt, e.outcome, e.username]);
}

const FILES = Array.from({ length: 12 }, (_, i) => ({
  name: `file-${i}`,
  targetPath: `/etc/launchpad-test/file-${i}.conf`,
  content: `value=${i}\n`,
  mode: '0640',
  owner: 'root:root',
  policy: 'replace' as const,
}));

type Trigger = (all: ContainerEvent[]) => boolean;
const cases: Array<[phase: string, trigger: Trigger]> = [
  ['creating', (all) => all.some((e) => e.stream === 'task' && /extracting archive/.test(e.text ?? ''))],
  ['starting', (all) => all.some((e) => e.kind === 'step' && e.step === 'starting' && /Waiting for an IPv4/.test(String((e.data?.progress as { status?: string })?.status)))],
  ['deploying', (all) => all.some((e) => /file-3\.conf: pushed/.test(e.text ?? ''))],
  ['syncing', (all) => all.some((e) => e.text === 'tick 5')],
  ['finalizing', (all) => all.some((e) => e.kind === 'step' && e.step === 'finalizing')],
];

describe('a worker killed mid-phase', () => {
  it.each(cases)('%s: resumes on another worker with one CT and a continuous log', async (phase, trigger) => {
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: {
        scripts: ['10-first.sh', '20-long.sh'],
        template: {
          scripts: [
            { name: '10-first.sh', content: 'echo first-script-ran' },
            { name: '20-long.sh', content: 'for i in $(seq 1 30); do echo "tick $i"; sleep 0.1; done; echo long-done' },
          ],
          files: FILES,
          packages: [],
        },
      },
    });
    const first = startWorkerProcess(env.config);
    workers.push(first);
    await first.ready;
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    await waitUntil(`the ${phase} phase to be under way`, async () => trigger(await events(c.id)));
    first.kill('SIGKILL');
    await first.exited;

    const second = startWorkerProcess(env.config);
    workers.push(second);
    await waitUntil('the container to be ready', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'ready', 90_000);
    second.kill('SIGTERM');

    const container = (await env.deps.repos.containers.findById(c.id))!;
    const all = await events(c.id);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    const lineNos = all.filter((e) => e.kind === 'log').map((e) => e.lineNo);
    expect(lineNos).toEqual(lineNos.map((_, i) => i + 1));
    const attempt = all.find((e) => e.kind === 'attempt');
    expect(attempt?.text).toMatch(/^Attempt 2: resuming at .* — the previous run stopped before finishing/);
    expect(attempt?.step).toBe(phase);
    const texts = all.map((e) => e.text ?? '');
    expect(texts.filter((t) => t.startsWith('Creating CT '))).toHaveLength(1);
    expect(texts.filter((t) => t === 'long-done')).toHaveLength(1);
    if (phase === 'syncing') expect(texts.filter((t) => t === 'first-script-ran')).toHaveLength(1);
    if (phase === 'syncing' || phase === 'deploying') expect(texts.some((t) => /file-0\.conf: already pushed — skipped/.test(t))).toBe(true);
    // Each file pushed once in all (a push cut by the crash may be redone, but never a finished one).
    for (const f of FILES) expect(texts.filter((t) => t.startsWith(`${f.targetPath}: pushed`)).length).toBeLessThanOrEqual(phase === 'deploying' ? 2 : 1);
    const cts = [...simulator.sim.state.containers.values()].filter((ct) => ct.config.hostname === container.hostname);
    expect(cts).toHaveLength(1);
    expect(container.attempt).toBe(2);
    // One history entry: the attempt that ended (the killed one never did); the job data names no user, so the owner.
    expect(await builds(c.id)).toEqual([[2, 'succeeded', 'crash']]);
  }, 150_000);
});

describe('a worker asked to stop (SIGTERM) mid-script', () => {
  it('stops the command, hands the job back, exits cleanly, and the next worker finishes the build', async () => {
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: {
        scripts: ['10-long.sh'],
        template: { scripts: [{ name: '10-long.sh', content: 'for i in $(seq 1 40); do echo "tick $i"; sleep 0.1; done; echo long-done' }], files: [], packages: [] },
      },
    });
    const first = startWorkerProcess(env.config);
    workers.push(first);
    await first.ready;
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    await waitUntil('the script to print', async () => (await events(c.id)).some((e) => e.text === 'tick 5'));
    const t0 = Date.now();
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await env.deps.repos.containers.findById(c.id))?.lifecycle).toBe('creating');

    const second = startWorkerProcess(env.config);
    workers.push(second);
    await waitUntil('the container to be ready', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'ready', 90_000);
    second.kill('SIGTERM');
    const all = await events(c.id);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.some((e) => e.text === 'The worker is shutting down; the build resumes on the next worker.')).toBe(true);
    expect(all.find((e) => e.kind === 'attempt')?.text).toMatch(/^Attempt 2: resuming at Run Scripts/);
    expect(all.filter((e) => e.text === 'long-done')).toHaveLength(1);
    expect(await builds(c.id)).toEqual([[2, 'succeeded', 'crash']]);
  }, 120_000);
});

describe('Cancel and Retry from the web side, with a real worker', () => {
  it('cancel stops the running script within seconds; retry finishes the build with one CT', async () => {
    const { cancelContainer, retryContainer } = await import('../src/domain/containers/container-actions.ts');
    const user = (await env.deps.repos.users.findById(ownerId))!;
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: {
        scripts: ['10-slow.sh'],
        template: { scripts: [{ name: '10-slow.sh', content: 'echo started; [ -e /root/second ] || { touch /root/second; sleep 60; }; echo finished' }], files: [], packages: [] },
      },
    });
    const w = startWorkerProcess(env.config);
    workers.push(w);
    await w.ready;
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    await waitUntil('the script to start', async () => (await events(c.id)).some((e) => e.text === 'started'));

    const t0 = Date.now();
    await cancelContainer(env.deps, user, c.id);
    await waitUntil('the build to be cancelled', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'cancelled', 15_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await env.deps.repos.containers.findById(c.id))?.error).toBe('Cancelled by crash.');

    await retryContainer(env.deps, user, c.id);
    await waitUntil('the retried build to be ready', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'ready', 60_000);
    w.kill('SIGTERM');
    const all = await events(c.id);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.filter((e) => e.text === 'finished')).toHaveLength(1);
    expect(all.filter((e) => e.text?.startsWith('Creating CT '))).toHaveLength(1);
    expect(all.find((e) => e.kind === 'attempt')?.text).toMatch(/^Attempt 2: resuming at Run Scripts — retry requested/);
    expect(await builds(c.id)).toEqual([[2, 'succeeded', 'crash'], [1, 'cancelled', 'crash']]);
  }, 120_000);
});

describe('a worker killed while following a Proxmox task', () => {
  /** The whole log of a task as the node has it. */
  async function taskLines(upid: string): Promise<string[]> {
    const api = proxmoxClientFor(simulator.node, env.deps.secrets);
    try {
      return (await api.getTaskLog(upid, { start: 0, limit: 100_000 })).lines.map((l) => l.t);
    } finally {
      api.close();
    }
  }
  const taskOf = (type: string, vmid: number | null) =>
    [...simulator.sim.state.tasks.values()].find((t) => t.type === type && vmid !== null && t.id === String(vmid));

  it.each([
    ['right after POST /lxc answered', 'vzcreate'],
    ['in the middle of the start task', 'vzstart'],
  ])('%s: the resumed run records the missing task lines once, in order; the log has the create and start output exactly once', async (_when, type) => {
    const c = await insertDeployment(env.deps, { ownerId, nodeId: simulator.node.id });
    const first = startWorkerProcess(env.config);
    workers.push(first);
    await first.ready;
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    // Poll the node itself: the moment the task exists (it answered the POST), kill the worker.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const vmid = (await env.deps.repos.containers.findById(c.id))?.vmid ?? null;
      const task = taskOf(type, vmid);
      if (task && (type === 'vzcreate' || task.lines.length >= 1)) break;
      if (Date.now() > deadline) throw new Error(`no ${type} task appeared`);
      await new Promise((r) => setTimeout(r, 2));
    }
    first.kill('SIGKILL');
    await first.exited;

    const second = startWorkerProcess(env.config);
    workers.push(second);
    await waitUntil('the container to be ready', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'ready', 90_000);
    second.kill('SIGTERM');

    const container = (await env.deps.repos.containers.findById(c.id))!;
    const all = await events(c.id);
    const create = taskOf('vzcreate', container.vmid)!;
    const start = taskOf('vzstart', container.vmid)!;
    const expected = [...(await taskLines(create.upid)), ...(await taskLines(start.upid))];
    expect(expected.at(-1)).toBe('TASK OK');
    expect(all.filter((e) => e.kind === 'log' && e.stream === 'task').map((e) => e.text)).toEqual(expected);
    expect(all.filter((e) => e.text?.startsWith('Creating CT '))).toHaveLength(1);
    // The missing lines come after the Attempt 2 marker, announced by the line that says where they come from.
    const marker = all.findIndex((e) => e.kind === 'attempt');
    const reading = all.findIndex((e) => e.text?.startsWith(`Reading the log of task ${type === 'vzcreate' ? create.upid : start.upid} from line `));
    expect(marker).toBeGreaterThan(-1);
    expect(reading).toBeGreaterThan(marker);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
  }, 150_000);
});
