// Issue 18: a lone line on a quiet stream goes straight through (recorder → Postgres → Redis → relay → socket, plain
// or through the stream's compressor) with no flush timer on the way; and a replay served from the render-once
// cache carries exactly the events a fresh render does.
import http from 'node:http';
import zlib from 'node:zlib';
import { Deflate, Z_FINISH, Z_PARTIAL_FLUSH } from 'pako';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.ts';
import { replayCache } from '../src/domain/progress/replay-cache.ts';
import type { User } from '../src/db/users-repository.ts';
import { insertContainer, insertNode, recorderFor, streamedLinesIn } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { connectSse, type SseConnection } from './support/sse-client.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let owner: User;
let cookie: string;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv({ SSE_HEARTBEAT_MS: '20000' });
  server = await listen(createApp(env.deps));
  owner = await ensureUser(env.deps, 'owner', 'owner-password');
  cookie = (await signIn(server.baseUrl, 'owner', 'owner-password')).cookie;
  nodeId = (await insertNode(env.deps)).id;
});
afterAll(async () => {
  await server.close();
  await env.close();
});

const streamUrl = (id: string) => `${server.baseUrl}/containers/${id}/events`;
const progressEvents = (conn: SseConnection) => conn.events.filter((e) => (e.event === 'log' || e.event === 'progress')).map((e) => ({ id: e.id, data: e.data }));

describe('adaptive batching', () => {
  // The recorder used to hold a lone line for its 100 ms flush timer; now nothing holds it. Proved without a clock:
  // timers stand still while each lone line is logged, so a recorder, relay or stream that waited for one (a flush
  // interval, a batching window) would never deliver — only I/O and the end of an event-loop turn may move the line.
  it.each([['identity'], ['gzip']])('a single line on a quiet stream reaches a %s viewer without waiting for a timer', async (encoding) => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('syncing', 'Running scripts');
    const conn = await connectSse(streamUrl(c.id), { cookie, headers: { 'Accept-Encoding': encoding } });
    const realSetTimeout = globalThis.setTimeout;
    try {
      expect(conn.headers['content-encoding'] ?? 'identity').toBe(encoding);
      await conn.waitFor((e) => e.event === 'live', 5_000);
      for (let i = 1; i <= 5; i++) {
        await new Promise((r) => setTimeout(r, 150)); // quiet: nothing in flight, nothing pending
        vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
        try {
          rec.log('stdout', `lone line ${i}`);
          const arrived = conn.waitFor((e) => (e.event === 'log' || e.event === 'progress') && e.data.includes(`lone line ${i}`), 60_000).then(() => 'arrived');
          const guard = new Promise<string>((resolve) => realSetTimeout(() => resolve(`line ${i} did not arrive while timers stood still`), 10_000));
          expect(await Promise.race([arrived, guard])).toBe('arrived');
        } finally {
          vi.useRealTimers();
        }
      }
      expect(progressEvents(conn).flatMap((e) => streamedLinesIn(e.data))).toEqual([1, 2, 3, 4, 5]);
    } finally {
      conn.close();
      await rec.close();
    }
  });
});

describe('render once', () => {
  it('a replay served from the cache is byte-identical to the replay rendered fresh', async () => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('syncing', 'Running scripts');
    for (let i = 1; i <= 2_600; i++) rec.log(i % 9 === 0 ? 'stderr' : 'stdout', `line ${i} \x1b[32mgreen\x1b[0m <&>`);
    await rec.complete({ status: 'Ready.' });
    await rec.close();

    const replay = async () => {
      const conn = await connectSse(streamUrl(c.id), { cookie });
      await conn.waitFor((e) => e.event === 'done', 10_000);
      conn.close();
      return progressEvents(conn);
    };
    const misses = replayCache.misses;
    const fresh = await replay();
    // 2,602 events in batches of 1,000: two full batches rendered and kept, the short tail (may still grow) looked
    // up and rendered each time.
    expect(replayCache.misses - misses).toBe(3);
    const hits = replayCache.hits;
    const cached = await replay();
    expect(replayCache.hits - hits).toBe(2);
    expect(fresh.flatMap((e) => streamedLinesIn(e.data))).toEqual(Array.from({ length: 2_600 }, (_, i) => i + 1));
    expect(cached).toEqual(fresh);
  });
});

describe('gzip without a compressor per viewer', () => {
  /** The whole body of a stream that ends by itself (a finished build), as it crossed the wire. */
  const rawBody = (url: string, acceptEncoding: string) =>
    new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      http
        .get(url, { headers: { Cookie: cookie, 'Accept-Encoding': acceptEncoding, Accept: 'text/event-stream' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  const progressData = (text: string) => text.split('\n\n').filter((m) => /\nevent: (log|progress)\n/.test(m)).join('\n\n');

  it('is one valid gzip member (strict decoder: CRC and length checked) carrying the same messages as the plain stream', async () => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('syncing', 'Running scripts');
    for (let i = 1; i <= 1_500; i++) rec.log('stdout', `line ${i} \x1b[1mbold\x1b[0m ü €`);
    await rec.complete({ status: 'Ready.' });
    await rec.close();
    const plain = await rawBody(streamUrl(c.id), 'identity');
    const gzipped = await rawBody(streamUrl(c.id), 'gzip');
    expect(plain.encoding).toBeUndefined();
    expect(gzipped.encoding).toBe('gzip');
    const decoded = zlib.gunzipSync(gzipped.body).toString('utf8');
    expect(decoded).toMatch(/^retry: \d+\n\n/);
    expect(progressData(decoded)).toBe(progressData(plain.body.toString('utf8')));
    expect(streamedLinesIn(decoded)).toEqual(Array.from({ length: 1_500 }, (_, i) => i + 1));
    expect(gzipped.body.length).toBeLessThan(plain.body.length / 5);
  });

  // Live messages share one compression context among the viewers of a container (src/http/gzip-chain.ts): each
  // viewer writes the chain's segments only while its decoder holds exactly the chain's history, and joins at a reset
  // otherwise. Viewers that arrive in the middle of the build (their replay is their own) must still decode strictly.
  it('viewers of a live build share one compression context, joining at different times, and each decodes strictly to every line', async () => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('syncing', 'Running scripts');
    const open = (acceptEncoding: string) => {
      let opened!: () => void;
      const ready = new Promise<void>((resolve) => (opened = resolve));
      const body = new Promise<Buffer>((resolve, reject) => {
        http
          .get(streamUrl(c.id), { headers: { Cookie: cookie, 'Accept-Encoding': acceptEncoding, Accept: 'text/event-stream' } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => {
              chunks.push(chunk);
              opened();
            });
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      return { ready, body };
    };
    const lines = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) {
        rec.log('stdout', `Unpacking package-${i % 7} (1.${i}-1) over (1.${i - 1}-1) ...`);
        await new Promise((r) => setTimeout(r, 3));
      }
    };
    const plain = open('identity');
    const first = open('gzip');
    await Promise.all([plain.ready, first.ready]);
    await lines(1, 120);
    const second = open('gzip');
    await second.ready;
    await lines(121, 240);
    const third = open('gzip');
    await third.ready;
    await lines(241, 300);
    await rec.complete({ status: 'Ready.' });
    await rec.close();

    const every = Array.from({ length: 300 }, (_, i) => i + 1);
    const numbered = (text: string) => streamedLinesIn(text, /\(1\.(\d+)-1\)/);
    expect(numbered((await plain.body).toString('utf8'))).toEqual(every);
    for (const viewer of [first, second, third]) expect(numbered(zlib.gunzipSync(await viewer.body).toString('utf8'))).toEqual(every);
    // The first viewer followed the chain: its bytes are about what its messages cost compressed in one context
    // (with a partial flush after each, as the chain flushes), not what they cost compressed one by one. Both are
    // measured on its own messages, so the check holds however the lines were batched (a loaded machine gathers
    // more lines per message, which makes messages compressed alone relatively cheaper).
    const firstBody = await first.body;
    const messages = zlib.gunzipSync(firstBody).toString('utf8').split('\n\n').filter(Boolean).map((m) => `${m}\n\n`);
    const alone = messages.reduce((n, m) => n + zlib.deflateRawSync(m).length, 0);
    const deflate = new Deflate({ raw: true, level: 9 });
    let oneContext = 0;
    deflate.onData = (chunk) => (oneContext += chunk.length);
    for (const m of messages) deflate.push(m, Z_PARTIAL_FLUSH);
    deflate.push('', Z_FINISH);
    expect(firstBody.length).toBeLessThan(oneContext * 1.6);
    expect(oneContext).toBeLessThan(alone / 2);
  });
});
