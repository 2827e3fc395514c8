// What the container page shows, read consistently up to one seq so the live stream can continue from exactly there.
import { ansiToText } from '../progress/ansi-html.ts';
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { ContainerExtrasRepository, ContainerService } from '../../db/container-extras-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import type { HealthRepository } from '../../db/health-repository.ts';
import type { HistoryRepository } from '../../db/history-repository.ts';
import type { NodesRepository } from '../../db/nodes-repository.ts';
import type { UsersRepository } from '../../db/users-repository.ts';
import type { ContainerConfig } from './container-config.ts';
import { ForbiddenError, NotFoundError } from '../../lib/errors.ts';
import { specsByManager } from '../package-sets/package-set.ts';
import { serviceLink } from '../templates/helper-library.ts';
import { phaseLabel, type ProgressSnapshot, snapshotFrom } from '../progress/phases.ts';
import { isSettled } from '../progress/progress-feed.ts';
import { availableActions, type ContainerAction } from './available-actions.ts';
import { liveStatusOf, removedNodeLabel, type LiveStatusDeps } from './container-list.ts';
import { hasCtOnNode, type Container, type LiveStatus, type Viewer } from './container.ts';
import { mayActOn, seesEveryContainer } from '../roles.ts';
import type { ContainerEvent } from './container-event.ts';
import { usageView, type UsageSnapshot, type UsageView } from '../usage/usage.ts';
import { containerHistory, type HistoryPage } from '../history/history-pages.ts';
import { healthView, type HealthView } from '../health/health-view.ts';

/** At most this many log lines go into the page's DOM; earlier ones are a link away (and all are in log.txt). */
export const LOG_LINES_IN_PAGE = 5000;

export interface ContainerPageDeps {
  containers: ContainersRepository;
  events: EventsRepository;
  nodes: NodesRepository;
  containerExtras: ContainerExtrasRepository;
  history: HistoryRepository;
  health: HealthRepository;
  users: Pick<UsersRepository, 'usernames'>;
}

export async function findVisibleContainer(deps: { containers: ContainersRepository }, viewer: Viewer, id: string): Promise<Container> {
  const container = await deps.containers.findVisible(id, viewer);
  if (!container) throw new NotFoundError('That container');
  return container;
}

/**
 * The container if this user may act on it (see roles.ts): a viewer may look at every container and act on none.
 * The route tables already answer 403 to a viewer; this keeps the rule true for any other caller.
 */
export async function findContainerToActOn(deps: { containers: ContainersRepository }, viewer: Viewer, id: string): Promise<Container> {
  const container = await findVisibleContainer(deps, viewer, id);
  if (!mayActOn(viewer, container.ownerId)) throw new ForbiddenError(`Acting on a container needs the operator role (its owner) or admin; you are a ${viewer.role}.`);
  return container;
}

/**
 * Everything on the container page that shows the container's state: the heading line (VMID, attempt), the header
 * badge, the stepper, the status panel with its actions, the configuration (VMID, finish time) and the log's line
 * count. The page and the stream's final message render it through the same function
 * (src/http/container-fragments.ts), so what arrives live is what a reload shows.
 */
export interface ContainerStateView {
  container: Container;
  nodeName: string;
  /** Its owner's username. */
  owner: string;
  /** href: the link to open the service, only for http(s) addresses; any other address is shown as text. */
  services: Array<ContainerService & { href: string | null }>;
  credentialKeys: string[];
  /** Whether the person looking may reveal them (the owner or an admin; never a viewer). */
  mayReveal: boolean;
  failedPhase: string;
  lastLines: ContainerEvent[];
  /** What Proxmox says right now (asked for a built container when the caller can reach its node). */
  ctStatus?: LiveStatus;
  progress: ProgressSnapshot;
  actions: ContainerAction[];
  /**
   * “Deploy again” (the wizard with its settings) in the heading: for someone who may deploy, on a built or destroyed
   * container the wizard made. A failed or cancelled build offers it beside Retry instead.
   */
  deployAgain: boolean;
  config: ConfigSummaryItem[];
  /** Live usage, for a built container with a CT (undefined: the page shows no usage panel). */
  usage?: UsageView;
  /**
   * Which stream the page keeps open: the build's progress, the built CT's usage, the quiet watch of a failed or
   * cancelled build or of a built one whose CT is gone or a template (it speaks once something happens to the
   * container: src/http/watch-stream.ts), or none (a destroyed container).
   */
  stream: 'progress' | 'usage' | 'watch' | 'none';
  /** Its services' health: the last check, per service, with "Check now" for those who may act on it. */
  health: HealthView;
  /** The first page of its history, all kinds (the section links to the rest). */
  history: HistoryPage;
}

/** Where the page's live values come from: the usage monitor's last snapshot of a container. */
export type UsageSource = (containerId: string) => Promise<UsageSnapshot>;

/** A failed or cancelled build: its page watches for a Retry, a Destroy or a Forget (by anyone) without polling. */
export const isStoppedBuild = (c: Pick<Container, 'lifecycle'>) => c.lifecycle === 'failed' || c.lifecycle === 'cancelled';

/**
 * A page with nothing to follow but what someone may do to the container: a stopped build (Retry, Destroy, Forget), or
 * a built one whose CT is gone or a template (Forget, Destroy) — it keeps the quiet watch stream.
 */
export const isWatchedQuietly = (c: Pick<Container, 'lifecycle'>) => isStoppedBuild(c) || c.lifecycle === 'ready';

/** A built container whose CT exists shows live usage (and keeps a stream open for it). */
export const showsUsage = (c: Pick<Container, 'lifecycle' | 'vmid' | 'nodeId'>) => c.lifecycle === 'ready' && c.vmid !== null && c.nodeId !== null;

export interface StateOptions {
  uptoSeq?: number;
  liveStatus?: LiveStatusDeps;
  /** What the node said at the last usage poll, instead of asking it again (the usage stream's re-render). */
  status?: LiveStatus;
  usage?: UsageSource;
  /** Runs each database read (a stream's last message shares the replays' connection limit); else they all run at once. */
  limit?: <T>(query: () => Promise<T>) => Promise<T>;
}

/**
 * What a container's page shows that does not depend on who looks, read in one go: shaped for a viewer by stateFor.
 * Many viewers of one change (a build's end, replayed by a hundred at once) can share one read.
 */
export interface ContainerFacts {
  container: Container;
  nodeName: string;
  /** Its owner's username. */
  owner: string;
  services: ContainerService[];
  credentialKeys: string[];
  lastLines: ContainerEvent[];
  ctStatus?: LiveStatus;
  progress: ProgressSnapshot;
  usage?: UsageView;
  wantsUsage: boolean;
  latestHealth: Awaited<ReturnType<HealthRepository['latest']>>;
  history: HistoryPage;
}

/**
 * The container's facts as of `uptoSeq` (its newest event when left out). liveStatus: how to ask the node what a
 * built container is doing (left out, no live status is shown and no power action offered).
 */
export async function loadContainerFacts(deps: ContainerPageDeps, container: Container, options: StateOptions = {}): Promise<ContainerFacts> {
  const wantsUsage = options.usage !== undefined && showsUsage(container);
  const read = options.limit ?? (<T>(query: () => Promise<T>) => query());
  const [node, owners, services, credentialKeys, lastLines, lastProgress, ctStatus, usage, latestHealth, history] = await Promise.all([
    read(() => deps.nodes.findById(container.nodeId)),
    read(() => deps.users.usernames([container.ownerId])),
    read(() => deps.containerExtras.services(container.id)),
    read(() => deps.containerExtras.credentialKeys(container.id)),
    isStoppedBuild(container)
      ? read(() => deps.events.logEntries(container.id, { afterSeq: Math.max(0, container.lastSeq - 40), limit: 40 }))
      : Promise.resolve([]),
    read(() => deps.events.lastProgressEvent(container.id, options.uptoSeq)),
    options.status
      ? Promise.resolve(options.status)
      : options.liveStatus && hasCtOnNode(container.lifecycle) ? liveStatusOf(options.liveStatus, container) : Promise.resolve(undefined),
    wantsUsage ? options.usage!(container.id) : Promise.resolve(undefined),
    container.lifecycle === 'ready' ? read(() => deps.health.latest(container.id)) : Promise.resolve(undefined),
    read(() => containerHistory(deps, container.id, { page: 1 })),
  ]);
  return {
    container,
    nodeName: node?.name ?? removedNodeLabel(container),
    owner: owners.get(container.ownerId) ?? `user ${container.ownerId}`,
    services,
    credentialKeys,
    // Quoted as plain text: without the colour codes the log renders.
    lastLines: lastLines.filter((e) => e.kind === 'log').slice(-15).map((e) => ({ ...e, text: e.text && ansiToText(e.text) })),
    ctStatus,
    progress: snapshotFrom(lastProgress, container.lifecycle),
    usage: usage && usageView(usage, Date.now()),
    wantsUsage,
    latestHealth,
    history,
  };
}

/** The facts as this viewer sees them: what they may reveal, which actions and checks they are offered. */
export function stateFor(facts: ContainerFacts, viewer: Viewer): ContainerStateView {
  const { container, nodeName, ctStatus } = facts;
  // No CT of its own on the node (removed, never made, or its VMID another guest's): no usage to show or follow — the
  // monitor polls by VMID and would show the other guest's. A template never runs: nothing to measure either.
  const gone = ctStatus?.state === 'missing' || ctStatus?.state === 'not-created' || ctStatus?.state === 'template';
  return {
    container,
    nodeName,
    owner: facts.owner,
    services: facts.services.map((s) => ({ ...s, href: serviceLink(s.url) })),
    credentialKeys: facts.credentialKeys,
    mayReveal: mayActOn(viewer, container.ownerId),
    failedPhase: phaseLabel(container.currentStep),
    lastLines: facts.lastLines,
    ctStatus,
    progress: facts.progress,
    actions: availableActions(container, ctStatus, viewer),
    // Who may act on a container may deploy (an operator sees only their own): streams render per that, too.
    deployAgain: mayActOn(viewer, container.ownerId) && Boolean(container.config.ostemplate) && (container.lifecycle === 'ready' || container.lifecycle === 'destroyed'),
    // Whose it is, for those who see everyone's containers (an operator sees only their own).
    config: configSummary(container, nodeName, seesEveryContainer(viewer.role) ? facts.owner : undefined),
    usage: gone ? undefined : facts.usage,
    stream: !isSettled(container) ? 'progress' : facts.wantsUsage && !gone ? 'usage' : isStoppedBuild(container) || (container.lifecycle === 'ready' && gone) ? 'watch' : 'none',
    health: healthView(container, facts.services, facts.latestHealth, ctStatus, mayActOn(viewer, container.ownerId)),
    history: facts.history,
  };
}

/** The container's state for one viewer (see loadContainerFacts). */
export async function loadContainerState(deps: ContainerPageDeps, container: Container, viewer: Viewer, options: StateOptions = {}): Promise<ContainerStateView> {
  return stateFor(await loadContainerFacts(deps, container, options), viewer);
}

export interface ContainerPageView extends ContainerStateView {
  logEntries: ContainerEvent[];
  /** The page shows everything up to this seq; the stream resumes after it. */
  renderedSeq: number;
  /** Line number of the first line in the page when earlier ones were left out. */
  firstLineShown: number | undefined;
  live: boolean;
}

export interface ConfigSummaryItem {
  label: string;
  value: string;
}

/** The configuration a container was built with, as label/value lines (what the wizard chose; fields it lacks are left out). */
export function configSummary(container: Container, nodeName: string, owner?: string): ConfigSummaryItem[] {
  const c = container.config as Partial<ContainerConfig>;
  const osFile = c.ostemplate?.slice(c.ostemplate.indexOf('/') + 1);
  const network = c.bridge && c.ip ? `eth0 on ${c.bridge}, ${c.ip === 'dhcp' ? 'DHCP' : c.ip}${c.gateway ? ` via ${c.gateway}` : ''}` : undefined;
  const features = c.unprivileged === undefined ? undefined : [c.unprivileged ? 'unprivileged' : 'privileged', c.nesting ? 'nesting' : undefined, c.onboot ? 'starts at boot' : undefined].filter(Boolean).join(', ');
  const at = (d: Date | null) => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : undefined);
  const items: Array<[string, string | number | undefined | null]> = [
    ['Owner', owner],
    ['Template', c.templateName === undefined ? undefined : (c.templateName ?? 'from scratch')],
    ['OS template', osFile],
    ['Node', nodeName],
    ['VMID', container.vmid],
    ['Cores', c.cores],
    ['Memory', c.memory === undefined ? undefined : `${c.memory} MiB${c.swap !== undefined ? ` + ${c.swap} MiB swap` : ''}`],
    ['Disk', c.disk === undefined ? undefined : `${c.disk} GiB${c.storage ? ` on ${c.storage}` : ''}`],
    ['Network', network],
    ['DNS server', c.ip === undefined ? undefined : (c.nameserver ?? 'from the node')],
    ['Features', features],
    ['Tags', c.tags?.length ? c.tags.join(', ') : undefined],
    ['Package sets', c.packageSets?.length ? c.packageSets.join(', ') : undefined],
    // The lists resolved at Deploy: what was installed, whatever the sets hold today.
    ...specsByManager(c.resolvedPackages ?? []).map((g): [string, string] => [`${g.manager} packages`, g.packages.join(' ')]),
    ['Created', at(container.createdAt)],
    ['Finished', at(container.finishedAt)],
  ];
  return items.filter((i): i is [string, string | number] => i[1] !== undefined && i[1] !== null).map(([label, value]) => ({ label, value: String(value) }));
}

export async function loadContainerPage(
  deps: ContainerPageDeps,
  viewer: Viewer,
  id: string,
  /** liveStatus: how to ask the node what a ready container is doing (left out, the page shows no live status). */
  options: { fromLine?: number; liveStatus?: LiveStatusDeps; usage?: UsageSource } = {},
): Promise<ContainerPageView> {
  const container = await findVisibleContainer(deps, viewer, id);
  const upto = container.lastSeq;
  const afterSeq =
    options.fromLine !== undefined
      ? undefined
      : container.lastLineNo > LOG_LINES_IN_PAGE
        ? await deps.events.seqOfTail(container.id, LOG_LINES_IN_PAGE, upto)
        : 0;
  const [state, logEntries] = await Promise.all([
    loadContainerState(deps, container, viewer, { uptoSeq: upto, liveStatus: options.liveStatus, usage: options.usage }),
    deps.events.logEntries(container.id, { afterSeq, uptoSeq: upto, fromLine: options.fromLine, limit: LOG_LINES_IN_PAGE + 100 }),
  ]);
  const firstLine = logEntries.find((e) => e.kind === 'log')?.lineNo ?? undefined;
  return {
    ...state,
    logEntries,
    renderedSeq: options.fromLine !== undefined ? (logEntries.at(-1)?.seq ?? upto) : upto,
    firstLineShown: firstLine !== undefined && firstLine > 1 ? firstLine : undefined,
    live: !isSettled(container) && options.fromLine === undefined,
    // A page showing an older part of the log (?from=) is a document to read: it opens no stream.
    stream: options.fromLine === undefined ? state.stream : 'none',
  };
}
