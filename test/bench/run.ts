// `npm run bench`: Launchpad's live-progress path against the naive design, side by side in one run (SPEC §11).
// Starts everything it needs on 127.0.0.1 — a throwaway database, Launchpad's web process, the baseline's server,
// a producer, the Proxmox simulator and (for ingest) the real worker — runs six bounded scenarios, prints a table
// and writes bench-results/latest.json, then stops every child and drops the database, also on failure or ^C.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { registerSimulatorNode } from '../../src/domain/nodes/simulator-node.ts';
import { insertNode } from '../support/fixtures.ts';
import { ensureUser, signIn } from '../support/http-session.ts';
import { runningChildren, startChild, type BenchChild } from './bench-child.ts';
import { createBenchEnv, machineDetails, type BenchEnv } from './bench-env.ts';
import { newContainerFor, settle, sideFor, type BenchContext, type Row } from './context.ts';
import { loadBetween, sampleCpu, type LoadReport } from './machine-load.ts';
import { meets, ratio, tableLines, writeResults } from './report.ts';
import { fanOut } from './scenarios/fan-out.ts';
import { ingest } from './scenarios/ingest.ts';
import { latency } from './scenarios/latency.ts';
import { longReplay } from './scenarios/long-replay.ts';
import { replayStorm } from './scenarios/replay-storm.ts';
import { replay, seedLog } from './scenarios/replay.ts';
import { runningContainers, usagePolling } from './scenarios/usage-polling.ts';

// (a) holds 10,000 viewers: one socket each in this process and in the web process. A login shell's soft limit on
// open files is often 1,024; raise it to the hard limit, for this process and the children it starts, by running
// the bench again under a shell that raised it (Node has no setrlimit of its own).
const WANTED_FILES = 24_000;
if (!process.env.BENCH_FILES_RAISED) {
  const [soft, hard] = spawnSync('sh', ['-c', 'ulimit -n; ulimit -Hn'], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number) as [number, number];
  if (soft < Math.min(WANTED_FILES, Number.isNaN(hard) ? Infinity : hard)) {
    const again = spawnSync('sh', ['-c', `ulimit -n ${WANTED_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_FILES_RAISED: '1' },
    });
    process.exit(again.status ?? 1);
  }
}

const HARD_LIMIT_MS = 10 * 60_000;
const QUIET_WAIT_MS = 45_000;
/** `npm run bench -- latency replay` runs only the scenarios whose names contain one of the words. */
const only = process.argv.slice(2);
const RESULTS_FILE = path.resolve('bench-results/latest.json');
const started = Date.now();
const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);

let env: BenchEnv | undefined;
const children: BenchChild<unknown>[] = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled(children.map((c) => c.stop()));
    for (const straggler of runningChildren()) straggler.kill('SIGKILL');
    await env?.close().catch((err: Error) => log(`could not drop the bench database: ${err.message}`));
  })();
  return cleaning;
}

const abort = (why: string, code: number) => {
  log(`${why}: stopping the children and dropping the bench database`);
  void cleanup().finally(() => process.exit(code));
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort(`interrupted (${signal})`, 130));
const hardLimit = setTimeout(() => abort(`still running after ${HARD_LIMIT_MS / 60_000} minutes`, 2), HARD_LIMIT_MS);

async function main(): Promise<number> {
  // What the machine does without us: on a shared box other work competes for the same cores. Give it up to
  // QUIET_WAIT_MS to calm down, then measure anyway and say so.
  let background: LoadReport | undefined;
  for (const waitUntilMs = Date.now() + QUIET_WAIT_MS; ; ) {
    const before = sampleCpu([]);
    await new Promise((r) => setTimeout(r, 3_000));
    background = loadBetween(before, sampleCpu([]));
    if (!background || background.machineCores < 0.25 * os.cpus().length || Date.now() >= waitUntilMs) break;
    log(`other work is using ${background.machineCores} cores; waiting for the machine to go quiet…`);
  }
  log(`before starting, the machine was using ${background?.machineCores ?? '?'} cores`);
  log('creating the bench database and starting the processes…');
  env = await createBenchEnv();
  const childEnv = env.childEnv;
  const entry = (name: string) => path.resolve('test/bench', name);
  const [web, naive, producer, simulator] = await Promise.all([
    startChild<{ port: number }>('web', entry('bench-web.ts'), { env: childEnv }),
    startChild<{ port: number }>('naive', entry('naive-server.ts'), { env: childEnv }),
    startChild('producer', entry('bench-producer.ts'), { env: childEnv }),
    startChild<Parameters<typeof registerSimulatorNode>[1] & { sandboxed: boolean }>('simulator', entry('bench-simulator.ts'), { env: childEnv }),
  ]);
  children.push(web, naive, producer, simulator);

  const machine = await machineDetails(env.deps);
  log(`${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, Redis ${machine.redis}`);
  const password = randomBytes(18).toString('base64url');
  const owner = await ensureUser(env.deps, 'bench', password, 'admin');
  const placeholderNode = await insertNode(env.deps, 'bench-placeholder');
  const simNode = await registerSimulatorNode(env.deps, simulator.info);
  const { cookie } = await signIn(`http://127.0.0.1:${web.info.port}`, 'bench', password);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const ctx: BenchContext = {
    env,
    sides: { launchpad: sideFor('launchpad', web, env, cookie), naive: sideFor('naive', naive, env, undefined) },
    producer,
    agent,
    ownerId: owner.id,
    nodeId: placeholderNode.id,
    rows,
    details,
    log,
    newContainer: () => newContainerFor(env!, owner.id, placeholderNode.id),
    settle: async () => void (await settle([web, naive, producer])),
  };

  // The client's own event loop: if it lags, latencies measured here include the lag (reported, per scenario).
  const clientLoop = monitorEventLoopDelay({ resolution: 10 });
  clientLoop.enable();
  const clientLoopP99: Record<string, number> = {};
  const load: Record<string, LoadReport | undefined> = {};
  const errors: Record<string, string> = {};
  const cpuNow = () => sampleCpu(runningChildren().map((c) => c.pid!).filter(Boolean));
  const wanted = (name: string) => !only.length || only.some((word) => name.includes(word));
  const attempt = async (name: string, scenario: () => Promise<void>) => {
    if (!wanted(name)) return;
    log(`${name}…`);
    clientLoop.reset();
    const cpuBefore = cpuNow();
    try {
      await scenario();
    } catch (err) {
      errors[name] = (err as Error).stack ?? String(err);
      rows.push({ scenario: name, metric: `ERROR: ${(err as Error).message.split('\n')[0]}`, unit: '', launchpad: undefined, naive: undefined });
      log(`${name} failed: ${(err as Error).message}`);
    }
    clientLoopP99[name] = clientLoop.percentile(99) / 1e6;
    load[name] = loadBetween(cpuBefore, cpuNow());
  };

  let replayContainer = '';
  if (['(a) fan-out', '(b) latency', '(c) replay', '(d) ingest', '(e) replay ×100'].some(wanted)) {
    log('seeding a 10,000-line log…');
    replayContainer = await seedLog(ctx, 10_000);
  }
  await attempt('(a) fan-out', () => fanOut(ctx));
  await attempt('(b) latency', () => latency(ctx));
  await attempt('(c) replay', () => replay(ctx, replayContainer));
  await attempt('(d) ingest', () => {
    if (!simulator.info.sandboxed) throw new Error('bubblewrap (bwrap) is missing, so the simulator cannot run the script: apt-get install bubblewrap');
    return ingest(ctx, simNode.id);
  });
  await attempt('(e) replay ×100', () => replayStorm(ctx, replayContainer));
  if (wanted('(f) long replay')) {
    log('seeding a 200,000-line log…');
    const longContainer = await seedLog(ctx, 200_000);
    await attempt('(f) long replay', () => longReplay(ctx, longContainer, 200_000));
  }
  if (wanted('(g) usage')) {
    log('(g) starting a second web process and 20 running CTs…');
    const web2 = await startChild<{ port: number }>('web-2', entry('bench-web.ts'), { env: childEnv });
    children.push(web2);
    const containers = await runningContainers(ctx, simNode);
    await attempt('(g) usage', () => usagePolling(ctx, {
      ports: [web.info.port, web2.info.port],
      cookie,
      containers,
      requests: async () => ((await simulator.call('requests')) as { byRoute: Record<string, number> }).byRoute,
    }));
  }
  agent.destroy();

  const durationSeconds = Math.round((Date.now() - started) / 100) / 10;
  const targeted = rows.filter((r) => r.target);
  const passed = targeted.filter((r) => meets(r.launchpad, r.target));
  const out = [
    '',
    `Launchpad vs the naive design — ${new Date().toISOString()} — ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB,`,
    `Node ${machine.node}, ${machine.postgres.split(',')[0]}, Redis ${machine.redis}; web, worker, Postgres, Redis and the clients on this one machine.`,
    'ratio = how many times better Launchpad is (naive ÷ Launchpad for times and memory, Launchpad ÷ naive for counts and rates).',
    ...loadLines(machine.cores, background, load),
    '',
    ...tableLines(rows),
    '',
    `Launchpad meets ${passed.length} of ${targeted.length} targets${passed.length < targeted.length ? `; missed: ${targeted.filter((r) => !meets(r.launchpad, r.target)).map((r) => `${r.scenario} ${r.metric}`).join('; ')}` : ''}.`,
    `Took ${durationSeconds} s. Results: ${path.relative(process.cwd(), RESULTS_FILE)}`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);

  await writeResults(RESULTS_FILE, {
    generatedAt: new Date().toISOString(),
    command: 'npm run bench',
    durationSeconds,
    machine,
    backgroundLoadBeforeStart: background,
    loadPerScenario: load,
    simulatorSandboxed: simulator.info.sandboxed,
    rows: rows.map((r) => ({ ...r, ratio: ratio(r), launchpadMeetsTarget: meets(r.launchpad, r.target), naiveMeetsTarget: r.launchpadOnly ? undefined : meets(r.naive, r.target) })),
    clientEventLoopP99Ms: clientLoopP99,
    details,
    errors,
  });
  return Object.keys(errors).length ? 1 : 0;
}

/** Says how busy the machine was, and warns when other work took a real share of it. */
function loadLines(cores: number, background: LoadReport | undefined, load: Record<string, LoadReport | undefined>): string[] {
  if (!background) return [];
  const per = Object.entries(load)
    .filter(([, l]) => l)
    .map(([name, l]) => `${name.split(' ')[0]} ${l!.machineCores}/${cores} (bench ${l!.benchCores})`);
  const lines = [`CPU in use, in cores: before the start ${background.machineCores}/${cores}; per scenario ${per.join(', ')}.`];
  if (background.machineCores > 0.25 * cores) {
    lines.push(`WARNING: other work was already using ${background.machineCores} of ${cores} cores before the bench started; every time below is pessimistic. Re-run on an idle machine.`);
  }
  return lines;
}

main()
  .catch((err: Error) => {
    log(`bench failed: ${err.stack ?? err.message}`);
    return 1;
  })
  .then(async (code) => {
    clearTimeout(hardLimit);
    await cleanup();
    process.exit(code);
  });
