// Two web processes and two workers on one database and one Redis: viewers on either web process see identical
// streams, and no container is ever worked on by two workers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSse } from './support/sse-client.ts';
import { freePort } from './support/free-port.ts';
import { ensureUser, signIn } from './support/http-session.ts';
import { lineHtmlIn, lineTextsIn } from './support/fixtures.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWebProcess, startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
const processes: WorkerProcess[] = [];
const webUrls: string[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps, { speed: 20 });
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const web = startWebProcess(env.config, port, { TEMPLATES_DIR: 'templates' });
    processes.push(web);
    webUrls.push(`http://127.0.0.1:${port}`);
    processes.push(startWorkerProcess(env.config, { WORKER_CONCURRENCY: '2' }));
  }
  await Promise.all(processes.map((p) => p.ready));
}, 90_000);
afterAll(async () => {
  for (const p of processes) p.kill('SIGKILL');
  await simulator?.close();
  await env?.close();
});

async function readToDone(url: string, cookie: string): Promise<Array<{ id: string | undefined; data: string }>> {
  const conn = await connectSse(url, { cookie });
  expect(conn.status).toBe(200);
  await conn.waitFor((e) => e.event === 'done', 120_000);
  conn.close();
  return conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).map((e) => ({ id: e.id, data: e.data }));
}

describe('two web processes and two workers', () => {
  it('streams identically from either web process and builds each container exactly once', async () => {
    const user = await ensureUser(env.deps, 'scale', 'scale-password');
    const { cookie } = await signIn(webUrls[0]!, 'scale', 'scale-password');
    const containers = [];
    for (let i = 0; i < 4; i++) {
      containers.push(
        await insertDeployment(env.deps, {
          ownerId: user.id,
          nodeId: simulator.node.id,
          config: { scripts: ['10-ticks.sh'], template: { scripts: [{ name: '10-ticks.sh', content: `for i in $(seq 1 60); do echo "ct${i} tick $i"; sleep 0.03; done` }], files: [], packages: [] } },
        }),
      );
    }
    const watching = containers.map((c) => Promise.all(webUrls.map((base) => readToDone(`${base}/containers/${c.id}/events`, cookie))));
    for (const c of containers) await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    const streams = await Promise.all(watching);

    for (const [i, [a, b]] of streams.entries()) {
      const c = containers[i]!;
      // The same messages from both processes: same seq ids, same HTML.
      const joinedA = a!.map((m) => m.data).join('\n');
      const joinedB = b!.map((m) => m.data).join('\n');
      expect(lineHtmlIn(joinedA)).toEqual(lineHtmlIn(joinedB));
      // Every line of the log, once and in order.
      const logTxt = await (await fetch(`${webUrls[0]}/containers/${c.id}/log.txt`, { headers: { Cookie: cookie } })).text();
      expect(lineTextsIn(joinedA)).toEqual(logTxt.split('\n').slice(0, -1));
      expect(a!.at(-1)!.id).toBe(b!.at(-1)!.id);
      const done = (await env.deps.repos.containers.findById(c.id))!;
      expect(done.lifecycle).toBe('ready');
      expect(Number(a!.at(-1)!.id)).toBe(done.lastSeq);
      const events = await env.deps.repos.events.listAfter(c.id, 0, 100_000);
      expect(events.filter((e) => e.kind === 'attempt')).toHaveLength(0);
      expect(events.filter((e) => e.text?.startsWith('Creating CT '))).toHaveLength(1);
      expect(done.attempt).toBe(1);
    }
    // Both workers did some of the work.
    const builtBy = processes.filter((_, i) => i % 2 === 1).map((w) => (w.output().match(/container ready/g) ?? []).length);
    expect(builtBy.reduce((s, n) => s + n, 0)).toBe(4);
  }, 180_000);
});
