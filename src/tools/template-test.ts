// `npm run template:test -- <name> [--keep]`: the template test bench for authors. Deploys one template from
// TEMPLATES_DIR through the real pipeline onto a throw-away CT of the embedded simulator in Debian mode (a real
// Debian 12 root filesystem: real apt-get, services, network), streams the build log live, reports each script's exit
// and time, and removes the CT. Uses a private, temporary database and queue prefix; exits 0 only when the build
// ends Ready.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../config.ts';
import { buildDeps } from '../deps.ts';
import { createContainer } from '../domain/containers/create-container.ts';
import { registerSimulatorNode } from '../domain/nodes/simulator-node.ts';
import { hashPassword } from '../domain/passwords.ts';
import { runCreatePipeline } from '../domain/pipeline/pipeline-runner.ts';
import type { ProgressMessage } from '../domain/progress/progress-channel.ts';
import { getTemplate, syncCatalogue } from '../domain/templates/catalogue.ts';
import { requestFromBody } from '../domain/wizard/creation-request.ts';
import { createLogger } from '../logger.ts';
import { runMain } from '../lib/main.ts';
import { probeDebianRootfs } from '../simulator/debian-rootfs.ts';
import { startSimulator } from '../simulator/index.ts';
import type { ContainerEvent } from '../domain/containers/container-event.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

interface ScriptResult {
  name: string;
  exit: number | 'skipped' | 'not run';
  seconds: number | null;
}

runMain('template:test', async () => {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const keep = args.includes('--keep');
  const name = args.find((a) => !a.startsWith('-'));
  if (!name) {
    process.stderr.write('usage: npm run template:test -- <template name> [--keep]\n');
    process.exit(2);
  }
  const base = loadConfig();
  const capability = await probeDebianRootfs();
  if (!capability.ok) {
    process.stderr.write(`template:test: the simulator's Debian mode cannot run here: ${capability.reason}\n`);
    process.exit(2);
  }

  // A private database (created and migrated by buildDeps) and queue prefix: nothing lands in the console's data.
  const suffix = randomBytes(4).toString('hex');
  const dbUrl = new URL(base.databaseUrl);
  const dbName = `launchpad_template_test_${suffix}`;
  dbUrl.pathname = `/${dbName}`;
  const config = { ...base, databaseUrl: dbUrl.toString(), queuePrefix: `template-test-${suffix}`, logLevel: 'warn' };
  const deps = await buildDeps(config, 'template-test', createLogger('error', 'template-test'));
  const dataDir = await mkdtemp(path.join(tmpdir(), 'launchpad-template-test-'));
  let sim: Awaited<ReturnType<typeof startSimulator>> | undefined;
  let ok: boolean | undefined;
  // Ctrl-C cancels the build (or ends --keep); the CT, database and files are removed either way.
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  try {
    await syncCatalogue(deps.repos.templates, path.resolve(config.templatesDir), deps.logger);
    const template = await getTemplate(deps.repos.templates, name).catch(() => undefined);
    if (!template) throw new Error(`no template “${name}” in ${config.templatesDir}`);
    if (template.loadError) throw new Error(`template ${name} cannot be loaded: ${template.loadError}`);

    out(`== template:test ${name}: a throw-away Debian 12 CT on the embedded simulator (SIMULATOR_ROOTFS=debian)`);
    const rootfsStarted = Date.now();
    sim = await startSimulator({
      dataDir, speed: 20, authDelayMs: 0,
      rootfs: { mode: 'debian', cacheDir: path.resolve(config.simulatorRootfsCache), onProgress: (line) => out(`   ${line}`) },
    });
    out(`   root filesystem image ready in ${((Date.now() - rootfsStarted) / 1000).toFixed(1)} s`);
    await registerSimulatorNode(deps, sim);
    const owner = await deps.repos.users.create({ username: `template-test-${suffix}`, passwordHash: await hashPassword(randomUUID()), isAdmin: true });
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
      // The build's events as they are committed: printed live, kept for the report.
      publish: async (_channel, message) => {
        for (const event of (JSON.parse(message) as ProgressMessage).events) {
          events.push(event);
          if (event.kind === 'log') out(`${event.stream === 'stderr' ? '!' : ' '} ${event.text ?? ''}`);
          else if (event.kind === 'step' && event.step !== step) out(`== ${(step = event.step)}`);
        }
      },
    }, containerId, interrupt.signal);
    const container = (await deps.repos.containers.findById(containerId))!;
    const results = scriptResults(events, container.config as { scripts?: string[] }, container.error);

    out('');
    out(`== ${name}: ${outcome === 'ready' ? 'Ready' : `FAILED — ${container.error ?? outcome}`} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const r of results) {
      const exit = typeof r.exit === 'number' ? `exit ${r.exit}` : r.exit;
      out(`   ${r.name.padEnd(32)} ${exit.padEnd(10)} ${r.seconds === null ? '' : `${r.seconds.toFixed(1)} s`}`);
    }
    const services = await deps.repos.containerExtras.services(containerId);
    for (const s of services) {
      const forwarded = s.port === null ? undefined : sim.forwardedPort(container.vmid!, s.port);
      out(`   service ${s.name} on port ${s.port ?? '-'}${forwarded ? ` (from this machine: 127.0.0.1:${forwarded})` : ''}`);
    }
    if (keep) {
      out(`   --keep: the CT stays up until you press Ctrl-C (root filesystem: ${sim.state.rootDir(container.vmid!)})`);
      if (!interrupt.signal.aborted) await new Promise((resolve) => interrupt.signal.addEventListener('abort', resolve));
    }
    ok = outcome === 'ready';
  } finally {
    await sim?.close();
    await rm(dataDir, { recursive: true, force: true });
    await deps.queue.obliterate({ force: true }).catch(() => undefined);
    await deps.close();
    await dropDatabase(base.databaseUrl, dbName);
    out('   the throw-away CT and its data are removed');
  }
  process.exit(ok ? 0 : 1);
});

/** Each selected script's exit and duration, from the build's events ("▶ name", "✔ name finished.", the failure). */
function scriptResults(events: ContainerEvent[], config: { scripts?: string[] }, error: string | null): ScriptResult[] {
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
