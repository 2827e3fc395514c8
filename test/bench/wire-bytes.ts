// `npx tsx test/bench/wire-bytes.ts`: what crosses the wire (issue 21). Starts Launchpad's web app on 127.0.0.1 over
// a throwaway database, and measures:
//  (1) a finished build's page with a 1,000-line log, cold cache: every byte transferred (page + assets);
//  (2) the same page again: what a repeat visit fetches;
//  (3) the SSE stream of a whole build (a static-web-like build: five phases, 61 lines), as transferred, against
//      its log.txt gzip'd, and the bytes per log line; also for a 1,000-line build; and the floor of any stream
//      flushed per message: the same lines with no markup, grouped and flushed as the stream was (flushedFloor);
//  (5) an open page of a running CT: what each usage update (every USAGE_POLL_MS, 5 s by default) costs on the
//      wire once the 15-minute sparklines are full — the panel the stream sends, rendered by the real fragments
//      from 50 minutes of simulated polls, compressed as a group's chain compresses it (one context, a partial flush
//      per message; a talking stream gets no heartbeat to interrupt the chain);
//  (4) in Chromium with network emulation (256 kbit/s, 300 ms RTT, DevTools protocol): navigation → first log line
//      visible, and → the page finished (load event), for a first and a repeat visit, with the bytes Chromium counted.
// Run it on any tree (the figures "before" came from this same script on the commit before issue 21).
// Writes bench-results/wire-bytes.json (or the path given); WIRE_DUMP=/tmp/x also writes each decoded stream there.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import { Deflate, Z_FINISH, Z_PARTIAL_FLUSH } from 'pako';
import { createApp } from '../../src/app.ts';
import { createContainerFragments } from '../../src/http/container-fragments.ts';
import { appendPoint, pointOf, usageView, type UsagePoint, type UsageSample } from '../../src/domain/usage/usage.ts';
import { encodeEvent } from '../../src/http/sse.ts';
import { createViews } from '../../src/views.ts';
import { insertContainer, insertNode, recorderFor } from '../support/fixtures.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { launchBrowser } from '../support/browser.ts';
import { createBenchEnv } from './bench-env.ts';

const BROWSER_ACCEPT = 'gzip, deflate, br, zstd';
const log = (m: string) => process.stderr.write(`[wire-bytes] ${m}\n`);

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Status line + headers + body as they crossed the wire (headers approximated from rawHeaders). */
  bytes: number;
  body: Buffer;
}

function get(url: string, headers: Record<string, string>): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const wire = Buffer.concat(chunks);
          let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
          for (let i = 0; i < res.rawHeaders.length; i += 2) head += res.rawHeaders[i]!.length + res.rawHeaders[i + 1]!.length + 4;
          const enc = res.headers['content-encoding'];
          const body = enc === 'br' ? zlib.brotliDecompressSync(wire) : enc === 'gzip' ? zlib.gunzipSync(wire) : wire;
          resolve({ status: res.statusCode!, headers: res.headers, bytes: head + wire.length, body });
        });
      })
      .on('error', reject);
  });
}

// Real output when the machine has it: Debian's apt terminal log (what a template's apt-get install prints);
// otherwise apt-like lines. Every 20th line goes to stderr with a colour, as warnings do.
const SOURCE = (() => {
  try {
    const lines = readFileSync('/var/log/apt/term.log', 'utf8').split('\n').map((l) => l.replace(/\r/g, '')).filter((l) => l && !l.startsWith('Log '));
    if (lines.length >= 1000) return { name: '/var/log/apt/term.log', lines };
  } catch {
    // not readable: fall back below
  }
  return { name: 'synthetic apt-like lines', lines: Array.from({ length: 1000 }, (_, i) => `Get:${i} http://deb.debian.org/debian bookworm/main amd64 package-${i} 1.${i % 13}.${i % 7}-1 [${((i * 7919) % 900) + 12} kB]`) };
})();
function buildLines(count: number): Array<[stream: 'stdout' | 'stderr' | 'task' | 'system', text: string]> {
  return Array.from({ length: count }, (_, i) => {
    const text = SOURCE.lines[(i * 3) % SOURCE.lines.length]!;
    return i % 20 === 19 ? ['stderr', `\x1b[33mwarning:\x1b[0m ${text}`] : ['stdout', text];
  });
}

/** Plays a whole build through the recorder (as the worker does), lines spaced so batches look like a real build. */
async function playBuild(env: Awaited<ReturnType<typeof createBenchEnv>>, containerId: string, lines: number, gapMs: number) {
  const rec = recorderFor(env.deps, containerId);
  const all = buildLines(lines);
  const phases = [
    ['creating', 'Creating CT 105 from debian-12-standard…'],
    ['starting', 'Waiting for an IPv4 address (DHCP)…'],
    ['deploying', 'Deploying 3 files…'],
    ['syncing', 'Running scripts…'],
    ['finalizing', 'Checking services…'],
  ] as const;
  const per = Math.ceil(all.length / phases.length);
  for (const [i, [key, status]] of phases.entries()) {
    await rec.enterPhase(key, status);
    const mine = all.slice(i * per, (i + 1) * per);
    for (const [j, [stream, text]] of mine.entries()) {
      rec.log(stream, text);
      // Two progress sentences per phase, as the pipeline's steps say "Pushing /etc/…", "Running 10-setup.sh…".
      if (j === Math.floor(mine.length / 3) || j === Math.floor((2 * mine.length) / 3)) await rec.advance(j / mine.length, `${status.replace('…', '')} (${j}/${mine.length})`);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
  }
  await rec.complete({ status: 'Ready', ip: '10.10.0.9' });
  await rec.flush();
}

/**
 * Each message's bytes compressed the way a group's chain compresses live messages (src/http/gzip-chain.ts): one raw
 * deflate context, level 9, a partial flush after each message; and what finishing the stream adds.
 */
function flushedSizes(messages: Iterable<string>): { sizes: number[]; end: number } {
  const deflate = new Deflate({ raw: true, level: 9 });
  let bytes = 0;
  deflate.onData = (chunk) => (bytes += chunk.length);
  const sizes: number[] = [];
  for (const message of messages) {
    const before = bytes;
    deflate.push(message, Z_PARTIAL_FLUSH);
    sizes.push(bytes - before);
  }
  const before = bytes;
  deflate.push('', Z_FINISH);
  return { sizes, end: bytes - before };
}

/**
 * The least any stream flushed after every message could carry for these lines: the log.txt lines alone, no markup,
 * no SSE framing, no stepper, grouped into messages as the stream grouped them and compressed the way the stream is
 * (flushedSizes; gzip's header and trailer). A flush ends a deflate block, and a block of a few dozen bytes is coded
 * with deflate's fixed codes rather than codes fitted to the text, so this is more than log.txt gzip'd whole — by how
 * much is what a flush per message costs by itself.
 */
function flushedFloor(streamText: string, logTxt: string): number {
  const lines = logTxt.split('\n');
  const groups: string[] = [];
  let next = 0;
  for (const message of streamText.split('\n\n')) {
    const count = (message.match(/<li[^>]* data-t="/g) ?? []).length;
    if (count === 0) continue;
    groups.push(lines.slice(next, next + count).map((l) => `${l}\n`).join(''));
    next += count;
  }
  const { sizes, end } = flushedSizes(groups);
  return 10 + 8 + sizes.reduce((n, size) => n + size, 0) + end; // gzip header and trailer
}

/** (5): the usage stream's message at every 5 s poll for 50 minutes; bytes per poll over the last 40 minutes. */
function usageUpdateBytes(): { perPoll: number; rawPerPoll: number; perHourKB: number } {
  const fragments = createContainerFragments(createViews({ cache: true, asset: (name) => `/static/${name}` }), { heartbeatMs: 15_000 });
  const STEP = 5_000;
  const WARM_UP = 120; // 10 minutes: the sparklines are nearly full
  const start = Date.parse('2026-11-29T12:00:00Z');
  let series: UsagePoint[] = [];
  let cpu = 0.1;
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const messages: Buffer[] = [];
  for (let i = 0; i < 600; i++) {
    const now = start + i * STEP;
    cpu = Math.max(0, Math.min(1, cpu + (random() - 0.5) * 0.04));
    const sample: UsageSample = {
      at: now, status: 'running', cpu, cores: 2, mem: (0.3 + random() * 0.01) * 512 * 2 ** 20, maxmem: 512 * 2 ** 20, swap: 0, maxswap: 512 * 2 ** 20,
      disk: 1.2 * 2 ** 30, maxdisk: 4 * 2 ** 30, uptime: 3_600 + i * 5, netinRate: 1_000 + random() * 500, netoutRate: 400 + random() * 100, netin: 0, netout: 0, stoppedSince: null,
    };
    series = appendPoint(series, pointOf(sample));
    const html = fragments.usageUpdate(usageView({ series, sample }, now), { state: 'running', uptime: sample.uptime }, '00000000-0000-4000-8000-000000000000');
    messages.push(encodeEvent(0, 'usage', html));
  }
  const measured = flushedSizes(messages.map((m) => m.toString())).sizes.slice(WARM_UP);
  const perPoll = measured.reduce((n, size) => n + size, 0) / measured.length;
  const rawPerPoll = messages.slice(WARM_UP).reduce((n, m) => n + m.length, 0) / measured.length;
  return { perPoll: Math.round(perPoll), rawPerPoll: Math.round(rawPerPoll), perHourKB: Math.round((perPoll * 720) / 1024) };
}

/** The stream's body bytes (as the server encoded them), and everything its connection read: head, framing, body. */
async function streamBytes(url: string, cookie: string, acceptEncoding: string, dumpAs: string, whileOpen: () => Promise<void>): Promise<{ bytes: number; socketBytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    // A connection of its own (agent: false), so what its socket read is this response and nothing else.
    const req = http.get(url, { agent: false, headers: { Cookie: cookie, Accept: 'text/event-stream', ...(acceptEncoding ? { 'Accept-Encoding': acceptEncoding } : {}) } }, (res) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => ((bytes += c.length), chunks.push(c)));
      res.on('end', () => {
        const wire = Buffer.concat(chunks);
        const enc = res.headers['content-encoding'];
        const text = (enc === 'br' ? zlib.brotliDecompressSync(wire, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }) : enc === 'gzip' ? zlib.gunzipSync(wire, { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : wire).toString();
        if (process.env.WIRE_DUMP) writeFileSync(`${process.env.WIRE_DUMP}-${dumpAs}.txt`, text);
        resolve({ bytes, socketBytes: res.socket.bytesRead, text });
      });
      void whileOpen().catch(reject);
    });
    req.on('error', reject);
  });
}

async function main() {
  const env = await createBenchEnv();
  const server = await listen(createApp(env.deps));
  const results: Record<string, unknown> = {};
  try {
    const password = randomBytes(12).toString('hex');
    const owner = await ensureUser(env.deps, 'wire', password, 'admin');
    const nodeId = (await insertNode(env.deps, 'pve-wire')).id;
    const { cookie } = await signIn(server.baseUrl, 'wire', password);
    const base = server.baseUrl;

    // (1) and (2): a finished build with a 1,000-line log.
    const finished = await insertContainer(env.deps, owner.id, nodeId, 'wire-1000');
    await playBuild(env, finished.id, 1000, 0);
    const page = await get(`${base}/containers/${finished.id}`, { Cookie: cookie, 'Accept-Encoding': BROWSER_ACCEPT });
    const html = page.body.toString();
    if (process.env.WIRE_DUMP) writeFileSync(`${process.env.WIRE_DUMP}-page.html`, html);
    const assetUrls = [...html.matchAll(/<(?:link rel="stylesheet" href|script src)="([^"]+)"/g)].map((m) => m[1]!);
    const assets = await Promise.all(assetUrls.map((u) => get(`${base}${u}`, { 'Accept-Encoding': BROWSER_ACCEPT })));
    const plainPage = await get(`${base}/containers/${finished.id}`, { Cookie: cookie });
    const plainAssets = await Promise.all(assetUrls.map((u) => get(`${base}${u}`, {})));
    const logTxt = await get(`${base}/containers/${finished.id}/log.txt`, { Cookie: cookie });
    const immutable = assets.every((a) => /immutable/.test(String(a.headers['cache-control'])));
    // A repeat visit: assets cached as immutable are not requested; otherwise each is revalidated (304).
    const revalidations = immutable ? [] : await Promise.all(assetUrls.map((u, i) => get(`${base}${u}`, { 'Accept-Encoding': BROWSER_ACCEPT, ...(assets[i]!.headers.etag ? { 'If-None-Match': String(assets[i]!.headers.etag) } : {}) })));
    results.firstVisit = {
      htmlBytes: page.bytes,
      htmlBytesUncompressed: plainPage.bytes,
      assetBytes: assets.reduce((s, a) => s + a.bytes, 0),
      assetBytesUncompressed: plainAssets.reduce((s, a) => s + a.bytes, 0),
      totalBytes: page.bytes + assets.reduce((s, a) => s + a.bytes, 0),
      requests: 1 + assets.length,
      assetCacheControl: assets.map((a) => a.headers['cache-control']),
    };
    results.repeatVisit = { requests: 1 + revalidations.length, totalBytes: page.bytes + revalidations.reduce((s, a) => s + a.bytes, 0) };
    results.logSource = SOURCE.name;
    results.logTxt = { lines: 1000, bytes: logTxt.body.length, gzipBytes: zlib.gzipSync(logTxt.body).length };
    log(`first visit ${results.firstVisit && JSON.stringify(results.firstVisit)}`);

    // (3): the stream of whole builds, watched from the start.
    const streams: Record<string, unknown> = {};
    for (const lines of [61, 1000]) {
      for (const [label, accept] of [['browser', BROWSER_ACCEPT], ['gzip', 'gzip'], ['none', '']] as const) {
        const c = await insertContainer(env.deps, owner.id, nodeId, `wire-${lines}-${label}`);
        const { bytes, socketBytes, text } = await streamBytes(`${base}/containers/${c.id}/events`, cookie, accept, `${lines}-${label}`, async () => {
          await new Promise((r) => setTimeout(r, 200));
          await playBuild(env, c.id, lines, lines > 100 ? 2 : 25);
        });
        const txt = await get(`${base}/containers/${c.id}/log.txt`, { Cookie: cookie });
        const got = (text.match(/<li[^>]* data-t="/g) ?? []).length;
        if (got !== lines) throw new Error(`the ${label} stream of ${lines} lines carried ${got}`);
        const gz = zlib.gzipSync(txt.body).length;
        const messages = (text.match(/^event: (?:log|progress)$/gm) ?? []).length;
        const floor = flushedFloor(text, txt.body.toString());
        streams[`${lines}/${label}`] = {
          bytes,
          // With the status line, the headers and any transfer-coding (chunk sizes and CRLFs) around the body.
          socketBytes,
          perLine: +(bytes / lines).toFixed(1),
          messages,
          logTxtBytes: txt.body.length,
          logTxtGzipBytes: gz,
          ratioToGzipLog: +(bytes / gz).toFixed(2),
          socketRatioToGzipLog: +(socketBytes / gz).toFixed(2),
          // The log's lines alone, flushed as this stream was (see flushedFloor): what no markup could go below.
          linesAloneFlushedBytes: floor,
          linesAloneFlushedRatio: +(floor / gz).toFixed(2),
        };
        log(`stream ${lines} lines ${label}: ${JSON.stringify(streams[`${lines}/${label}`])}`);
      }
    }
    results.stream = streams;

    results.usageUpdates = usageUpdateBytes();
    log(`usage updates ${JSON.stringify(results.usageUpdates)}`);

    // (4): Chromium at 256 kbit/s, 300 ms RTT.
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext();
      const url = new URL(base);
      const [name, value] = cookie.split('=') as [string, string];
      await context.addCookies([{ name, value, domain: url.hostname, path: '/', httpOnly: true }]);
      // Each visit in a new tab of the same profile: the repeat visit shares the HTTP cache, not the tab's memory.
      const visit = async () => {
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 300, downloadThroughput: 256_000 / 8, uploadThroughput: 256_000 / 8 });
        let transferred = 0;
        const responses: Array<{ path: string; status: number; cached: boolean }> = [];
        cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => (transferred += e.encodedDataLength));
        cdp.on('Network.responseReceived', (e: { response: { url: string; status: number; fromDiskCache?: boolean; fromPrefetchCache?: boolean } }) =>
          responses.push({ path: new URL(e.response.url).pathname, status: e.response.status, cached: Boolean(e.response.fromDiskCache || e.response.fromPrefetchCache) }),
        );
        const started = performance.now();
        let firstLine = 0;
        const firstLineSeen = page.waitForSelector('#log-lines [id^="L"]', { state: 'visible', timeout: 120_000 }).then(() => (firstLine = performance.now() - started));
        await page.goto(`${base}/containers/${finished.id}`, { waitUntil: 'load', timeout: 180_000 });
        const loaded = performance.now() - started;
        await firstLineSeen;
        await new Promise((r) => setTimeout(r, 500));
        await page.close();
        const overNetwork = responses.filter((r) => !r.cached);
        return {
          firstLineMs: Math.round(firstLine),
          loadMs: Math.round(loaded),
          transferredBytes: transferred,
          requestsOverNetwork: overNetwork.length,
          fromCache: responses.length - overNetwork.length,
          network: overNetwork.map((r) => `${r.status} ${r.path}`),
        };
      };
      const first = await visit();
      const repeat = await visit();
      results.browser = { network: '256 kbit/s, 300 ms RTT', first, repeat };
      log(`browser ${JSON.stringify(results.browser)}`);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
    await env.close();
  }
  const out = path.resolve(process.argv[2] ?? 'bench-results/wire-bytes.json');
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify({ generatedAt: new Date().toISOString(), ...results }, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    log(err.stack ?? err.message);
    process.exit(1);
  },
);
