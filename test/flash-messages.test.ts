// A flash message ("Stop requested…", "Retrying…") is shown once, on the page the action returns to, and never again:
// whether the action came as a plain form (303) or through htmx (HX-Redirect), and however long the session store
// takes to write it. The store is slowed down here on purpose: a browser follows a redirect the moment it has the
// headers, so a flash still being written then would be missed by that page and turn up on a later one. An action
// asked for as JSON gets no page, so it leaves no flash behind for the session's next one.
import type pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { insertContainer, insertNode, recorderFor } from './support/fixtures.ts';
import { ensureUser } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let agent: ReturnType<typeof request.agent>;
let ownerId: number;
let nodeId: number;
/** While on, every session write waits this long before it reaches Postgres. */
let slowWritesMs = 0;

const STOP_FLASH = 'Stop requested: follow it in the log below.';
const RETRY_FLASH = 'Retrying: finished steps are checked and skipped.';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  env = await createTestEnv();
  const pool = env.deps.sessionPool;
  const slowPool = {
    query: async (text: string, params: unknown[]) => {
      if (slowWritesMs && /^INSERT INTO/.test(text)) await sleep(slowWritesMs);
      return pool.query(text, params);
    },
  } as unknown as pg.Pool;
  const app = createApp({ ...env.deps, sessionPool: slowPool, loginLimits: { perIp: 1000, perAccount: 50, prefix: `${env.prefix}rl:` } });
  ownerId = (await ensureUser(env.deps, 'flashes', 'flashes-password', 'admin')).id;
  nodeId = (await insertNode(env.deps, 'pve-flash')).id;
  agent = request.agent(app);
  const login = await agent.get('/login');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(login.text)![1];
  await agent.post('/login').type('form').send({ _csrf: csrf, username: 'flashes', password: 'flashes-password' }).expect(303);
});
afterAll(async () => {
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await env?.close();
});

/** The flash box of a page (the layout's first role="status" in <main>), or undefined. */
const flashIn = (html: string) => /<main[^>]*>\s*<div role="status"[^>]*>([^<]*)<\/div>/.exec(html)?.[1];
const csrfOf = async () => /<meta name="csrf-token" content="([^"]+)"/.exec((await agent.get('/containers').expect(200)).text)![1]!;

describe('flash messages after a container action', () => {
  it('Stop through htmx: the page HX-Redirect leads to shows it; a later reload does not', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'flash-stop');
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.9' });
    const csrf = await csrfOf();

    slowWritesMs = 300;
    const stop = await agent.post(`/containers/${c.id}/stop`).set('HX-Request', 'true').set('X-CSRF-Token', csrf).type('form').send({});
    slowWritesMs = 0;
    expect(stop.status).toBe(204);
    expect(stop.headers['hx-redirect']).toBe(`/containers/${c.id}`);

    // htmx loads the page as soon as it has the 204.
    expect(flashIn((await agent.get(`/containers/${c.id}`).expect(200)).text)).toBe(STOP_FLASH);
    await sleep(500);
    expect(flashIn((await agent.get(`/containers/${c.id}`).expect(200)).text)).toBeUndefined();
    expect(flashIn((await agent.get('/containers').expect(200)).text)).toBeUndefined();
  });

  it('Retry as a plain form: the page the 303 leads to shows it; a later reload does not', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'flash-retry');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    await rec.fail('Storage full.');
    const csrf = await csrfOf();

    slowWritesMs = 300;
    const retry = await agent.post(`/containers/${c.id}/retry`).type('form').send({ _csrf: csrf });
    slowWritesMs = 0;
    expect(retry.status).toBe(303);
    expect(retry.headers.location).toBe(`/containers/${c.id}`);

    expect(flashIn((await agent.get(`/containers/${c.id}`).expect(200)).text)).toBe(RETRY_FLASH);
    await sleep(500);
    expect(flashIn((await agent.get(`/containers/${c.id}`).expect(200)).text)).toBeUndefined();
    expect(flashIn((await agent.get('/containers').expect(200)).text)).toBeUndefined();
  });

  it('a fragment request in between neither shows nor eats it: the next page does', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'flash-fragment');
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.10' });
    const csrf = await csrfOf();

    await agent.post(`/containers/${c.id}/reboot`).set('HX-Request', 'true').set('X-CSRF-Token', csrf).type('form').send({}).expect(204);
    const rows = await agent.get('/containers').set('HX-Request', 'true').set('HX-Target', 'container-rows').expect(200);
    expect(rows.text).not.toContain('Reboot requested:');
    expect(flashIn((await agent.get(`/containers/${c.id}`).expect(200)).text)).toBe('Reboot requested: follow it in the log below.');
    expect(flashIn((await agent.get(`/containers/${c.id}`).expect(200)).text)).toBeUndefined();
  });

  it('an action asked for as JSON with the session cookie leaves no flash for a later page', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'flash-json');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    await rec.fail('Storage full.');
    const csrf = await csrfOf();

    const retry = await agent.post(`/containers/${c.id}/retry`).set('Accept', 'application/json').set('X-CSRF-Token', csrf).send({});
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ id: c.id });
    expect(flashIn((await agent.get('/containers').expect(200)).text)).toBeUndefined();
  });
});
