// A worker-side process for the scenarios that need a steady producer: lines at a fixed rate through Launchpad's
// EventRecorder or the baseline's NaiveRecorder (latency), and the baseline's ingest of a CT command's output over
// the same NodeShell `pct exec` path the pipeline uses. Every PUBLISH is timestamped here, on the shared monotonic
// clock, so run.ts can measure publish → receive.
import { loadConfig } from '../../src/config.ts';
import { buildDeps } from '../../src/deps.ts';
import { shellTargetFor } from '../../src/domain/nodes/node-access.ts';
import { EventRecorder } from '../../src/domain/progress/event-recorder.ts';
import { initialSnapshot } from '../../src/domain/progress/phases.ts';
import type { Publish } from '../../src/domain/progress/progress-channel.ts';
import { NodeShell } from '../../src/proxmox/node-shell.ts';
import { announce, processProbe, serveRpc } from './bench-rpc.ts';
import type { Design } from './context.ts';
import { NaiveRecorder } from './naive-recorder.ts';
import { nowMs, sleep } from './stats.ts';

const config = loadConfig();
const deps = await buildDeps(config, 'bench-producer');

/** Publishes through the shared connection and remembers when each message (keyed by its last seq) left. */
function timedPublish(): { publish: Publish; sent: Array<[seq: number, at: number]> } {
  const sent: Array<[number, number]> = [];
  return {
    sent,
    publish: async (channel, message) => {
      const at = nowMs();
      const result = await deps.redis.publish(channel, message);
      const seq = /"toSeq":(\d+)/.exec(message) ?? /"seq":(\d+)/.exec(message);
      sent.push([Number(seq![1]), at]);
      return result;
    },
  };
}

/**
 * `rate` lines per second for `durationMs`, each carrying the time it was produced (`t=<ms>`). Lines the recorder
 * has not written `drainCapMs` after the last one was produced are dropped (the baseline falls that far behind).
 */
async function steadyLines(args: { containerId: string; design: Design; rate: number; durationMs: number; drainCapMs: number }) {
  const { publish, sent } = timedPublish();
  const recorder =
    args.design === 'launchpad'
      ? new EventRecorder({ events: deps.repos.events, publish, logger: deps.logger }, args.containerId, initialSnapshot('creating'))
      : new NaiveRecorder(deps.repos.events, publish, args.containerId);
  const total = Math.round((args.rate * args.durationMs) / 1000);
  const start = nowMs();
  let produced = 0;
  while (produced < total) {
    // Drift-free schedule: line i is due at start + i/rate; a late timer emits every line that fell due.
    while (produced < total && start + (produced * 1000) / args.rate <= nowMs()) {
      produced++;
      recorder.log('stdout', `tick ${produced} t=${nowMs().toFixed(3)}`);
    }
    await sleep(Math.max(0, start + (produced * 1000) / args.rate - nowMs()));
  }
  const producedForMs = nowMs() - start;
  const drained = recorder instanceof EventRecorder ? recorder.close() : recorder.drain();
  const capped = await Promise.race([drained.then(() => false), sleep(args.drainCapMs).then(() => true)]);
  if (capped && recorder instanceof NaiveRecorder) recorder.stop();
  return { produced, producedForMs, sent: [...sent], drainCapped: capped };
}

/** The baseline's ingest: `argv` in the CT over SSH, every line stored and published on its own. */
async function naiveIngest(args: { containerId: string; nodeId: number; vmid: number; argv: string[]; capMs: number }) {
  const node = await deps.repos.nodes.findById(args.nodeId);
  if (!node) throw new Error(`node ${args.nodeId} not found`);
  const shell = await NodeShell.connect(shellTargetFor(node, deps.secrets));
  const recorder = new NaiveRecorder(deps.repos.events, (c, m) => deps.redis.publish(c, m), args.containerId);
  const cap = new AbortController();
  const timer = setTimeout(() => {
    cap.abort();
    recorder.stop();
  }, args.capMs);
  let read = 0;
  const started = Date.now();
  let exitCode: number | undefined;
  try {
    ({ exitCode } = await shell.pctExec(args.vmid, args.argv, {
      timeoutMs: args.capMs + 5_000,
      signal: cap.signal,
      onLine: (stream, text) => {
        read++;
        recorder.log(stream, text);
      },
    }));
  } catch (err) {
    if (!cap.signal.aborted) throw err;
  } finally {
    await shell.close().catch(() => undefined);
  }
  const readForMs = Date.now() - started;
  await recorder.drain();
  clearTimeout(timer);
  return { startedAt: started, read, readForMs, stored: recorder.stored, failures: recorder.failures, lastError: recorder.lastError, capped: cap.signal.aborted, exitCode, wallMs: Date.now() - started };
}

const stop = async () => {
  await deps.close();
  process.exit(0);
};
serveRpc({ ...processProbe(), steadyLines, naiveIngest }, () => void stop());
process.once('SIGTERM', () => void stop());
announce();
