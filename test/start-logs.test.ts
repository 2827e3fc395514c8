// What `npm start` prints: in a terminal, readable lines (time, level, process, message) and each start-up warning
// once, although three processes (supervisor, web, worker) share the terminal; JSON lines when the output is not a
// terminal, or with LOG_FORMAT=json. The terminal is a real pseudo-terminal (util-linux `script`), stopped with ^C.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/free-port.ts';
import { cloneTestDatabase } from './support/test-deps.ts';

let db: Awaited<ReturnType<typeof cloneTestDatabase>>;
beforeAll(async () => {
  db = await cloneTestDatabase();
});
afterAll(() => db?.drop());

const START = `${process.execPath} --import tsx src/start.ts`;
// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

/** Runs the supervisor (in a pseudo-terminal or with plain pipes) until web and worker are up, then stops it like ^C. */
async function runStart(options: { tty: boolean; env?: Record<string, string> }): Promise<string[]> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: db.url,
    PORT: String(await freePort()),
    QUEUE_PREFIX: `test-start-${randomBytes(4).toString('hex')}`,
    PVE_SIMULATOR: 'off',
    LOG_LEVEL: 'info',
    SESSION_SECRET: undefined,
    ENCRYPTION_KEY: undefined,
    LOG_FORMAT: undefined,
    ...options.env,
  };
  const child = options.tty
    ? spawn('script', ['-qfec', START, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['--import', 'tsx', 'src/start.ts'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const deadline = Date.now() + 30_000;
    while (!(/console listening/.test(output) && /worker ready/.test(output)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output, 'web and worker started').toMatch(/worker ready/);
    expect(output).toMatch(/console listening/);
  } finally {
    // ^C: in the terminal the line discipline turns it into SIGINT for the whole foreground group.
    if (options.tty) child.stdin.write('\x03');
    else child.kill('SIGINT');
    const stopped = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
    if (!stopped) child.kill('SIGKILL');
  }
  return stripAnsi(output)
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter(Boolean);
}

const count = (lines: string[], text: string) => lines.filter((l) => l.includes(text)).length;

describe('npm start output', () => {
  it('in a terminal: readable lines, no JSON, each start-up warning once', async () => {
    const lines = await runStart({ tty: true });
    expect(lines.filter((l) => l.startsWith('{')), 'JSON lines in a terminal').toEqual([]);
    expect(count(lines, 'SESSION_SECRET is not set')).toBe(1);
    expect(count(lines, 'ENCRYPTION_KEY is not set')).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d WARN {2}launchpad SESSION_SECRET is not set: /));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d INFO {2}web {7}console listening on http:\/\/localhost:\d+ port=\d+$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d INFO {2}worker {4}worker ready: connected to Redis, waiting for jobs /));
  }, 60_000);

  it('in a terminal with LOG_FORMAT=json, and whenever the output is not a terminal: JSON lines, each warning once', async () => {
    for (const run of [{ tty: true, env: { LOG_FORMAT: 'json' } }, { tty: false }]) {
      const lines = await runStart(run);
      const logLines = lines.filter((l) => l.startsWith('{'));
      expect(logLines.length, JSON.stringify(run)).toBeGreaterThan(3);
      const entries = logLines.map((l) => JSON.parse(l) as { name: string; msg: string });
      expect(entries.filter((e) => e.msg.startsWith('SESSION_SECRET is not set')).map((e) => e.name)).toEqual(['launchpad']);
      expect(entries.filter((e) => e.msg.startsWith('ENCRYPTION_KEY is not set')).map((e) => e.name)).toEqual(['launchpad']);
      expect(entries.some((e) => e.name === 'web' && e.msg.startsWith('console listening'))).toBe(true);
    }
  }, 90_000);
});
