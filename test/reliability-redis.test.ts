// Redis restarted in the middle of a build with viewers watching: each viewer still ends with exactly the lines of
// log.txt (the shared subscriber reconnects and viewers back-fill from Postgres), the build and the queue carry on,
// and an action that needs the queue answers 503 at once while Redis is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { buildDeps, type Deps } from '../src/deps.ts';
import { createLogger } from '../src/logger.ts';
import { connectSse } from './support/sse-client.ts';
import { lineTextsIn } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { startRedisServer } from './support/redis-server.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { cloneTestDatabase, testConfig } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';

let db: Awaited<ReturnType<typeof cloneTestDatabase>>;
let redis: Awaited<ReturnType<typeof startRedisServer>>;
let deps: Deps;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let worker: WorkerProcess;
let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  db = await cloneTestDatabase();
  redis = await startRedisServer();
  const config = testConfig({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: 'lp' });
  deps = await buildDeps(config, 'test', createLogger('silent', 'test'));
  simulator = await startTestSimulator(deps, { speed: 20 });
  worker = startWorkerProcess(config);
  await worker.ready;
  server = await listen(createApp(deps));
}, 60_000);
afterAll(async () => {
  worker?.kill('SIGKILL');
  await server?.close();
  await simulator?.close();
  await deps?.close();
  await redis?.close();
  await db?.drop();
});

/** A viewer that reconnects with its cursor whenever the stream drops, until `done`. */
async function watch(url: string, cookie: string): Promise<string[]> {
  const lines: string[] = [];
  let cursor = 0;
  for (let i = 0; i < 50; i++) {
    const conn = await connectSse(`${url}?after=${cursor}`, { cookie });
    if (conn.status !== 200) {
      await new Promise((r) => setTimeout(r, 300));
      continue;
    }
    const finished = await new Promise<boolean>((resolve) => {
      const take = (e: { id?: string; event: string; data: string }) => {
        if (e.event === 'done') return resolve(true);
        lines.push(...lineTextsIn(e.data));
        cursor = Number(e.id);
      };
      conn.events.forEach(take);
      conn.onEvent = take;
      void conn.ended.then(() => resolve(false));
    });
    conn.close();
    if (finished) return lines;
  }
  throw new Error('viewer never saw done');
}

describe('Redis restarted mid-stream', () => {
  it('every viewer ends with exactly log.txt, the build finishes, and the queue keeps working', async () => {
    const user = await ensureUser(deps, 'ops', 'ops-password');
    const { cookie, csrf } = await signIn(server.baseUrl, 'ops', 'ops-password');
    const c = await insertDeployment(deps, {
      ownerId: user.id,
      nodeId: simulator.node.id,
      config: { scripts: ['10-ticks.sh'], template: { scripts: [{ name: '10-ticks.sh', content: 'for i in $(seq 1 100); do echo "tick $i"; sleep 0.06; done' }], files: [], packages: [] } },
    });
    const viewers = Array.from({ length: 5 }, () => watch(`${server.baseUrl}/containers/${c.id}/events`, cookie));
    await deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });

    const deadline = Date.now() + 60_000;
    while (!(await deps.repos.events.listAfter(c.id, 0, 10_000)).some((e) => e.text === 'tick 20')) {
      if (Date.now() > deadline) throw new Error(`no ticks: ${worker.output().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await redis.stop();
    // While Redis is down, a Deploy answers at once with a clear 503 and creates nothing.
    const before = await deps.knex('containers').count<{ count: string }[]>('* as count');
    const t0 = Date.now();
    const page = await fetch(`${server.baseUrl}/containers`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, node: 'sim', hostname: 'while-redis-is-down', password: 'pa55word-x', password_confirm: 'pa55word-x' }),
    });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('The job queue (Redis) cannot be reached, so nothing was created.');
    expect(await deps.knex('containers').count<{ count: string }[]>('* as count')).toEqual(before);
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();

    const results = await Promise.all(viewers);
    const container = (await deps.repos.containers.findById(c.id))!;
    expect(container.lifecycle).toBe('ready');
    const logTxt = await (await fetch(`${server.baseUrl}/containers/${c.id}/log.txt`, { headers: { Cookie: cookie } })).text();
    const expected = logTxt.split('\n').slice(0, -1);
    expect(expected.length).toBeGreaterThan(100);
    if (results.some((l) => l.length !== expected.length)) console.log("LOGTAIL", logTxt.split("\n").slice(-6));
    for (const lines of results) expect(lines).toEqual(expected);

    // The queue still works after the restart: a second build runs to the end.
    const d = await insertDeployment(deps, { ownerId: user.id, nodeId: simulator.node.id });
    await deps.queue.add(CREATE_CONTAINER_JOB, { containerId: d.id }, { jobId: d.id });
    while ((await deps.repos.containers.findById(d.id))?.lifecycle !== 'ready') {
      if (Date.now() > deadline + 60_000) throw new Error(`second build stuck: ${worker.output().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 150_000);
});
