// The latency scenario's viewers read by a small C program (test/bench/sse-recorder.c) instead of Node: one epoll
// thread that records each read's bytes, the kernel's receive time of them (SO_TIMESTAMPNS) and its own read time,
// and parses nothing. The events are parsed here after the run, each stamped with the read that completed it — so the
// figures are the same kind the Node readers give (test/bench/bench-viewers.ts), with one more: when the bytes
// reached the viewer's socket, which is when the server's write delivered them whatever the reader's own queue.
// Built with the machine's C compiler when the bench starts; without one the bench keeps the Node readers.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Inflate, Z_SYNC_FLUSH } from 'pako';
import type { ViewerReport } from './bench-viewers.ts';
import { countLines } from './sse-viewer.ts';

/** What the latency scenario asks of a reader, whichever kind (a Node child answers these same calls). */
export interface ViewerReader {
  name: string;
  call<T = unknown>(op: string, args?: unknown, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

const SOURCE = path.resolve('test/bench/sse-recorder.c');

/** Compiles the recorder once; undefined (and why) when the machine has no C compiler or it does not build. */
export async function buildRecorder(): Promise<{ binary: string } | { unavailable: string }> {
  const binary = path.join(os.tmpdir(), `launchpad-sse-recorder-${process.pid}`);
  try {
    await promisify(execFile)(process.env.CC ?? 'cc', ['-O2', '-o', binary, SOURCE]);
    return { binary };
  } catch (err) {
    return { unavailable: `no C compiler built ${path.relative(process.cwd(), SOURCE)} (${(err as Error).message.split('\n')[0]})` };
  }
}

/** A reader whose viewers live in one recorder process per `open` (one per measurement). */
export function nativeReader(name: string, binary: string): ViewerReader {
  let child: ChildProcessWithoutNullStreams | undefined;
  let lines: string[] = [];
  let waiting: ((line: string) => void) | undefined;
  let count = 0;
  let parsedReads = 0;
  let reports: ViewerReport[] = [];
  const nextLine = (timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(() => reject(new Error(`${name}: the recorder gave no answer within ${timeoutMs} ms`)), timeoutMs);
      waiting = (l) => (clearTimeout(timer), resolve(l));
    });
  const ask = async (command: string, timeoutMs = 60_000) => {
    child!.stdin.write(`${command}\n`);
    return nextLine(timeoutMs);
  };
  const quit = async () => {
    if (!child) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.stdin.end('quit\n');
    await exited;
    child = undefined;
  };

  const ops: Record<string, (args: never) => Promise<unknown>> = {
    async open(args: { urls: string[]; cookie: string | undefined; encodings: Array<string | null> }) {
      await quit();
      const url = new URL(args.urls[0]!);
      count = args.urls.length;
      parsedReads = 0;
      reports = [];
      lines = [];
      child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
      let partial = '';
      child.stdout.on('data', (chunk: Buffer) => {
        const all = (partial + chunk.toString()).split('\n');
        partial = all.pop()!;
        for (const l of all) {
          if (waiting) {
            const w = waiting;
            waiting = undefined;
            w(l);
          } else lines.push(l);
        }
      });
      child.stderr.on('data', (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString()}`));
      // The session cookie goes through the pipe, never the command line.
      const spec = [`${url.hostname} ${url.port} ${count}`, args.cookie ?? '-', ...args.urls.map((u, i) => `${new URL(u).pathname} ${args.encodings[i] ?? '-'}`)];
      child.stdin.write(`${spec.join('\n')}\n`);
      const opened = await nextLine(120_000);
      const match = /^open (\d+)$/.exec(opened);
      if (!match) throw new Error(`${name}: ${opened}`);
      return Number(match[1]);
    },
    /** Reads since the last parse (the run is over when this stops growing). */
    async unparsed() {
      return Number(await ask('reads')) - parsedReads;
    },
    /** Connections the server (or a failure) has ended so far. */
    async ended() {
      return Number(await ask('ended'));
    },
    async parse(args: { lastSeq: number }) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'sse-recorder-'));
      try {
        parsedReads = Number(await ask('reads'));
        if ((await ask(`dump ${dir}`, 120_000)) !== 'dumped') throw new Error(`${name}: dump failed`);
        reports = Array.from({ length: count }, (_, i) => parseViewer(dir, i));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return reports.every((r) => r.failure || (r.ids.at(-1) ?? 0) >= args.lastSeq);
    },
    async report() {
      return reports;
    },
    async reconnects() {
      return 0; // it never reconnects: a stream that ends early is that viewer's failure
    },
    async close() {
      await quit();
    },
  };
  return {
    name,
    call: <T>(op: string, args?: unknown) => {
      const run = ops[op];
      if (!run) return Promise.reject(new Error(`${name}: no ${op}`));
      return run(args as never) as Promise<T>;
    },
    stop: quit,
  };
}

const STAMP = / t=(\d+(?:\.\d+)?)/g;

/**
 * One viewer's recording as events: the response head, then the body read by read (inflated if gzip'd), SSE lines
 * split at LF, each `log`/`progress` event given the times of the read that completed it.
 */
function parseViewer(dir: string, i: number): ViewerReport {
  const report: ViewerReport = { failure: undefined, ids: [], times: [], socketTimes: [], eventLines: [], produceToReceive: [], produceToSocket: [], lines: 0 };
  const bytes = readFileSync(path.join(dir, `${i}.bin`));
  const idx = new BigUint64Array(new Uint8Array(readFileSync(path.join(dir, `${i}.idx`))).buffer);
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return { ...report, failure: endOf(dir, i) ?? 'no response' };
  const head = bytes.subarray(0, headEnd).toString('latin1');
  if (!/^HTTP\/1\.1 200 /.test(head)) return { ...report, failure: head.split('\r\n')[0] };
  if (/^transfer-encoding:\s*chunked/im.test(head)) return { ...report, failure: 'a chunked stream (this reader reads unframed SSE bodies only)' };
  const gzip = /^content-encoding:\s*gzip/im.test(head);

  let readAt = 0;
  let socketAt = 0;
  let text = '';
  let event = '';
  let id: string | undefined;
  let data: string[] = [];
  const onText = (chunk: string) => {
    text += chunk;
    let start = 0;
    for (let lf = text.indexOf('\n'); lf !== -1; lf = text.indexOf('\n', start)) {
      const line = text.slice(start, lf);
      start = lf + 1;
      if (line === '') {
        if ((event === 'log' || event === 'progress') && data.length) {
          const html = data.join('\n');
          report.ids.push(Number(id));
          report.times.push(readAt);
          report.socketTimes!.push(socketAt);
          report.eventLines!.push(countLines(html));
          for (const m of html.matchAll(STAMP)) {
            report.produceToReceive.push(readAt - Number(m[1]));
            report.produceToSocket!.push(socketAt - Number(m[1]));
            report.lines++;
          }
        }
        event = '';
        data = [];
      } else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('id:')) id = line.slice(3).trim();
    }
    text = text.slice(start);
  };
  const decoder = new TextDecoder();
  const inflator = gzip ? new Inflate({ chunkSize: 4096 }) : undefined;
  if (inflator) inflator.onData = (out: Uint8Array) => onText(decoder.decode(out, { stream: true }));
  let from = headEnd + 4;
  for (let k = 0; k < idx.length / 3; k++) {
    const end = Number(idx[k * 3]!);
    socketAt = Number(idx[k * 3 + 1]!) / 1e6;
    readAt = Number(idx[k * 3 + 2]!) / 1e6;
    if (end <= from) continue;
    const body = bytes.subarray(from, end);
    from = end;
    if (!inflator) onText(decoder.decode(body, { stream: true }));
    else if (!inflator.push(body, Z_SYNC_FLUSH) || inflator.err) return { ...report, failure: `gzip: ${inflator.msg}` };
  }
  const ended = endOf(dir, i);
  if (ended !== undefined) report.failure = `the stream ended (${ended})`;
  return report;
}

function endOf(dir: string, i: number): string | undefined {
  const file = path.join(dir, `${i}.end`);
  if (!existsSync(file)) return undefined;
  const errno = Number(readFileSync(file, 'utf8'));
  return errno === 0 ? 'closed by the server' : `errno ${errno}`;
}
