// The README's scale-out layout through the shipped deploy/Caddyfile: many live streams share ONE HTTP/2 connection
// (a browser's six-connections-per-host limit does not apply), Caddy spreads them over both web processes, and every
// stream gets every line in order. Needs `caddy` on PATH (Debian: apt-get install caddy); skipped, and said so,
// without it.
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { haveCaddy, sseDataParser, startCaddy, type Caddy } from './support/caddy.ts';
import { insertContainer, insertNode, streamedLinesIn, recorderFor } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

const caddyInstalled = haveCaddy();
if (!caddyInstalled) console.warn('scale-out-http2: caddy is not installed (apt-get install caddy): skipped');

const STREAMS = 20;
const LINES = 15;
let env: TestEnv;
let caddy: Caddy | undefined;
const webs: Array<Awaited<ReturnType<typeof listen>> & { streams: number }> = [];
/** The Accept-Encoding each request reached a web process with (undefined: none). */
const upstreamAccept: Array<string | undefined> = [];

beforeAll(async () => {
  if (!caddyInstalled) return;
  env = await createTestEnv({ TRUST_PROXY: '1', SSE_MAX_STREAMS_PER_SESSION: '100' });
  for (let i = 0; i < 2; i++) {
    const web = Object.assign(await listen(createApp(env.deps)), { streams: 0 });
    web.server.on('request', (req) => {
      if (req.url?.endsWith('/events')) web.streams++;
      if (req.url === '/login') upstreamAccept.push(req.headers['accept-encoding']);
    });
    webs.push(web);
  }
  caddy = await startCaddy(webs.map((w) => w.baseUrl.replace('http://', '')));
}, 90_000);
afterAll(async () => {
  await caddy?.close();
  for (const w of webs) await w.close();
  await env?.close();
});

describe.skipIf(!caddyInstalled)('behind Caddy over HTTP/2', () => {
  it(`carries ${STREAMS} SSE streams on one connection to both web processes, each with every line`, async () => {
    const user = await ensureUser(env.deps, 'h2', 'h2-password-long');
    const nodeId = (await insertNode(env.deps)).id;
    const base = `https://localhost:${caddy!.port}`;
    const session = http2.connect(base, { ca: caddy!.ca });
    let connections = 0;
    session.on('connect', () => connections++);
    try {
      // Signed in on one web process directly: sessions live in PostgreSQL, so the cookie works on both.
      const { cookie } = await signIn(webs[0]!.baseUrl, 'h2', 'h2-password-long');

      const containers = await Promise.all(Array.from({ length: STREAMS }, () => insertContainer(env.deps, user.id, nodeId)));
      const seen = containers.map(() => [] as number[]);
      const statuses: number[] = [];
      const streams = containers.map((c, i) => {
        const req = session.request({ ':path': `/containers/${c.id}/events`, cookie, accept: 'text/event-stream' });
        req.on('response', (h) => statuses.push(Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', sseDataParser((data) => seen[i]!.push(...streamedLinesIn(data))));
        return req;
      });
      await waitFor(() => statuses.length === STREAMS);
      expect(statuses.every((s) => s === 200)).toBe(true);

      const recorders = containers.map((c) => recorderFor(env.deps, c.id));
      for (let n = 1; n <= LINES; n++) for (const r of recorders) r.log('stdout', `line ${n}`);
      await Promise.all(recorders.map((r) => r.close()));
      await waitFor(() => seen.every((ids) => ids.length >= LINES));
      for (const s of streams) s.close();

      for (const ids of seen) expect(ids).toEqual(Array.from({ length: LINES }, (_, k) => k + 1));
      expect(connections).toBe(1);
      expect(webs.map((w) => w.streams).reduce((a, b) => a + b, 0)).toBe(STREAMS);
      for (const w of webs) expect(w.streams).toBeGreaterThanOrEqual(STREAMS / 4);
    } finally {
      session.close();
    }
  }, 60_000);

  it('passes the client Accept-Encoding through as it is: Launchpad compresses, Caddy does not unpack and repack', async () => {
    const session = http2.connect(`https://localhost:${caddy!.port}`, { ca: caddy!.ca });
    try {
      upstreamAccept.length = 0;
      const plain = await h2Get(session, '/login');
      const br = await h2Get(session, '/login', { 'accept-encoding': 'gzip, deflate, br' });
      expect(upstreamAccept).toEqual([undefined, 'gzip, deflate, br']);
      expect([plain.status, br.status]).toEqual([200, 200]);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(br.headers['content-encoding']).toBe('br');
      expect(br.body.length).toBeLessThan(plain.body.length);
    } finally {
      session.close();
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function h2Get(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = session.request({ ':path': path, ...headers });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end();
  });
}
