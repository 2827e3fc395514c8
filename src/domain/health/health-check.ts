// Checks a ready container's registered services on its node (worker side: it speaks SSH), stores the result and
// writes a history entry when the container's overall state changes. Per service: is its systemd unit active
// (`pct exec <vmid> -- systemctl is-active …`), does something listen on its port (`pct exec <vmid> -- ss -Htln`),
// and, with a URL, does it answer over HTTP from the node (`curl … <url>`). It first reads the CT's config: a guest
// without this container's mark (ct-mark.ts) is never probed. Every command is an argv array quoted by
// shellJoin; a unit, port or URL a template wrote is validated first, and one that fails is refused, not run.
import type { ContainerExtrasRepository, ContainerService } from '../../db/container-extras-repository.ts';
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { HealthRepository } from '../../db/health-repository.ts';
import type { HistoryRepository } from '../../db/history-repository.ts';
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import type { SettingsRepository } from '../../db/settings-repository.ts';
import type { UsersRepository } from '../../db/users-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { Logger } from '../../logger.ts';
import { CAPTURED_OUTPUT_CHARS, NodeShell, type ExecOptions, type ExecResult } from '../../proxmox/node-shell.ts';
import type { Container } from '../containers/container.ts';
import type { UsageMonitor } from '../usage/usage-monitor.ts';
import { proxmoxClientFor, shellTargetFor } from '../nodes/node-access.ts';
import { confirmStillOwnCt } from '../pipeline/ct-mark.ts';
import { StepError } from '../pipeline/pipeline-errors.ts';
import { SANDBOX_FIX, simulatorRunsCommands } from '../nodes/simulator-badge.ts';
import {
  HTTP_CHECK_TIMEOUT_S, checkableUrl, httpOutcome, listeningPortsFrom, overallHealth, portOutcome, serviceState, unitOutcome, validPort, validUnit,
  type CheckOutcome, type HealthCheck, type HealthTrigger, type NewHealthCheck, type ServiceHealth,
} from './service-health.ts';

/** The node commands a check needs (a NodeShell; the pipeline lends its own). */
export type NodeCommands = Pick<NodeShell, 'exec' | 'pctExec' | 'pctStatus'>;

export interface HealthCheckDeps {
  repos: {
    containers: ContainersRepository;
    containerExtras: ContainerExtrasRepository;
    nodes: NodesRepository;
    settings: SettingsRepository;
    health: HealthRepository;
    history: HistoryRepository;
    users: UsersRepository;
  };
  secrets: SecretBox;
  logger: Logger;
  /** Tells the container's open pages that its health (and maybe its history) changed (left out during a build: its stream's end shows it). */
  usage?: Pick<UsageMonitor, 'announce'>;
}

export interface HealthRequest {
  trigger: HealthTrigger;
  /** Who pressed "Check now" (null: the build or the sweep). */
  userId: number | null;
}

/** Per command on the node; the HTTP check's own limit is shorter. */
const COMMAND_TIMEOUT_MS = 20_000;

/**
 * Asks the node about the services: their units in one `systemctl is-active`, the CT's listening ports in one `ss`,
 * then each URL. `not-checked` (with why) when the CT is stopped.
 */
export async function probeServices(
  shell: NodeCommands,
  ct: { vmid: number; ip: string | null },
  services: readonly ContainerService[],
  signal?: AbortSignal,
): Promise<{ services: ServiceHealth[] } | { notChecked: string }> {
  const opts = (lines: string[]): ExecOptions => ({
    timeoutMs: COMMAND_TIMEOUT_MS, signal, maxOutputChars: CAPTURED_OUTPUT_CHARS, onLine: (stream, text) => stream === 'stdout' && lines.push(text),
  });
  if ((await shell.pctStatus(ct.vmid, { signal })) === 'stopped') return { notChecked: 'not checked: container stopped' };

  const plans = services.map((s) => ({
    service: s,
    unit: s.unit === null ? undefined : validUnit(s.unit),
    port: validPort(s.port) ? s.port : null,
    url: s.url === null ? undefined : checkableUrl(s.url, ct.ip),
  }));

  const units = [...new Set(plans.map((p) => p.unit).filter((u): u is string => typeof u === 'string'))];
  const unitStates = new Map<string, string>();
  let unitProblem: string | undefined;
  if (units.length) {
    const lines: string[] = [];
    const result = await shell.pctExec(ct.vmid, ['systemctl', 'is-active', ...units], opts(lines));
    // One line per unit, whatever the exit status (0 only says that at least one is active).
    if (lines.length === units.length) units.forEach((u, i) => unitStates.set(u, lines[i]!.trim()));
    else unitProblem = `systemctl is-active answered ${lines.length} lines for ${units.length} units (exit code ${result.exitCode})`;
  }

  let ports: Set<number> | undefined;
  let portProblem: string | undefined;
  if (plans.some((p) => p.port !== null)) {
    const lines: string[] = [];
    const result = await shell.pctExec(ct.vmid, ['ss', '-Htln'], opts(lines));
    if (result.exitCode === 0) ports = listeningPortsFrom(lines);
    else portProblem = `ss -Htln ended with exit code ${result.exitCode}`;
  }

  const healths: ServiceHealth[] = [];
  for (const plan of plans) {
    const s = plan.service;
    const checks: CheckOutcome[] = [];
    if (plan.unit === null) checks.push({ kind: 'unit', ok: false, words: `refused: “${s.unit}” is not a systemd unit name, so it was not asked about` });
    else if (plan.unit !== undefined) {
      checks.push(unitProblem ? { kind: 'unit', ok: false, words: `could not tell whether ${plan.unit} is active: ${unitProblem}` } : unitOutcome(plan.unit, unitStates.get(plan.unit) ?? ''));
    }
    if (plan.port === null) checks.push({ kind: 'port', ok: false, words: `refused: port ${s.port ?? '(none)'} is not a port number from 1 to 65535` });
    else checks.push(ports ? portOutcome(plan.port, ports.has(plan.port)) : { kind: 'port', ok: false, words: `could not tell whether anything listens on ${plan.port}: ${portProblem}` });
    // An address the node cannot fetch (ssh://…, another host) is the service's to advertise, not a failure.
    const notes = plan.url && 'refused' in plan.url ? [plan.url.refused] : [];
    if (plan.url && 'url' in plan.url) checks.push(await httpCheck(shell, plan.url.url, signal));
    healths.push({ name: s.name, port: s.port, unit: plan.unit ?? null, url: s.url, state: serviceState(checks), checks, ...(notes.length ? { notes } : {}) });
  }
  return { services: healths };
}

async function httpCheck(shell: NodeCommands, url: string, signal?: AbortSignal): Promise<CheckOutcome> {
  const out: string[] = [];
  const argv = ['curl', '-s', '-g', '--noproxy', '*', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '--max-time', String(HTTP_CHECK_TIMEOUT_S), url];
  const result: ExecResult = await shell.exec(argv, {
    timeoutMs: (HTTP_CHECK_TIMEOUT_S + 10) * 1000, signal, maxOutputChars: CAPTURED_OUTPUT_CHARS, onLine: (stream, text) => stream === 'stdout' && out.push(text),
  });
  return httpOutcome(url, out.join(''), result.exitCode);
}

/**
 * Checks one container now, if it may be checked (ready, with a CT, no action or build holding it) and has
 * services; stores the result and records a history entry when its overall state changed. Answers the stored
 * result, or why nothing was checked. `shell`: an open connection to its node (the build's); else one is opened.
 */
export async function runHealthCheck(
  deps: HealthCheckDeps,
  containerId: string,
  request: HealthRequest,
  options: HealthCheckOptions = {},
): Promise<HealthCheck | 'busy' | 'no-services'> {
  const [checkable] = await deps.repos.containers.healthCheckable(options.leaseStaleMs ?? 0, containerId);
  // The build's own check runs under its run lease, before the container is marked ready.
  const c = checkable ?? (options.duringBuild ? await deps.repos.containers.findById(containerId) : undefined);
  if (!c || c.vmid === null || c.nodeId === null) return 'busy';
  const services = await deps.repos.containerExtras.services(c.id);
  if (services.length === 0) return 'no-services';
  const node = await deps.repos.nodes.findById(c.nodeId);
  const result = await checkOnNode(deps, c, node, services, options);
  return storeResult(deps, c, { ...result, trigger: request.trigger, userId: request.userId });
}

export interface HealthCheckOptions {
  /** The node connection to use (the build's, or one the sweep shares among a node's checks); else one is opened. */
  connection?: () => Promise<NodeCommands>;
  /** A build is checking its own container: its run lease and lifecycle do not hold the check back. */
  duringBuild?: boolean;
  /** A run lease whose heartbeat is older than this is a dead run's and does not hold the check back. */
  leaseStaleMs?: number;
  signal?: AbortSignal;
}

async function checkOnNode(
  deps: HealthCheckDeps,
  c: Container,
  node: NodeRecord | undefined,
  services: ContainerService[],
  options: HealthCheckOptions,
): Promise<Pick<NewHealthCheck, 'state' | 'summary' | 'services'>> {
  const notChecked = (summary: string) => ({ state: 'not-checked' as const, summary, services: [] });
  if (!node) return notChecked('not checked: its node has been removed from Launchpad');
  if (node.isSimulator && !(await simulatorRunsCommands(deps.repos.settings))) {
    return notChecked(`not checked: node ${node.name} is the simulator without bubblewrap, where nothing runs inside CTs (${SANDBOX_FIX})`);
  }
  let own: NodeShell | undefined;
  try {
    // Nothing runs in a guest that is not this container's (ct-mark.ts); the build's own check knows its CT.
    if (!options.duringBuild) {
      const refused = await notOwnCt(deps, node, c);
      if (refused) return notChecked(`not checked: ${refused}`);
    }
    const shell = options.connection ? await options.connection() : (own = await NodeShell.connect(shellTargetFor(node, deps.secrets), { signal: options.signal }));
    const probed = await probeServices(shell, { vmid: c.vmid!, ip: c.ip }, services, options.signal);
    if ('notChecked' in probed) return notChecked(probed.notChecked);
    return { ...overallHealth(probed.services), services: probed.services };
  } catch (err) {
    deps.logger.warn({ err, containerId: c.id }, 'health check could not reach the node');
    return notChecked(`not checked: node ${node.name} could not be asked (${(err as Error).message})`);
  } finally {
    await own?.close().catch(() => undefined);
  }
}

/** Why the CT at the container's VMID may not be checked (gone, another guest's), or undefined when it is its own. One config read. */
async function notOwnCt(deps: HealthCheckDeps, node: NodeRecord, c: Container): Promise<string | undefined> {
  const api = proxmoxClientFor(node, deps.secrets);
  try {
    await confirmStillOwnCt(api, node.name, c, c.vmid!);
    return undefined;
  } catch (err) {
    if (err instanceof StepError) return err.message;
    throw err;
  } finally {
    api.close();
  }
}

async function storeResult(deps: HealthCheckDeps, c: Container, check: Omit<NewHealthCheck, 'containerId'>): Promise<HealthCheck> {
  const stored = await deps.repos.health.record({ ...check, containerId: c.id });
  if (check.state !== 'not-checked' && check.state !== stored.previous) {
    const user = check.userId === null ? undefined : await deps.repos.users.findById(check.userId);
    await deps.repos.history.record({
      containerId: c.id,
      kind: 'health',
      userId: user?.id ?? null,
      username: user?.username ?? null,
      attempt: null,
      outcome: check.state,
      summary: check.summary,
      details: { previous: stored.previous, trigger: check.trigger, services: check.services.map((s) => ({ name: s.name, state: s.state })) },
    });
  }
  await deps.usage?.announce(c);
  return { ...check, containerId: c.id, id: stored.id, checkedAt: stored.checkedAt };
}
