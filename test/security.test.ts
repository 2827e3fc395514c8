// Access control and secrets: another user's (or a made-up) container is invisible on every route; every POST
// needs the CSRF token; secrets never reach logs, Redis keys or job payloads; a stuck SSE reader is cut.
import { Writable } from 'node:stream';
import net from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createLogger } from '../src/logger.ts';
import { insertContainer, insertNode, recorderFor } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { fillPath, routesOf } from './support/route-table.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess } from './support/worker-process.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';
import { credentialAad } from '../src/domain/sealed-secrets.ts';

const logLines: string[] = [];
const capture = new Writable({
  write(chunk, _enc, done) {
    logLines.push(chunk.toString());
    done();
  },
});

let env: TestEnv;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  env = await createTestEnv({ SSE_MAX_PENDING_BYTES: '65536', SSE_STALL_MS: '3000', LOG_LEVEL: 'debug' }, createLogger('debug', 'test', capture));
  app = createApp(env.deps);
}, 60_000);
afterAll(() => env?.close());

async function agentFor(username: string, role: 'admin' | 'operator' = 'operator') {
  await ensureUser(env.deps, username, `${username}-password`, role);
  const agent = request.agent(app);
  const token = /name="_csrf" value="([^"]+)"/.exec((await agent.get('/login')).text)![1];
  await agent.post('/login').type('form').send({ _csrf: token, username, password: `${username}-password` }).expect(303);
  const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec((await agent.get('/containers')).text)![1]!;
  return { agent, csrf };
}

describe('access control on every container route', () => {
  it("answers 404 for another user's container and for made-up ids, and changes nothing", async () => {
    const owner = await ensureUser(env.deps, 'owner1', 'owner1-password');
    const node = await insertNode(env.deps);
    const theirs = await insertContainer(env.deps, owner.id, node.id, 'private-box');
    const rec = recorderFor(env.deps, theirs.id);
    rec.log('stdout', 'secret build output');
    await rec.fail('failed on purpose');
    await env.deps.repos.containerExtras.replace(theirs.id, [], [{ key: 'TOKEN', valueEnc: env.deps.secrets.seal('hunter2-credential', credentialAad(theirs.id, 'TOKEN')) }]);
    const before = await env.deps.repos.containers.findById(theirs.id);

    const { agent, csrf } = await agentFor('intruder');
    const routes = routesOf(app).filter((r) => r.path.startsWith('/containers/:id'));
    expect(routes.length).toBeGreaterThanOrEqual(8);
    for (const id of [theirs.id, '6f1c2b7e-0000-4000-8000-000000000000', 'not-a-uuid']) {
      for (const r of routes) {
        const url = fillPath(r.path, id);
        const res = r.method === 'GET' ? await agent.get(url) : await agent.post(url).type('form').send({ _csrf: csrf, confirm_hostname: 'private-box' });
        expect([404], `${r.method} ${url}`).toContain(res.status);
        expect(res.text).not.toContain('secret build output');
        expect(res.text).not.toContain('hunter2-credential');
      }
    }
    expect(await env.deps.repos.containers.findById(theirs.id)).toEqual(before);
  });

  it('refuses every POST route without the CSRF token (403), signed in or not', async () => {
    const posts = routesOf(app).filter((r) => r.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(8);
    const { agent } = await agentFor('csrfcheck');
    for (const r of posts) {
      const url = fillPath(r.path, '6f1c2b7e-0000-4000-8000-000000000000');
      const res = await agent.post(url).type('form').send({ username: 'x', password: 'y' });
      expect(res.status, `POST ${url}`).toBe(403);
      const wrong = await agent.post(url).type('form').send({ _csrf: 'forged-token' });
      expect(wrong.status, `POST ${url} with a forged token`).toBe(403);
    }
  });
});

describe('secrets stay secret', () => {
  it('an invite link (which sets a password) never reaches the request log: opened, used, or opened again', async () => {
    const { agent, csrf } = await agentFor('inviter', 'admin');
    const created = await agent.post('/users').type('form').send({ _csrf: csrf, username: 'invitee', role: 'viewer' }).expect(201);
    const path = new URL(/<code id="invite-link"[^>]*>([^<]+)<\/code>/.exec(created.text)![1]!).pathname;
    const token = path.split('/').pop()!;
    expect(token.length).toBeGreaterThan(20);
    const from = logLines.length;
    const browser = request.agent(app);
    const page = await browser.get(path).expect(200);
    const formCsrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    await browser.post(path).type('form').send({ _csrf: formCsrf, password: 'invitee-password-1', password_confirm: 'invitee-password-1' }).expect(303);
    await request(app).get(path).expect(404);
    const logged = logLines.slice(from).join('');
    expect(logged).toContain('"url":"/invite/[redacted]"');
    expect(logged).not.toContain(token);
  });


  it('never reach the logs, Redis keys or job payloads during a real build', async () => {
    const simulator = await startTestSimulator(env.deps);
    const worker = startWorkerProcess(env.config, { LOG_LEVEL: 'debug' });
    try {
      const user = await ensureUser(env.deps, 'secrets', 'secrets-password-xyz');
      const rootPassword = 'Root-Pa55word-unique-9876';
      const c = await insertDeployment(env.deps, {
        ownerId: user.id,
        nodeId: simulator.node.id,
        password: rootPassword,
        config: { scripts: ['10-cred.sh'], template: { scripts: [{ name: '10-cred.sh', content: 'save_credential API_KEY credential-value-5555' }], files: [], packages: [] } },
      });
      await worker.ready;
      await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
      const server = await listen(app);
      try {
        await signIn(server.baseUrl, 'secrets', 'secrets-password-xyz');
      } finally {
        await server.close();
      }
      const deadline = Date.now() + 60_000;
      while ((await env.deps.repos.containers.findById(c.id))?.lifecycle !== 'ready') {
        if (Date.now() > deadline) throw new Error(`build did not finish: ${worker.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const secrets = [rootPassword, simulator.sim.tokenSecret, 'credential-value-5555', 'secrets-password-xyz', simulator.sim.ssh.privateKey.split('\n')[1]!];

      // Redis: every key of this test's queue and every value in it.
      const keys = await env.deps.redis.keys(`${env.config.queuePrefix}:*`);
      expect(keys.length).toBeGreaterThan(0);
      let dump = keys.join('\n');
      for (const key of keys) {
        const type = await env.deps.redis.type(key);
        if (type === 'hash') dump += JSON.stringify(await env.deps.redis.hgetall(key));
        else if (type === 'string') dump += await env.deps.redis.get(key);
        else if (type === 'list') dump += (await env.deps.redis.lrange(key, 0, -1)).join('\n');
        else if (type === 'zset') dump += (await env.deps.redis.zrange(key, '0', '-1')).join('\n');
        else if (type === 'set') dump += (await env.deps.redis.smembers(key)).join('\n');
        else if (type === 'stream') dump += JSON.stringify(await env.deps.redis.xrange(key, '-', '+'));
      }
      const job = await env.deps.queue.getJob(c.id);
      expect(job?.data).toEqual({ containerId: c.id });
      const logs = logLines.join('') + worker.output();
      expect(logs.length).toBeGreaterThan(1000);
      for (const secret of secrets) {
        expect(dump, 'Redis').not.toContain(secret);
        expect(logs, 'logs').not.toContain(secret);
      }
      // …and the database holds them sealed only.
      const row = await env.deps.knex('containers').where({ id: c.id }).first();
      expect(JSON.stringify(row)).not.toContain(rootPassword);
      expect(row.root_password_enc).toMatch(/^v1:/);
    } finally {
      worker.kill('SIGKILL');
      await simulator.close();
    }
  }, 120_000);
});

describe('a slow SSE client', () => {
  it('is sent nothing more once behind, kept nothing for, and closed after SSE_STALL_MS of taking nothing; memory stays flat', async () => {
    const user = await ensureUser(env.deps, 'slowpoke', 'slowpoke-password');
    const node = await insertNode(env.deps);
    const c = await insertContainer(env.deps, user.id, node.id, 'firehose');
    const server = await listen(app);
    try {
      const { cookie } = await signIn(server.baseUrl, 'slowpoke', 'slowpoke-password');
      const { port } = new URL(server.baseUrl);
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.pause(); // never reads
      socket.write(`GET /containers/${c.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: ${cookie}\r\n\r\n`);
      const deadline = Date.now() + 5000;
      while (env.deps.relay.viewerCount === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(env.deps.relay.viewerCount).toBe(1);

      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const rec = recorderFor(env.deps, c.id, { maxBatch: 500 });
      const line = 'x'.repeat(400);
      for (let i = 0; i < 60_000; i++) rec.log('stdout', `${i} ${line}`); // ~25 MB of HTML for this viewer
      await rec.flush();
      const cutBy = Date.now() + 10_000;
      while (env.deps.relay.viewerCount > 0 && Date.now() < cutBy) await new Promise((r) => setTimeout(r, 50));
      expect(env.deps.relay.viewerCount).toBe(0); // the stuck viewer was closed (3 s of taking nothing here)
      await new Promise((r) => setTimeout(r, 200));
      global.gc?.();
      const grown = process.memoryUsage().heapUsed - heapBefore;
      expect(global.gc, 'vitest runs with --expose-gc').toBeTypeOf('function');
      expect(grown).toBeLessThan(8 * 1024 * 1024);
      socket.destroy();
    } finally {
      await server.close();
    }
  }, 60_000);
});
