// Exactness under churn: viewers connect, drop and reconnect at random (by Last-Event-ID or by ?after=) while
// events flow, and the subscriber's Redis connection is killed mid-stream. Every viewer must end with exactly
// lines 1..N, each once, in order.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { connectSse } from './support/sse-client.ts';
import { insertContainer, insertNode, streamedLinesIn, recorderFor } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let cookie: string;
let ownerId: number;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv({ SSE_MAX_STREAMS_PER_SESSION: '100' });
  server = await listen(createApp(env.deps));
  ownerId = (await ensureUser(env.deps, 'viewer', 'viewer-password')).id;
  cookie = (await signIn(server.baseUrl, 'viewer', 'viewer-password')).cookie;
  nodeId = (await insertNode(env.deps)).id;
});
afterAll(async () => {
  await server.close();
  await env.close();
});

/** One viewer that keeps reconnecting until `done`, dropping after `drops[i]` messages on its i-th connection. */
async function churningViewer(containerId: string, drops: number[], useHeader: boolean[]): Promise<number[]> {
  const lines: number[] = [];
  let cursor = 0;
  for (let attempt = 0; ; attempt++) {
    const header = useHeader[attempt % useHeader.length]!;
    const url = `${server.baseUrl}/containers/${containerId}/events${header ? '' : `?after=${cursor}`}`;
    const conn = await connectSse(url, { cookie, ...(header ? { lastEventId: String(cursor) } : {}) });
    expect(conn.status).toBe(200);
    const dropAfter = attempt < drops.length ? drops[attempt]! : Infinity;
    let seen = 0;
    let done = false;
    await new Promise<void>((resolve) => {
      const consume = (e: { id?: string; event: string; data: string }) => {
        if (e.event === 'done') {
          done = true;
          return resolve();
        }
        lines.push(...streamedLinesIn(e.data));
        cursor = Number(e.id);
        if (++seen >= dropAfter) {
          conn.close();
          resolve();
        }
      };
      for (const e of conn.events) consume(e);
      conn.onEvent = consume;
      void conn.ended.then(() => resolve());
    });
    conn.close();
    if (done) return lines;
  }
}

describe('many viewers dropping and reconnecting while events flow', () => {
  it('each ends with exactly lines 1..N', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 6 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 3 })), {
          minLength: 12,
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 20, maxLength: 20 }),
        async (viewers, batches) => {
          const container = await insertContainer(env.deps, ownerId, nodeId);
          const recorder = recorderFor(env.deps, container.id, { maxBatch: 50 });
          await recorder.enterPhase('syncing', 'Running scripts…');
          const watching = viewers.map(([drops, header]) => churningViewer(container.id, drops, header));
          let n = 0;
          for (const [i, size] of batches.entries()) {
            for (let k = 0; k < size; k++) recorder.log('stdout', `line ${++n}`);
            await new Promise((r) => setTimeout(r, 15));
            // Kill the shared subscriber's connection mid-stream: messages published meanwhile are lost and
            // must be back-filled from Postgres.
            if (i === 8) await env.deps.redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
          }
          await recorder.complete({ status: 'Ready' });
          const results = await Promise.all(watching);
          const expected = Array.from({ length: n }, (_, i) => i + 1);
          for (const lines of results) expect(lines).toEqual(expected);
        },
      ),
      { numRuns: 3 },
    );
  }, 120_000);
});
