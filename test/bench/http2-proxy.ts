// `npx tsx test/bench/http2-proxy.ts` (issue 18, scale-out): the README's scale-out layout on one machine — two web
// processes on one PostgreSQL and one Redis, Caddy in front (deploy/Caddyfile: HTTP/2 + TLS from its internal CA).
// A browser opens at most six HTTP/1.1 connections per host; over HTTP/2 every build tab shares one. So:
//  (1) 100 SSE streams (one per container) over ONE HTTP/2 connection (node:http2, trusting only Caddy's root
//      certificate) through Caddy to the two web processes; every stream must get every line, in order, and both
//      web processes must carry streams;
//  (2) at the same time, 100 more streams straight to the web processes (HTTP/1.1, one connection each, half on
//      each), so both sides see the same machine load;
//  H2_LINES (50) lines per container at H2_RATE (2) lines/s each; the difference of the line → viewer latencies of
//  (1) and (2) is what the proxy adds. Lines carry `t=<ms>` stamped by the writer,
//  which runs in this process (same clock). Needs `caddy` on PATH (Debian: apt-get install caddy).
// Writes bench-results/http2-proxy.json (or the path given).
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { insertContainer, insertNode, recorderFor } from '../support/fixtures.ts';
import { ensureUser, signIn } from '../support/http-session.ts';
import { connectSse } from '../support/sse-client.ts';
import { startCaddy, sseDataParser, type Caddy } from '../support/caddy.ts';
import { startChild, type BenchChild } from './bench-child.ts';
import { createBenchEnv } from './bench-env.ts';
import { nowMs, sleep, summarize, waitUntil } from './stats.ts';

const STREAMS = Number(process.env.H2_STREAMS ?? 100);
const LINES = Number(process.env.H2_LINES ?? 50);
const RATE_PER_STREAM = Number(process.env.H2_RATE ?? 2);
const here = path.dirname(fileURLToPath(import.meta.url));
const log = (m: string) => process.stderr.write(`[http2-proxy] ${m}\n`);
const STAMP = / t=(\d+(?:\.\d+)?) n=(\d+)/g;

/** What one viewer saw: the line numbers in arrival order and each line's latency. */
interface Seen {
  numbers: number[];
  latencies: number[];
}

function onLines(seen: Seen, data: string, at: number) {
  for (const m of data.matchAll(STAMP)) {
    seen.latencies.push(at - Number(m[1]));
    seen.numbers.push(Number(m[2]));
  }
}

/** Writes LINES lines to every container at RATE_PER_STREAM lines/s each, the way a worker's recorder does. */
async function produce(env: Awaited<ReturnType<typeof createBenchEnv>>, containerIds: string[]) {
  const recorders = containerIds.map((id) => recorderFor(env.deps, id));
  for (let n = 1; n <= LINES; n++) {
    const tick = nowMs();
    for (const r of recorders) r.log('stdout', `line t=${nowMs().toFixed(2)} n=${n}`);
    await sleep(Math.max(0, 1000 / RATE_PER_STREAM - (nowMs() - tick)));
  }
  await Promise.all(recorders.map((r) => r.close()));
}

function verdict(seen: Seen[]) {
  const complete = seen.filter((s) => s.numbers.length === LINES && s.numbers.every((n, i) => n === i + 1)).length;
  return { streams: seen.length, complete, linesReceived: seen.reduce((a, s) => a + s.numbers.length, 0), linesExpected: seen.length * LINES, latencyMs: summarize(seen.flatMap((s) => s.latencies)) };
}

async function main() {
  const out = process.argv[2] ?? 'bench-results/http2-proxy.json';
  const env = await createBenchEnv();
  const webs: BenchChild<{ port: number }>[] = [];
  let caddy: Caddy | undefined;
  try {
    const childEnv = { ...env.childEnv, TRUST_PROXY: '1' };
    webs.push(...(await Promise.all(['web-1', 'web-2'].map((name) => startChild<{ port: number }>(name, path.join(here, 'bench-web.ts'), { env: childEnv })))));
    const password = randomBytes(12).toString('hex');
    const owner = await ensureUser(env.deps, 'bench', password, 'admin');
    const node = await insertNode(env.deps, 'bench-h2');
    const { cookie } = await signIn(`http://127.0.0.1:${webs[0]!.info.port}`, 'bench', password);
    const viewers = async () => (await Promise.all(webs.map((w) => w.call<number>('viewers')))) as number[];

    caddy = await startCaddy(webs.map((w) => `127.0.0.1:${w.info.port}`));
    const { port, ca } = caddy;
    log(`caddy ${port} → web ${webs.map((w) => w.info.port).join(', ')}`);

    // Both at once, each on its own 100 containers: on a shared machine the load drifts from one minute to the
    // next, so measuring one after the other would compare two different machines.
    const proxied = await Promise.all(Array.from({ length: STREAMS }, (_, i) => insertContainer(env.deps, owner.id, node.id, `h2-${i}`)));
    const straight = await Promise.all(Array.from({ length: STREAMS }, (_, i) => insertContainer(env.deps, owner.id, node.id, `h1-${i}`)));

    // (1) through Caddy, one HTTP/2 connection.
    const session = http2.connect(`https://localhost:${port}`, { ca });
    let sockets = 0;
    session.on('connect', () => sockets++);
    const proxySeen: Seen[] = proxied.map(() => ({ numbers: [], latencies: [] }));
    const streams = proxied.map((c, i) => {
      const req = session.request({ ':path': `/containers/${c.id}/events`, cookie, accept: 'text/event-stream' });
      req.setEncoding('utf8');
      req.on('data', sseDataParser((data) => onLines(proxySeen[i]!, data, nowMs())));
      req.on('error', (err) => log(`stream ${i}: ${err.message}`));
      return req;
    });
    await waitUntil(async () => (await viewers()).reduce((a, b) => a + b, 0) >= STREAMS, 30_000, 100);
    const proxyPerWeb = await viewers();

    // (2) straight to the two web processes, HTTP/1.1, one connection per stream, half on each.
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    const directSeen: Seen[] = straight.map(() => ({ numbers: [], latencies: [] }));
    const conns = await Promise.all(
      straight.map(async (c, i) => {
        const conn = await connectSse(`http://127.0.0.1:${webs[i % 2]!.info.port}/containers/${c.id}/events`, { cookie, agent });
        conn.onEvent = (e) => {
          conn.events.length = 0;
          onLines(directSeen[i]!, e.data, nowMs());
        };
        return conn;
      }),
    );
    await waitUntil(async () => (await viewers()).reduce((a, b) => a + b, 0) >= 2 * STREAMS, 30_000, 100);

    await produce(env, [...proxied, ...straight].map((c) => c.id));
    await waitUntil(() => [...proxySeen, ...directSeen].every((s) => s.numbers.length >= LINES), 15_000, 20);
    for (const s of streams) s.close();
    session.close();
    for (const c of conns) c.close();
    agent.destroy();
    const viaProxy = { ...verdict(proxySeen), httpVersion: '2', tcpConnections: sockets, streamsPerWebProcess: proxyPerWeb };
    const direct = { ...verdict(directSeen), httpVersion: '1.1', tcpConnections: STREAMS, streamsPerWebProcess: [Math.ceil(STREAMS / 2), Math.floor(STREAMS / 2)] };
    log(`proxy ${JSON.stringify(viaProxy)}`);
    log(`direct ${JSON.stringify(direct)}`);

    const added = { p50: round(viaProxy.latencyMs.p50 - direct.latencyMs.p50), p99: round(viaProxy.latencyMs.p99 - direct.latencyMs.p99) };
    const result = { streams: STREAMS, linesPerStream: LINES, linesPerSecond: 2 * STREAMS * RATE_PER_STREAM, viaProxy, direct, proxyAddedMs: added, cores: os.cpus().length };
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    const ok = viaProxy.complete === STREAMS && direct.complete === STREAMS && viaProxy.streamsPerWebProcess.every((n) => n > 0);
    console.log(
      [
        `${STREAMS} SSE streams × ${LINES} lines (${2 * STREAMS * RATE_PER_STREAM} lines/s in all)`,
        `through Caddy, HTTP/2 over ${viaProxy.tcpConnections} connection: ${viaProxy.complete}/${STREAMS} streams complete, streams per web process ${viaProxy.streamsPerWebProcess.join(' / ')}, line → viewer p50 ${round(viaProxy.latencyMs.p50)} ms, p99 ${round(viaProxy.latencyMs.p99)} ms`,
        `direct, HTTP/1.1 over ${STREAMS} connections: ${direct.complete}/${STREAMS} complete, p50 ${round(direct.latencyMs.p50)} ms, p99 ${round(direct.latencyMs.p99)} ms`,
        `the proxy adds p50 ${added.p50} ms, p99 ${added.p99} ms — ${ok ? 'every stream got every line ✔' : 'LINES MISSING ✘'}`,
      ].join('\n'),
    );
    process.exitCode = ok ? 0 : 1;
  } finally {
    await caddy?.close();
    await Promise.all(webs.map((w) => w.stop()));
    await env.close();
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

await main();
