// Issue 21: every byte on the wire earns its place — negotiated compression of every kind of response, hashed
// immutable assets, an SSE stream compressed without delaying a message, and progress events carrying changes only.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { ASSETS, hashAssets } from '../src/build/hash-assets.ts';
import type { User } from '../src/db/users-repository.ts';
import { insertContainer, insertNode, lineHtmlIn, recorderFor } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let owner: User;
let cookie: string;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv({ SSE_HEARTBEAT_MS: '20000' });
  server = await listen(createApp(env.deps));
  owner = await ensureUser(env.deps, 'wire', 'wire-password');
  cookie = (await signIn(server.baseUrl, 'wire', 'wire-password')).cookie;
  nodeId = (await insertNode(env.deps)).id;
});
afterAll(async () => {
  await server.close();
  await env.close();
});

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The bytes as they crossed the wire. */
  wire: Buffer;
  /** The body after undoing Content-Encoding. */
  text: string;
}

function decode(encoding: string | undefined, wire: Buffer): Buffer {
  if (encoding === 'br') return zlib.brotliDecompressSync(wire);
  if (encoding === 'gzip') return zlib.gunzipSync(wire);
  return wire;
}

function rawGet(baseUrl: string, pathname: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    http
      .get(`${baseUrl}${pathname}`, { headers: { Cookie: cookie, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const wire = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, wire, text: decode(res.headers['content-encoding'], wire).toString('utf8') });
        });
      })
      .on('error', reject);
  });
}

async function finishedBuild(lines: number) {
  const c = await insertContainer(env.deps, owner.id, nodeId);
  const rec = recorderFor(env.deps, c.id);
  await rec.enterPhase('creating', 'Creating CT');
  for (let i = 1; i <= lines; i++) rec.log(i % 9 === 0 ? 'stderr' : 'stdout', `step ${i}: \x1b[32mok\x1b[0m unpacking package-${i % 40}.deb`);
  await rec.complete({ status: 'Ready', ip: '10.10.0.9' });
  return c;
}

describe('compression, negotiated', () => {
  it('sends pages, fragments, log.txt and assets as br when offered, gzip when only that is, and plain when neither', async () => {
    const c = await finishedBuild(300);
    for (let i = 0; i < 12; i++) await insertContainer(env.deps, owner.id, nodeId);
    const page = await rawGet(server.baseUrl, `/containers/${c.id}`);
    const css = /<link rel="stylesheet" href="([^"]+)"/.exec(page.text)![1]!;
    const js = /<script src="([^"]+live-progress[^"]+)"/.exec(page.text)![1]!;
    const targets: Array<[what: string, path: string, headers: Record<string, string>, type: RegExp]> = [
      ['page', `/containers/${c.id}`, {}, /^text\/html/],
      ['fragment', '/containers', { 'HX-Request': 'true', 'HX-Target': 'container-rows' }, /^text\/html/],
      ['log.txt', `/containers/${c.id}/log.txt`, {}, /^text\/plain/],
      ['stylesheet', css, {}, /^text\/css/],
      ['script', js, {}, /^text\/javascript/],
    ];
    for (const [what, pathname, headers, type] of targets) {
      const plain = await rawGet(server.baseUrl, pathname, headers);
      expect(plain.status, what).toBe(200);
      expect(plain.headers['content-type'], what).toMatch(type);
      expect(plain.headers['content-encoding'], what).toBeUndefined();
      expect(plain.headers.vary ?? '', what).toMatch(/Accept-Encoding/i);
      expect(plain.wire.length, what).toBeGreaterThan(1024);
      for (const [offered, expected] of [['gzip, deflate, br, zstd', 'br'], ['gzip, deflate', 'gzip'], ['br;q=0, gzip', 'gzip'], ['identity', undefined]] as const) {
        const packed = await rawGet(server.baseUrl, pathname, { ...headers, 'Accept-Encoding': offered });
        expect(packed.headers['content-encoding'], `${what} for ${offered}`).toBe(expected);
        expect(packed.text, `${what} for ${offered}`).toBe(plain.text);
        if (expected) expect(packed.wire.length, `${what} for ${offered}`).toBeLessThan(plain.wire.length / 2);
      }
    }
    const txt = await rawGet(server.baseUrl, `/containers/${c.id}/log.txt`);
    expect(txt.text.split('\n')).toHaveLength(301);
  });
});

describe('hashed assets', () => {
  it('serves every asset the layout references under a content hash, immutable, precompressed, 304 on revalidation', async () => {
    // The list loads Alpine and app.js; a container page loads the plain log viewer instead. Together: every asset.
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const referenced = async (pathname: string) => [...(await rawGet(server.baseUrl, pathname)).text.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map((m) => m[1]!);
    const list = await referenced('/containers');
    const containerPage = await referenced(`/containers/${c.id}`);
    expect(list.some((u) => u.includes('alpine'))).toBe(true);
    expect(containerPage.some((u) => u.includes('alpine') || /\/app\.[0-9a-f]{12}\.js$/.test(u))).toBe(false);
    const urls = [...new Set([...list, ...containerPage])];
    expect(urls).toHaveLength(ASSETS.length);
    for (const url of urls) {
      expect(url).toMatch(/^\/static\/assets\/[\w.-]+\.[0-9a-f]{12}\.(css|js|svg)$/);
      const res = await rawGet(server.baseUrl, url, { 'Accept-Encoding': 'br' });
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-encoding']).toBe('br');
      // Precompressed at build time: the very bytes of the .br file the build wrote.
      const file = path.join('public/assets', path.basename(url));
      expect(res.wire.equals(readFileSync(`${file}.br`))).toBe(true);
      expect(res.text).toBe(readFileSync(file, 'utf8'));
      const again = await rawGet(server.baseUrl, url, { 'If-None-Match': res.headers.etag! });
      expect(again.status).toBe(304);
      expect(again.wire.length).toBe(0);
    }
  });

  it('after a rebuild, pages name the new file and the old hashed name is gone (404), never served with new content', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'launchpad-assets-'));
    try {
      for (const name of ASSETS) cpSync(path.join('public', name), path.join(dir, name));
      hashAssets(dir);
      const before = await listen(createApp({ ...env.deps, publicDir: dir }));
      const oldUrl = /<link rel="stylesheet" href="([^"]+)"/.exec((await rawGet(before.baseUrl, '/containers')).text)![1]!;
      expect((await rawGet(before.baseUrl, oldUrl)).text).not.toContain('.rebuilt-marker');
      await before.close();

      writeFileSync(path.join(dir, 'css/app.css'), `${readFileSync(path.join(dir, 'css/app.css'), 'utf8')}\n.rebuilt-marker{color:red}`);
      hashAssets(dir);
      const after = await listen(createApp({ ...env.deps, publicDir: dir }));
      try {
        const newUrl = /<link rel="stylesheet" href="([^"]+)"/.exec((await rawGet(after.baseUrl, '/containers')).text)![1]!;
        expect(newUrl).not.toBe(oldUrl);
        const fresh = await rawGet(after.baseUrl, newUrl, { 'Accept-Encoding': 'gzip' });
        expect(fresh.headers['content-encoding']).toBe('gzip');
        expect(fresh.text).toContain('.rebuilt-marker');
        expect((await rawGet(after.baseUrl, oldUrl)).status).toBe(404);
      } finally {
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** An SSE stream read through its Content-Encoding, decoded as it arrives. */
function openDecodedStream(url: string, acceptEncoding: string) {
  let text = '';
  const waiters: Array<() => void> = [];
  let response: http.IncomingMessage | undefined;
  const req = http.get(url, { headers: { Cookie: cookie, Accept: 'text/event-stream', 'Accept-Encoding': acceptEncoding } });
  const opened = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      response = res;
      const encoding = res.headers['content-encoding'];
      const decoder = encoding === 'br' ? zlib.createBrotliDecompress() : encoding === 'gzip' ? zlib.createGunzip() : undefined;
      const source = decoder ? res.pipe(decoder) : res;
      source.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        for (const w of waiters.splice(0)) w();
      });
      source.on('error', () => {});
      resolve(res);
    });
    req.on('error', reject);
  });
  return {
    opened,
    get text() {
      return text;
    },
    get headers() {
      return response?.headers;
    },
    /** Resolves with the ms it took once `predicate(text)` holds; rejects after timeoutMs. */
    async until(predicate: (text: string) => boolean, timeoutMs: number): Promise<number> {
      const started = performance.now();
      while (!predicate(text)) {
        const left = timeoutMs - (performance.now() - started);
        if (left <= 0) throw new Error(`not within ${timeoutMs} ms; received so far:\n${text.slice(-600)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
      return performance.now() - started;
    },
    close: () => req.destroy(),
  };
}

describe('the SSE stream, compressed', () => {
  // gzip even when br is offered (streamEncoding says why); br for a client that offers only br.
  it.each([['gzip', 'gzip, deflate, br, zstd'], ['gzip', 'gzip'], ['br', 'br']])('as %s (offered: %s), delivers a single line on a quiet stream at once', async (encoding, offered) => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    const stream = openDecodedStream(`${server.baseUrl}/containers/${c.id}/events`, offered);
    try {
      await stream.opened;
      expect(stream.headers?.['content-encoding']).toBe(encoding);
      expect(stream.headers?.['content-type']).toMatch(/^text\/event-stream/);
      await stream.until((t) => t.includes('event: live'), 5_000);
      // One line, then nothing: it must arrive without waiting for more output (heartbeats are 20 s apart here).
      rec.log('stdout', 'the only line for a while');
      await rec.flush();
      const ms = await stream.until((t) => t.includes('the only line for a while'), 2_000);
      expect(ms).toBeLessThan(1_000);
      expect(stream.text).toMatch(/^retry: \d+\n\n/);
      expect(lineHtmlIn(stream.text)).toEqual(['the only line for a while']);
    } finally {
      stream.close();
    }
  });
});

describe('progress events carry only what changed', () => {
  it('a new phase sends the summary and the two rows that changed; a log line sends no stepper at all', async () => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    rec.log('stdout', 'first');
    await rec.flush();
    const latest = (await env.deps.repos.containers.findById(c.id))!;
    // The page rendered up to lastSeq; the stream continues from there.
    const stream = openDecodedStream(`${server.baseUrl}/containers/${c.id}/events?after=${latest.lastSeq}`, 'identity');
    try {
      await stream.until((t) => t.includes('event: live'), 5_000);
      let mark = stream.text.length;
      rec.log('stdout', 'second');
      await rec.flush();
      await stream.until((t) => t.includes('second'), 2_000);
      const logMessage = stream.text.slice(mark);
      expect(logMessage).not.toMatch(/id="(stepper|progress-summary|step-\w+)"/);

      mark = stream.text.length;
      await rec.enterPhase('starting', 'Waiting for an IPv4 address (DHCP)…');
      await stream.until((t) => t.slice(mark).includes('id="step-starting"'), 2_000);
      const stepMessage = stream.text.slice(mark);
      expect(stepMessage).not.toContain('id="stepper"');
      expect(stepMessage).toMatch(/<div id="progress-summary" hx-swap-oob="true">/);
      expect(stepMessage).toContain('Waiting for an IPv4 address (DHCP)…');
      expect([...stepMessage.matchAll(/<li id="step-(\w+)" data-state="(\w+)"[^>]*hx-swap-oob="true"/g)].map((m) => `${m[1]}:${m[2]}`)).toEqual(['creating:done', 'starting:active']);
    } finally {
      stream.close();
    }
  });

  it('a log line is its id, its time and its text (35 bytes of markup; it was about 250); numbering starts at the first line shown', async () => {
    const c = await insertContainer(env.deps, owner.id, nodeId);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    rec.log('stdout', 'x');
    rec.log('stderr', 'y');
    rec.log('stdout', 'z');
    await rec.flush();
    const page = await rawGet(server.baseUrl, `/containers/${c.id}`);
    expect(page.text).toMatch(/<ol id="log-lines"><li id="L1" data-t="\d\d:\d\d:\d\d">x<\/li>\n<li id="L2" data-t="\d\d:\d\d:\d\d" class="e">y<\/li>/);
    const row = /<li id="L1"[^]*?<\/li>/.exec(page.text)![0];
    expect(row.length - 1).toBeLessThanOrEqual(35);
    // A page that starts further down numbers its list from there.
    const later = await rawGet(server.baseUrl, `/containers/${c.id}?from=2`);
    expect(later.text).toMatch(/<ol id="log-lines" start="2"><li id="L2" /);
  });
});
