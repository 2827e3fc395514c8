// PostgreSQL goes away for a few seconds in the middle of a build (every connection cut, new ones refused):
// pages say so clearly, the build waits and carries on, no row is lost or duplicated, and everything recovers
// without restarting a process.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { buildDeps, type Deps } from '../src/deps.ts';
import { createLogger } from '../src/logger.ts';
import { ensureUser } from './support/http-session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { cloneTestDatabase, testConfig } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';

let db: Awaited<ReturnType<typeof cloneTestDatabase>>;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let deps: Deps;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let worker: WorkerProcess;

beforeAll(async () => {
  db = await cloneTestDatabase();
  const direct = new URL(db.url);
  proxy = await startTcpProxy(direct.hostname, Number(direct.port || 5432));
  direct.port = String(proxy.port);
  const config = testConfig({ DATABASE_URL: direct.toString(), QUEUE_PREFIX: `test-${db.name}` });
  deps = await buildDeps(config, 'test', createLogger('silent', 'test'));
  simulator = await startTestSimulator(deps, { speed: 20 });
  worker = startWorkerProcess(config);
  await worker.ready;
}, 60_000);
afterAll(async () => {
  worker?.kill('SIGKILL');
  await simulator?.close();
  await deps?.close();
  await proxy?.close();
  await db?.drop();
});

describe('PostgreSQL unavailable for a few seconds', () => {
  it('gives clear errors, loses nothing, and recovers without a restart', async () => {
    const app = createApp(deps);
    const user = await ensureUser(deps, 'dba', 'dba-password');
    const agent = request.agent(app);
    const token = /name="_csrf" value="([^"]+)"/.exec((await agent.get('/login')).text)![1];
    await agent.post('/login').type('form').send({ _csrf: token, username: 'dba', password: 'dba-password' }).expect(303);

    const c = await insertDeployment(deps, {
      ownerId: user.id,
      nodeId: simulator.node.id,
      config: { scripts: ['10-ticks.sh'], template: { scripts: [{ name: '10-ticks.sh', content: 'for i in $(seq 1 80); do echo "tick $i"; sleep 0.1; done' }], files: [], packages: [] } },
    });
    await deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    const deadline = Date.now() + 60_000;
    while (!(await deps.repos.events.listAfter(c.id, 0, 10_000)).some((e) => e.text === 'tick 10')) {
      if (Date.now() > deadline) throw new Error(`build did not reach the script: ${worker.output().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    proxy.cut();
    try {
      const t0 = Date.now();
      const health = await request(app).get('/healthz');
      expect(health.status).toBe(503);
      expect(health.body.db).toMatch(/^down: /);
      expect(health.body.redis).toBe('ok');
      expect(Date.now() - t0).toBeLessThan(3000);
      const page = await agent.get('/containers');
      expect(page.status).toBe(503);
      expect(page.text).toContain('The database cannot be reached right now');
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      proxy.restore();
    }

    await agent.get('/containers').expect(200);
    await request(app).get('/healthz').expect(200);
    while ((await deps.repos.containers.findById(c.id))?.lifecycle !== 'ready') {
      const now = await deps.repos.containers.findById(c.id);
      if (now?.lifecycle === 'failed') throw new Error(`build failed: ${now.error}`);
      if (Date.now() > deadline + 30_000) throw new Error(`build did not finish: ${worker.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const events = await deps.repos.events.listAfter(c.id, 0, 100_000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const ticks = events.filter((e) => /^tick \d+$/.test(e.text ?? '')).map((e) => e.text);
    expect(ticks).toEqual(Array.from({ length: 80 }, (_, i) => `tick ${i + 1}`));
    expect(worker.output()).toMatch(/database unavailable; retrying/);
  }, 120_000);
});
