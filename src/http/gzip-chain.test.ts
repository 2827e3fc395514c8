// The shared compression context's one promise: whatever a viewer was sent — the group's live messages, its own
// messages, heartbeats, in any interleaving, joining and leaving at any point — its gzip stream decodes (strictly:
// CRC and length checked) to exactly what a plain viewer sent the same calls receives. Viewers are event streams on
// stand-in responses that keep what was written.
import { EventEmitter } from 'node:events';
import zlib from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { openEventStream, type SseWriter } from './sse.ts';

function standInResponse(acceptEncoding: string) {
  const chunks: Buffer[] = [];
  const req = { headers: { 'accept-encoding': acceptEncoding } } as unknown as IncomingMessage;
  const res = Object.assign(new EventEmitter(), {
    writeHead: () => res,
    flushHeaders: () => undefined,
    socket: { setNoDelay: () => undefined },
    write: (chunk: Buffer | string) => chunks.push(Buffer.from(chunk)) > 0,
    end: (chunk?: Buffer | string) => void (chunk && chunks.push(Buffer.from(chunk))),
    destroy: () => undefined,
    writableLength: 0,
    writableNeedDrain: false,
    destroyed: false,
  });
  return { req, res: res as unknown as ServerResponse, body: () => Buffer.concat(chunks) };
}

/** A gzip viewer and a plain twin that get the same calls. */
function viewer(group: string) {
  const gzip = standInResponse('gzip, deflate, br');
  const plain = standInResponse('identity');
  const streams = [gzip, plain].map(({ req, res }) => openEventStream(req, res, { maxPendingBytes: 64 * 1024 * 1024, heartbeatMs: 3_600_000, group }));
  const both = (call: (s: SseWriter) => void) => streams.forEach(call);
  return {
    shared: (id: number, data: string) => both((s) => s.sendShared(id, 'progress', data)),
    own: (id: number, data: string) => both((s) => s.send(id, 'done', data)),
    heartbeat: () => both((s) => (s as unknown as { heartbeat(): void }).heartbeat()),
    end: () => both((s) => s.end()),
    gzipped: gzip.body,
    plain: plain.body,
  };
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Plays `messages` live messages to viewers that come and go, with heartbeats and messages of their own. */
async function play(seed: number, rates: { join: number; leave: number; heartbeat: number; own: number }, messages = 600) {
  const rand = random(seed);
  const group = `test-${seed}-${rates.heartbeat}`;
  const present: ReturnType<typeof viewer>[] = [viewer(group)];
  const gone: ReturnType<typeof viewer>[] = [];
  const packages = ['libc6', 'nginx', 'openssl', 'curl', 'ca-certificates'];
  for (let seq = 1; seq <= messages; seq++) {
    const r = rand();
    if (r < rates.join) present.push(viewer(group));
    else if (r < rates.join + rates.leave && present.length > 1) gone.push(...present.splice(1 + Math.floor(rand() * (present.length - 1)), 1));
    const pkg = packages[Math.floor(rand() * packages.length)]!;
    // Sometimes the very same message again (a usage panel that did not change).
    const data = rand() < 0.05 ? '<span id="usage">unchanged</span>' : `<li id="L${seq}" data-t="12:00:${String(seq % 60).padStart(2, '0')}">Unpacking ${pkg} (1.${seq}) ...</li>`;
    // The heartbeat timer is one for the process: every viewer gets one at the same moment.
    if (rand() < rates.heartbeat) for (const v of present) v.heartbeat();
    for (const v of present) {
      if (rand() < rates.own) v.own(seq, `<div id="state">${seq}</div>`);
      v.shared(seq, data);
    }
    if (rand() < 0.5) {
      await turn();
      // Every message written is readable at once: nothing of it waits in the compressor for a later one.
      for (const v of present) expect(zlib.gunzipSync(v.gzipped(), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString('utf8')).toBe(v.plain().toString('utf8'));
    }
  }
  await turn();
  const all = [...present, ...gone];
  for (const v of all) v.end();
  return { all, first: present[0]! };
}

describe('viewers sharing a gzip context', () => {
  it.each([1, 2, 3, 4])('each decodes to what a plain viewer got, whatever the interleaving (seed %i)', async (seed) => {
    const { all } = await play(seed, { join: 0.04, leave: 0.02, heartbeat: 0.05, own: 0.05 });
    for (const v of all) expect(zlib.gunzipSync(v.gzipped()).toString('utf8')).toBe(v.plain().toString('utf8'));
  });

  it('a viewer that watches a whole build pays a fraction of what its messages cost compressed one by one', async () => {
    // A heartbeat for everyone every ~100 messages, a viewer arriving every ~50, rarely a message of one's own.
    const { all, first } = await play(7, { join: 0.02, leave: 0.01, heartbeat: 0.01, own: 0.002 });
    for (const v of all) expect(zlib.gunzipSync(v.gzipped()).toString('utf8')).toBe(v.plain().toString('utf8'));
    const alone = first.plain().toString('utf8').split('\n\n').reduce((n, m) => n + zlib.deflateRawSync(`${m}\n\n`).length, 0);
    expect(first.gzipped().length).toBeLessThan(alone / 2);
  });
});
