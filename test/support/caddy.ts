// Caddy in front of web processes with the shipped deploy/Caddyfile (HTTP/2 + TLS from its internal CA), for the
// scale-out test and the HTTP/2 bench; and a small SSE reader for node:http2 streams (test/support/sse-client.ts
// speaks HTTP/1.1 only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';

export const CADDYFILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/Caddyfile');

/** Whether `caddy` is on PATH (Debian: apt-get install caddy). */
export const haveCaddy = () => spawnSync('caddy', ['version'], { stdio: 'ignore' }).status === 0;

export interface Caddy {
  port: number;
  /** Caddy's internal root certificate: the only CA a client needs to trust. */
  ca: Buffer;
  process: ChildProcess;
  output(): string;
  close(): Promise<void>;
}

const until = async (check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`caddy: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** Runs deploy/Caddyfile on localhost:<free port> in front of `upstreams` (host:port), with its own data directory. */
export async function startCaddy(upstreams: string[]): Promise<Caddy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'launchpad-caddy-'));
  const port = await freePort();
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config'), LAUNCHPAD_SITE: `localhost:${port}`, LAUNCHPAD_UPSTREAMS: upstreams.join(' ') };
  const child = spawn('caddy', ['run', '--config', CADDYFILE, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-6000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  child.once('error', (err) => ((exited = true), (output += `\n${err.message}`)));
  child.once('exit', () => (exited = true));
  const close = async () => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const root = path.join(dir, 'data/caddy/pki/authorities/local/root.crt');
    await until(() => exited || existsSync(root), 30_000, () => `no root certificate:\n${output}`);
    if (exited) throw new Error(`caddy exited:\n${output}`);
    const ca = await readFile(root);
    // The site's certificate is issued just after the CA: a TLS handshake that succeeds is the real "ready".
    const handshake = () =>
      new Promise<boolean>((resolve) => {
        const s = http2.connect(`https://localhost:${port}`, { ca });
        s.once('connect', () => (s.close(), resolve(true)));
        s.once('error', () => resolve(false));
      });
    await until(handshake, 30_000, () => `no TLS handshake:\n${output}`);
    return { port, ca, process: child, output: () => output, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Feeds text chunks of an event stream; calls `onData` with each event's data (the spec's `data:` field rules). */
export function sseDataParser(onData: (data: string) => void): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer[end] === '\r' ? 4 : 2));
      const data = block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(l[5] === ' ' ? 6 : 5));
      if (data.length) onData(data.join('\n'));
    }
  };
}
