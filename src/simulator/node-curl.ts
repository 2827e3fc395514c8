// `curl` on the simulated node, for Launchpad's HTTP health check of a CT's service: the flags that check uses, the
// answers real curl gives (the -w write-out on stdout even when the transfer fails, its exit codes: 7 connection
// refused, 28 timeout, 3 bad URL). A URL must name a running CT's own address, as the node reaches CTs on its bridge.
// Debian mode runs the real curl inside that CT's network namespace against the real server; host-mode CTs run no
// servers, so a port the CT's `ss` lists (an active unit's socket) answers 200 — or 502 with the serviceErrors fault.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerChannel } from 'ssh2';
import type { CtRuntime } from './ct-runtime.ts';
import type { SimulatorFaults } from './faults.ts';
import { killSandbox, spawnInSandbox } from './sandbox.ts';
import type { SimulatorStateView } from './types.ts';

/** What the node knows (the part of pct-commands' NodeContext curl needs). */
export interface CurlContext {
  state: SimulatorStateView;
  runtime?: CtRuntime;
  sandboxed: boolean;
  speed: number;
  faults?: SimulatorFaults;
}

type ExitStatus = { code: number } | { signal: string };
interface RunningCurl {
  done: Promise<ExitStatus>;
  kill(): void;
}

interface CurlRequest {
  url: string;
  writeOut: string;
  maxTimeS: number;
}

const USAGE = "curl: try 'curl --help' or 'curl --manual' for more information\n";

/** The options Launchpad's check passes (and their short forms); anything else is refused as curl refuses it. */
function parseCurlArgs(args: string[]): CurlRequest | { error: string } {
  let url: string | undefined;
  let writeOut = '';
  let maxTimeS = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => args[++i];
    switch (arg) {
      case '-s': case '--silent': case '-S': case '--show-error': case '-g': case '--globoff': case '-sS':
        break;
      case '-o': case '--output':
        if (value() !== '/dev/null') return { error: 'curl: the simulated node only writes bodies to /dev/null\n' };
        break;
      case '-w': case '--write-out':
        writeOut = value() ?? '';
        break;
      case '-m': case '--max-time': {
        const seconds = Number(value());
        if (!Number.isFinite(seconds) || seconds < 0) return { error: 'curl: option --max-time: expected a proper numerical parameter\n' };
        maxTimeS = seconds;
        break;
      }
      case '--noproxy':
        value();
        break;
      default:
        if (arg.startsWith('-')) return { error: `curl: option ${arg}: is unknown\n` };
        if (url !== undefined) return { error: 'curl: the simulated node fetches one URL at a time\n' };
        url = arg;
    }
  }
  if (url === undefined) return { error: 'curl: no URL specified\n' };
  return { url, writeOut, maxTimeS };
}

const writeOut = (format: string, code: number, seconds: number) =>
  format.replaceAll('%{http_code}', String(code).padStart(3, '0')).replaceAll('%{time_total}', seconds.toFixed(6)).replaceAll('\\n', '\n');

export function nodeCurl(ctx: CurlContext, args: string[], channel: ServerChannel): RunningCurl {
  const request = parseCurlArgs(args);
  if ('error' in request) {
    channel.stderr.write(request.error + USAGE);
    return { done: Promise.resolve({ code: 2 }), kill: () => {} };
  }
  const started = Date.now();
  const answer = (code: number, exit: number): ExitStatus => {
    channel.write(writeOut(request.writeOut, code, (Date.now() - started) / 1000));
    return { code: exit };
  };
  if (!URL.canParse(request.url) || !/^https?:$/.test(new URL(request.url).protocol)) return { done: Promise.resolve(answer(0, 3)), kill: () => {} };
  const url = new URL(request.url);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const ct = ctx.state.containerWithAddress(url.hostname);

  if (!ct) {
    // Nothing on the bridge has that address: the SYN goes unanswered until --max-time.
    let killed = false;
    const done = (async () => {
      await sleep(Math.min(request.maxTimeS || 300, 300) * 1000 / ctx.speed);
      return killed ? { signal: 'KILL' } : answer(0, 28);
    })();
    return { done, kill: () => (killed = true) };
  }

  if (ctx.runtime) {
    const child = ctx.runtime.exec(ct.vmid, ['curl', ...args]);
    return { done: relay(child, channel), kill: () => killSandbox(child) };
  }
  if (!ctx.sandboxed) return { done: Promise.resolve(answer(0, 7)), kill: () => {} };
  const ss = spawnInSandbox({ rootDir: ct.rootDir, hostname: ct.hostname, speed: ctx.speed }, ['ss', '-Htln']);
  const done = (async (): Promise<ExitStatus> => {
    let output = '';
    ss.stdout.on('data', (d: Buffer) => (output += d.toString()));
    ss.stderr.resume();
    ss.stdin.end();
    await new Promise((resolve) => ss.once('close', resolve));
    const listening = output.split('\n').some((line) => Number(line.trim().split(/\s+/)[3]?.split(':').at(-1)) === port);
    if (!listening) return answer(0, 7);
    return answer(ctx.faults?.current.serviceErrors ? 502 : 200, 0);
  })();
  return { done, kill: () => killSandbox(ss) };
}

async function relay(child: ChildProcessWithoutNullStreams, channel: ServerChannel): Promise<ExitStatus> {
  child.stdin.end();
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  return new Promise((resolve) => {
    child.on('error', () => resolve({ code: 255 }));
    child.on('close', (code, signal) => resolve(signal ? { signal: signal.replace(/^SIG/, '') } : { code: code ?? 255 }));
  });
}
