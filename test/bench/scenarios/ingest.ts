// (d) Ingest: a template script printing 100,000 lines, end to end. Launchpad: the real worker.ts process takes the
// create-container job from BullMQ and runs the whole pipeline against the simulator; the script's output flows
// SSH → EventRecorder → Postgres → PUBLISH → web relay → one SSE viewer. The clock runs from the script's start
// (its "▶" line as stored) until the viewer has parsed line 100,000. The baseline runs the same script file in the
// same CT over the same NodeShell `pct exec` path into NaiveRecorder → its own server → one viewer, for at most
// `naiveCapMs` (it is far slower; lines not written by then count as not stored).
import path from 'node:path';
import { insertDeployment } from '../../support/simulator-fixtures.ts';
import { startChild } from '../bench-child.ts';
import type { ProcessStats } from '../bench-rpc.ts';
import type { BenchContext, Side } from '../context.ts';
import { SseViewer } from '../sse-viewer.ts';
import { summarize, waitUntil } from '../stats.ts';
import { CREATE_CONTAINER_JOB } from '../../../src/jobs/job-types.ts';

const SCRIPT = '50-print-lines.sh';
const SCRIPT_PATH = `/opt/launchpad/scripts/${SCRIPT}`;
const LINE = /<li[^>]* data-t="[^"]*"[^>]*>line (\d+)</g;

/** One viewer that checks every `line N` arrives exactly once and in order, and notes (wall clock) when N = last. */
function lineCounter(ctx: BenchContext, side: Side, containerId: string, last: number) {
  const state = { lines: 0, outOfOrder: 0, lastLine: 0, lastAt: 0, linesPerMessage: [] as number[], firstAt: 0 };
  const viewer = new SseViewer(side.streamUrl(containerId), {
    cookie: side.cookie,
    agent: ctx.agent,
    maxReconnects: 50,
    onEvent: (e) => {
      if (e.event !== 'log' && e.event !== 'progress') return;
      let inMessage = 0;
      for (const m of e.data.matchAll(LINE)) {
        const n = Number(m[1]);
        if (n !== state.lastLine + 1) state.outOfOrder++;
        state.lastLine = n;
        state.lines++;
        inMessage++;
        if (n === 1) state.firstAt = Date.now();
        if (n === last) state.lastAt = Date.now();
      }
      if (inMessage) state.linesPerMessage.push(inMessage);
    },
  });
  return { viewer, state };
}

async function countStored(ctx: BenchContext, containerId: string): Promise<number> {
  const [row] = await ctx.env.deps.knex('container_events').where({ container_id: containerId, kind: 'log' }).andWhere('text', '~', '^line [0-9]+$').count<{ count: string }[]>('* as count');
  return Number(row?.count ?? 0);
}

async function storedAt(ctx: BenchContext, containerId: string, text: string): Promise<number | undefined> {
  const row = await ctx.env.deps.knex('container_events').where({ container_id: containerId, text }).first('created_at');
  return row ? new Date(row.created_at as Date).getTime() : undefined;
}

async function launchpadRun(ctx: BenchContext, simNodeId: number, lines: number) {
  const side = ctx.sides.launchpad;
  await ctx.settle();
  const worker = await startChild('worker', path.resolve('worker.ts'), {
    env: { ...ctx.env.childEnv, LOG_LEVEL: 'info' },
    execArgv: ['--import', path.resolve('test/bench/worker-probe.ts')],
    readyWhen: /worker ready/,
  });
  try {
    const container = await insertDeployment(ctx.env.deps, {
      ownerId: ctx.ownerId,
      nodeId: simNodeId,
      config: {
        packageGroups: [],
        extraPackages: [],
        scripts: [SCRIPT],
        template: { scripts: [{ name: SCRIPT, content: `seq -f 'line %.0f' 1 ${lines}\n` }], files: [], packages: [] },
      },
    });
    const { viewer, state } = lineCounter(ctx, side, container.id, lines);
    await viewer.open();
    await Promise.all([side.server.call('resetLoop'), worker.call('resetLoop')]);
    const [webBefore, workerBefore] = await Promise.all([side.stats(), worker.call<ProcessStats>('stats')]);
    const enqueuedAt = Date.now();
    await ctx.env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: container.id }, { jobId: container.id });
    await waitUntil(() => viewer.done || !!viewer.failure, 180_000, 50);
    const [web, workerStats] = await Promise.all([side.stats(), worker.call<ProcessStats>('stats')]);
    viewer.close();

    const final = await ctx.env.deps.repos.containers.findById(container.id);
    const scriptStart = await storedAt(ctx, container.id, `▶ ${SCRIPT}`);
    const firstStored = await storedAt(ctx, container.id, 'line 1');
    const lastStored = await storedAt(ctx, container.id, `line ${lines}`);
    const seconds = scriptStart && state.lastAt ? (state.lastAt - scriptStart) / 1000 : NaN;
    return {
      lifecycle: final?.lifecycle,
      error: final?.error,
      vmid: final?.vmid ?? undefined,
      buildSeconds: (Date.now() - enqueuedAt) / 1000,
      stored: await countStored(ctx, container.id),
      delivered: state.lines,
      outOfOrder: state.outOfOrder,
      reconnects: viewer.reconnects,
      endToEndSeconds: seconds,
      linesPerSecond: state.lastAt ? lines / seconds : NaN,
      /** How fast the worker READ the output (created_at is when a line was read, not when it was committed). */
      readLinesPerSecond: firstStored && lastStored && scriptStart ? lines / ((lastStored - scriptStart) / 1000) : NaN,
      firstLineDeliveredAfterMs: scriptStart && state.firstAt ? state.firstAt - scriptStart : NaN,
      linesPerMessage: summarize(state.linesPerMessage),
      messages: state.linesPerMessage.length,
      webCpuMsPer1000Lines: (web.cpuMs - webBefore.cpuMs) / (lines / 1000),
      workerCpuMsPer1000Lines: (workerStats.cpuMs - workerBefore.cpuMs) / (lines / 1000),
      webLoop: web.loop,
      workerLoop: workerStats.loop,
    };
  } finally {
    await worker.stop();
  }
}

interface NaiveIngest {
  /** Wall clock when `pct exec` was issued (the SSH session was already up, as in the pipeline). */
  startedAt: number;
  read: number;
  stored: number;
  failures: number;
  lastError?: string;
  capped: boolean;
  exitCode?: number;
  readForMs: number;
  wallMs: number;
}

async function naiveRun(ctx: BenchContext, simNodeId: number, vmid: number, lines: number, capMs: number) {
  const side = ctx.sides.naive;
  await ctx.settle();
  const container = await ctx.newContainer();
  const { viewer, state } = lineCounter(ctx, side, container.id, lines);
  await viewer.open();
  await waitUntil(async () => (await side.viewers()) >= 1, 10_000);
  await Promise.all([side.server.call('resetLoop'), ctx.producer.call('resetLoop')]);
  const [webBefore, producerBefore] = await Promise.all([side.stats(), ctx.producer.call<ProcessStats>('stats')]);
  try {
    const run = await ctx.producer.call<NaiveIngest>('naiveIngest', { containerId: container.id, nodeId: simNodeId, vmid, argv: ['bash', SCRIPT_PATH], capMs }, capMs + 60_000);
    await waitUntil(() => state.lines >= run.stored, 15_000, 50);
    const lastAt = state.lastAt || Date.now();
    const [web, producer] = await Promise.all([side.stats(), ctx.producer.call<ProcessStats>('stats')]);
    const seconds = (lastAt - run.startedAt) / 1000;
    return {
      ...run,
      stored: await countStored(ctx, container.id),
      delivered: state.lines,
      outOfOrder: state.outOfOrder,
      reconnects: viewer.reconnects,
      endToEndSeconds: seconds,
      linesPerSecond: state.lines / seconds,
      linesPerMessage: summarize(state.linesPerMessage),
      messages: state.linesPerMessage.length,
      webCpuMsPer1000Lines: (web.cpuMs - webBefore.cpuMs) / Math.max(1, state.lines / 1000),
      workerCpuMsPer1000Lines: (producer.cpuMs - producerBefore.cpuMs) / Math.max(1, state.lines / 1000),
      webLoop: web.loop,
      workerLoop: producer.loop,
    };
  } finally {
    viewer.close();
  }
}

export async function ingest(ctx: BenchContext, simNodeId: number, lines = 100_000, naiveCapMs = 60_000) {
  const lp = await launchpadRun(ctx, simNodeId, lines);
  ctx.log(`ingest Launchpad: ${lp.lifecycle}, ${lp.stored} stored, ${lp.delivered} delivered, ${lp.linesPerSecond.toFixed(0)} lines/s`);
  if (!lp.vmid) throw new Error(`the Launchpad build did not get a CT (${lp.lifecycle}: ${lp.error}); the baseline has nothing to run in`);
  const nv = await naiveRun(ctx, simNodeId, lp.vmid, lines, naiveCapMs);
  ctx.log(`ingest naive: ${nv.stored} stored, ${nv.delivered} delivered, ${nv.linesPerSecond.toFixed(0)} lines/s${nv.capped ? ` (stopped at the ${naiveCapMs / 1000} s cap)` : ''}`);
  ctx.details.ingest = { lines, naiveCapMs, launchpad: lp, naive: nv };
  const s = '(d) ingest';
  const n = lines.toLocaleString('en');
  ctx.rows.push(
    { scenario: s, metric: 'lines/s, script start → viewer has last line', unit: '/s', launchpad: lp.linesPerSecond, naive: nv.linesPerSecond, better: 'higher', target: { op: '>=', value: 40_000, label: '≥ 40,000/s' } },
    { scenario: s, metric: `rows stored (of ${n})`, unit: '', launchpad: lp.stored, naive: nv.stored, better: 'higher', target: { op: '>=', value: lines, label: n } },
    {
      scenario: s,
      metric: `lines delivered to the viewer (of ${n})`,
      unit: '',
      launchpad: lp.delivered,
      naive: nv.delivered,
      better: 'higher',
      target: { op: '>=', value: lines, label: n },
      note: lp.outOfOrder || nv.outOfOrder ? `out of order or repeated: Launchpad ${lp.outOfOrder}, naive ${nv.outOfOrder}` : 'each once, in order',
    },
    { scenario: s, metric: 'web CPU per 1,000 lines', unit: 'ms', launchpad: lp.webCpuMsPer1000Lines, naive: nv.webCpuMsPer1000Lines, better: 'lower' },
    { scenario: s, metric: 'worker CPU per 1,000 lines', unit: 'ms', launchpad: lp.workerCpuMsPer1000Lines, naive: nv.workerCpuMsPer1000Lines, better: 'lower' },
    { scenario: s, metric: 'web event-loop delay p99', unit: 'ms', launchpad: lp.webLoop.p99, naive: nv.webLoop.p99, better: 'lower', target: { op: '<', value: 50, label: '< 50 ms' } },
    { scenario: s, metric: 'worker event-loop delay p99', unit: 'ms', launchpad: lp.workerLoop.p99, naive: nv.workerLoop.p99, better: 'lower', target: { op: '<', value: 50, label: '< 50 ms' } },
    { scenario: s, metric: 'whole build, enqueue → ready (Launchpad only)', unit: 's', launchpad: lp.buildSeconds, naive: undefined },
  );
}
