// The template test bench: deploys one template through the real pipeline onto a throw-away CT of a private embedded
// simulator in Debian mode (a real Debian 12 root filesystem: real apt-get, services, network), reports each line of
// the build as it happens and each script's exit and time, and removes everything it made. It runs with a private,
// temporary database and queue prefix, so nothing lands in the console's data. Used by `npm run template:test` and by
// the worker's template-test job (the "Test in the simulator" button).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config.ts';
import type { ContainerEvent } from '../domain/containers/container-event.ts';
import { buildDeps, type Deps } from '../deps.ts';
import { createContainer } from '../domain/containers/create-container.ts';
import { registerSimulatorNode } from '../domain/nodes/simulator-node.ts';
import { hashPassword } from '../domain/passwords.ts';
import { runCreatePipeline } from '../domain/pipeline/pipeline-runner.ts';
import type { ProgressMessage } from '../domain/progress/progress-channel.ts';
import { requestFromBody } from '../domain/wizard/creation-request.ts';
import { createLogger } from '../logger.ts';
import { probeDebianRootfs } from '../simulator/debian-rootfs.ts';
import { startSimulator, type SimulatorHandle } from '../simulator/index.ts';
import type { TemplateTestLine, TemplateTestScript } from '../domain/templates/test-run.ts';

export type TestLineKind = TemplateTestLine['kind'];

export interface TemplateTestReport {
  ok: boolean;
  /** "Ready", or why the build failed. */
  outcome: string;
  /** The build, from Deploy to its end. */
  seconds: number;
  rootfsSeconds: number;
  scripts: TemplateTestScript[];
  /** With the port this machine reaches it on while the CT runs (Debian mode forwards CT ports). */
  services: Array<{ name: string; port: number | null; forwarded?: number }>;
}

export interface TemplateTestOptions {
  /** Loads the template into the private database (a copy of the console's, or the catalogue directory) and returns its name. */
  load: (deps: Deps) => Promise<string>;
  onLine: (text: string, kind: TestLineKind) => void;
  /** Cancels the build; the CT and data are removed either way. */
  signal?: AbortSignal;
  /** Runs with the report while the CT still exists, before everything is removed (the CLI's --keep waits here). */
  beforeCleanup?: (report: TemplateTestReport, sim: SimulatorHandle, vmid: number | null) => Promise<void>;
}

export class TemplateTestUnavailable extends Error {}

/** Whether this machine can run the test bench at all (root or subordinate ids, mmdebstrap…), and why not. */
export async function templateTestCapability(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const capability = await probeDebianRootfs();
  return capability.ok ? { ok: true } : { ok: false, reason: `the simulator's Debian mode cannot run here: ${capability.reason}` };
}

export async function runTemplateTest(base: Config, options: TemplateTestOptions): Promise<TemplateTestReport> {
  const { onLine } = options;
  const capability = await templateTestCapability();
  if (!capability.ok) throw new TemplateTestUnavailable(capability.reason);

  // A private database (created and migrated by buildDeps) and queue prefix: nothing lands in the console's data.
  const suffix = randomBytes(4).toString('hex');
  const dbUrl = new URL(base.databaseUrl);
  const dbName = `launchpad_template_test_${suffix}`;
  dbUrl.pathname = `/${dbName}`;
  const config = { ...base, databaseUrl: dbUrl.toString(), queuePrefix: `template-test-${suffix}`, logLevel: 'warn' as const };
  const deps = await buildDeps(config, 'template-test', createLogger('error', 'template-test'));
  const dataDir = await mkdtemp(path.join(tmpdir(), 'launchpad-template-test-'));
  let sim: SimulatorHandle | undefined;
  try {
    const name = await options.load(deps);
    onLine(`template:test ${name}: a throw-away Debian 12 CT on a private embedded simulator (SIMULATOR_ROOTFS=debian)`, 'info');
    const rootfsStarted = Date.now();
    sim = await startSimulator({
      dataDir, speed: 20, authDelayMs: 0,
      rootfs: { mode: 'debian', cacheDir: path.resolve(config.simulatorRootfsCache), onProgress: (line) => onLine(line, 'info') },
    });
    const rootfsSeconds = (Date.now() - rootfsStarted) / 1000;
    onLine(`root filesystem image ready in ${rootfsSeconds.toFixed(1)} s`, 'info');
    await registerSimulatorNode(deps, sim);
    const owner = await deps.repos.users.create({ username: `template-test-${suffix}`, passwordHash: await hashPassword(randomUUID()), role: 'admin' });
    const password = randomBytes(18).toString('base64url');
    const hostname = `test-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
    const { containerId } = await createContainer(deps, owner, requestFromBody({ template: name, node: sim.nodeName, hostname, password, password_confirm: password }));

    const events: ContainerEvent[] = [];
    let step: string | null = null;
    const started = Date.now();
    const outcome = await runCreatePipeline({
      repos: deps.repos,
      secrets: deps.secrets,
      logger: deps.logger,
      timings: { pollMs: 200 },
      // The build's events as they are committed: reported live, kept for the report.
      publish: async (_channel, message) => {
        for (const event of (JSON.parse(message) as ProgressMessage).events) {
          events.push(event);
          if (event.kind === 'log') onLine(event.text ?? '', event.stream === 'stderr' ? 'stderr' : 'stdout');
          else if (event.kind === 'step' && event.step !== step) onLine((step = event.step) ?? '', 'step');
        }
      },
    }, containerId, options.signal ?? new AbortController().signal);
    const container = (await deps.repos.containers.findById(containerId))!;
    const report: TemplateTestReport = {
      ok: outcome === 'ready',
      outcome: outcome === 'ready' ? 'Ready' : (container.error ?? outcome),
      seconds: (Date.now() - started) / 1000,
      rootfsSeconds,
      scripts: scriptResults(events, container.config as { scripts?: string[] }, container.error),
      services: (await deps.repos.containerExtras.services(containerId)).map((s) => ({
        name: s.name, port: s.port, forwarded: s.port === null || container.vmid === null ? undefined : sim!.forwardedPort(container.vmid, s.port),
      })),
    };
    await options.beforeCleanup?.(report, sim, container.vmid);
    return report;
  } finally {
    await sim?.close();
    await rm(dataDir, { recursive: true, force: true });
    await deps.queue.obliterate({ force: true }).catch(() => undefined);
    await deps.close();
    await dropDatabase(base.databaseUrl, dbName);
    onLine('the throw-away CT and its data are removed', 'info');
  }
}

/** Each selected script's exit and duration, from the build's events ("▶ name", "✔ name finished.", the failure). */
function scriptResults(events: ContainerEvent[], config: { scripts?: string[] }, error: string | null): TemplateTestScript[] {
  const at = (e: ContainerEvent) => Date.parse(e.createdAt);
  return (config.scripts ?? []).map((name) => {
    const logs = events.filter((e) => e.kind === 'log');
    const start = logs.find((e) => e.text === `▶ ${name}`);
    const end = logs.find((e) => e.text === `✔ ${name} finished.`);
    if (logs.some((e) => e.text === `${name}: completed in an earlier attempt — skipped.`)) return { name, exit: 'skipped', seconds: null };
    if (start && end) return { name, exit: 0, seconds: (at(end) - at(start)) / 1000 };
    const failed = error ? new RegExp(`Script ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} exited with code (\\d+)`).exec(error) : null;
    if (start && failed) {
      const last = events[events.length - 1]!;
      return { name, exit: Number(failed[1]), seconds: (at(last) - at(start)) / 1000 };
    }
    return { name, exit: 'not run', seconds: null };
  });
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const url = new URL(adminUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
