// A worker process SIGKILLed in the middle of a template script: BullMQ hands the job to another worker, which
// resumes — one CT, a gapless log with an attempt marker, completed scripts not run again — and ends ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_CONTAINER_JOB } from '../src/domain/containers/container-config.ts';
import { ensureUser } from './support/http-session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
}, 60_000);
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await simulator?.close();
  await env?.close();
});

const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('worker killed mid-script', () => {
  it('resumes on another worker with one CT and a continuous log', async () => {
    const ownerId = (await ensureUser(env.deps, 'crash', 'crash-password')).id;
    const c = await insertDeployment(env.deps, {
      ownerId,
      nodeId: simulator.node.id,
      config: {
        scripts: ['10-first.sh', '20-long.sh'],
        template: {
          scripts: [
            { name: '10-first.sh', content: 'echo first-script-ran' },
            { name: '20-long.sh', content: 'for i in $(seq 1 40); do echo "tick $i"; sleep 0.1; done; echo long-done' },
          ],
          files: [{ name: 'motd', targetPath: '/etc/motd', content: 'hello\n', mode: '0644', owner: 'root:root', policy: 'replace' }],
          packages: [],
        },
      },
    });
    const first = startWorkerProcess(env.config);
    workers.push(first);
    await first.ready;
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });

    await waitUntil('the long script to print', async () =>
      (await env.deps.repos.events.listAfter(c.id, 0, 10_000)).some((e) => e.text === 'tick 5'),
    );
    first.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    const second = startWorkerProcess(env.config);
    workers.push(second);
    await waitUntil('the container to be ready', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'ready', 60_000);

    const container = (await env.deps.repos.containers.findById(c.id))!;
    const events = await env.deps.repos.events.listAfter(c.id, 0, 100_000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const lineNos = events.filter((e) => e.kind === 'log').map((e) => e.lineNo);
    expect(lineNos).toEqual(lineNos.map((_, i) => i + 1));
    const attempt = events.find((e) => e.kind === 'attempt');
    expect(attempt?.text).toMatch(/^Attempt 2: resuming at Run Scripts — the previous run stopped before finishing/);
    const texts = events.map((e) => e.text);
    expect(texts.filter((t) => t === 'first-script-ran')).toHaveLength(1); // completed before the crash: not re-run
    expect(texts.filter((t) => t === 'long-done')).toHaveLength(1);
    expect(texts.filter((t) => t?.startsWith('Creating CT '))).toHaveLength(1);
    expect(texts.some((t) => t === '/etc/motd: already pushed — skipped.')).toBe(true);
    // One CT in the simulator with this hostname.
    const cts = [...simulator.sim.state.containers.values()].filter((ct) => ct.config.hostname === container.hostname);
    expect(cts).toHaveLength(1);
    expect(container.attempt).toBe(2);
  }, 120_000);
});
