// The containers list: our rows from Postgres merged with what each node says right now — one
// `GET /cluster/resources?type=vm` per node connection, all in parallel, each with a short timeout. A node that does
// not answer makes its containers "unknown" (with the reason), never the page fail. Only rows Launchpad created are
// listed: guests it did not create are never shown, matched or acted on.
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { HealthRepository } from '../../db/health-repository.ts';
import type { UsersRepository } from '../../db/users-repository.ts';
import { seesEveryContainer } from '../roles.ts';
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { ClusterVmResource } from '../../proxmox/api-types.ts';
import { proxmoxClientFor } from '../nodes/node-access.ts';
import { CtMovedError, MARK_TAG, mayBeOwnConfig } from '../pipeline/ct-mark.ts';
import { CtIsTemplateError } from '../pipeline/pipeline-errors.ts';
import { availableActions, type ContainerAction } from './available-actions.ts';
import { healthListText } from '../health/health-view.ts';
import type { HealthState } from '../health/service-health.ts';
import { hasCtOnNode, type Container, type Viewer, type LiveStatus } from './container.ts';

export interface LiveStatusDeps {
  repos: { nodes: NodesRepository };
  secrets: SecretBox;
}

/** How long one node may take to answer before its containers show "unknown". */
export const LIVE_STATUS_TIMEOUT_MS = 3000;

/** Lifecycles worth asking the node about at all. */
const ASK_NODE = new Set<string>(['ready', 'failed', 'cancelled', 'creating', 'destroying']);

/** The live status of each container (by id), asking each node once, in parallel. */
export async function liveStatuses(
  deps: LiveStatusDeps,
  containers: readonly Container[],
  options: { timeoutMs?: number } = {},
): Promise<Map<string, LiveStatus>> {
  const result = new Map<string, LiveStatus>();
  const byNode = new Map<number, Container[]>();
  for (const c of containers) {
    if (c.vmid === null || c.nodeId === null || !ASK_NODE.has(c.lifecycle)) {
      result.set(c.id, { state: 'none' });
      continue;
    }
    byNode.set(c.nodeId, [...(byNode.get(c.nodeId) ?? []), c]);
  }
  const timeoutMs = options.timeoutMs ?? LIVE_STATUS_TIMEOUT_MS;
  await Promise.all(
    [...byNode].map(async ([nodeId, ours]) => {
      const answer = await askNode(deps, nodeId, ours, timeoutMs);
      for (const c of ours) result.set(c.id, 'reason' in answer ? { state: 'unknown', reason: answer.reason } : answer.get(c.id)!);
    }),
  );
  return result;
}

/** How a container whose node connection is gone names that node: by the name it had, when it was recorded. */
export const removedNodeLabel = (c: Container) => (c.removedNodeName ? `${c.removedNodeName} (removed)` : '(removed node)');

export async function liveStatusOf(deps: LiveStatusDeps, container: Container, options: { timeoutMs?: number } = {}): Promise<LiveStatus> {
  return (await liveStatuses(deps, [container], options)).get(container.id)!;
}

/**
 * One node's answer for its containers: the cluster's guest list, then — only for a guest at one of our VMIDs that
 * does not look like ours (another name, no `launchpad` tag) or sits on another node — its config, whose mark
 * decides (ct-mark.ts). So a CT renamed or retagged in the Proxmox UI is still ours, and one migrated to another
 * node is shown as moved, not as gone.
 */
async function askNode(
  deps: LiveStatusDeps,
  nodeId: number,
  ours: readonly Container[],
  timeoutMs: number,
): Promise<Map<string, LiveStatus> | { reason: string }> {
  let node: NodeRecord | undefined;
  try {
    node = await deps.repos.nodes.findById(nodeId);
    if (!node) return { reason: 'Its node has been removed from Launchpad.' };
    const nodeName = node.name;
    const api = proxmoxClientFor(node, deps.secrets, { requestTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs, retry: { attempts: 1 } });
    try {
      const answered = (what: string) => `${what} did not answer within ${Math.round(timeoutMs / 100) / 10} s.`;
      const guests = await withTimeout(api.listClusterVms(), timeoutMs, answered(nodeName));
      const statuses = new Map<string, LiveStatus>();
      await Promise.all(
        ours.map(async (c) => {
          const guest = guests.find((g) => g.type === 'lxc' && g.vmid === c.vmid);
          if (!guest || (guest.node === nodeName && looksOurs(c, guest))) return void statuses.set(c.id, match(c, nodeName, guest));
          try {
            const config = await withTimeout(api.getLxcConfig(guest.node, guest.vmid), timeoutMs, answered(guest.node));
            statuses.set(c.id, mayBeOwnConfig(config, c) ? ownGuest(c, nodeName, guest) : anotherGuest(c, guest));
          } catch (err) {
            statuses.set(c.id, { state: 'unknown', reason: `${guest.node}: ${err instanceof Error ? err.message : String(err)}` });
          }
        }),
      );
      return statuses;
    } finally {
      api.close();
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { reason: node ? `${node.name}: ${message}` : message };
  }
}

/** Our hostname once Proxmox names the guest, and — for a container created with Launchpad's mark — the `launchpad` tag. */
const looksOurs = (container: Container, guest: ClusterVmResource) =>
  (guest.name === undefined || guest.name === container.hostname) && (!container.marksCt || guest.tags.includes(MARK_TAG));

/** Our container in the node's answer, when the guest at its VMID (if any) looks like ours. */
function match(container: Container, nodeName: string, guest: ClusterVmResource | undefined): LiveStatus {
  if (!guest) {
    if (!hasCtOnNode(container.lifecycle)) return { state: 'none' };
    // Only a create task the node started (its UPID is stored) can have made a CT.
    if (container.marksCt && !container.createUpid) {
      const why = container.createRequestedAt ? 'the node never started the create task Launchpad asked for' : 'the build stopped before a create request was sent';
      return { state: 'not-created', reason: `CT ${container.vmid} was never created on ${nodeName}: ${why}. Retry builds it; Forget drops this entry.` };
    }
    // A build that failed or was cancelled while its create task ran: Proxmox removes what an unfinished create made.
    if (container.lifecycle !== 'ready' && container.currentStep === 'creating') {
      return { state: 'not-created', reason: `CT ${container.vmid} is not on ${nodeName}: its create task did not finish, and Proxmox removed what it had made. Retry builds it; Forget drops this entry.` };
    }
    return { state: 'missing', reason: `${nodeName} answered, but CT ${container.vmid} is not there: it was removed outside Launchpad.` };
  }
  return ownGuest(container, nodeName, guest);
}

/** The guest is this container's CT: its status, or — on another node than Launchpad made it on — why it is left alone. */
function ownGuest(container: Container, nodeName: string, guest: ClusterVmResource): LiveStatus {
  if (guest.node !== nodeName) return { state: 'unknown', reason: new CtMovedError(guest.vmid, nodeName, guest.node).message, lock: guest.lock, movedTo: guest.node };
  if (guest.template) return templateStatus(guest.vmid);
  if (guest.status === 'running' || guest.status === 'stopped') {
    return { state: guest.status, uptime: guest.status === 'running' ? guest.uptime : undefined, lock: guest.lock };
  }
  return { state: 'unknown', reason: `${guest.node} has no statistics for CT ${container.vmid} yet (status “${guest.status}”).`, lock: guest.lock };
}

/** Our CT, converted to a template in Proxmox: what the list, the page and the page's usage stream say about it. */
export const templateStatus = (vmid: number): LiveStatus => ({ state: 'template', reason: new CtIsTemplateError(vmid).message });

function anotherGuest(container: Container, guest: ClusterVmResource): LiveStatus {
  if (!hasCtOnNode(container.lifecycle)) return { state: 'none' };
  return { state: 'missing', reason: `VMID ${container.vmid} on ${guest.node} now belongs to another guest (“${guest.name ?? `CT ${guest.vmid}`}”); this container is gone. Launchpad leaves that guest alone.` };
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

// --- the list page -------------------------------------------------------------------------------------------------

export const LIST_FILTERS = ['all', 'running', 'stopped', 'creating', 'failed', 'unhealthy'] as const;
export type ListFilter = (typeof LIST_FILTERS)[number];
export const LIST_SORTS = ['created', 'name', 'status'] as const;
export type ListSort = (typeof LIST_SORTS)[number];

export interface ContainerListRow {
  container: Container;
  nodeName: string;
  /** Its owner's username. */
  owner: string;
  live: LiveStatus;
  /** What the row offers: the same as the container's page. */
  actions: ContainerAction[];
  /** Its services' health in a few words ("2/3 services healthy"); undefined when never checked. */
  health?: { state: HealthState; text: string };
}

export interface ContainerListView {
  rows: ContainerListRow[];
  /** An Owner column, for those who see everyone's containers (an operator's list holds only their own). */
  showOwner: boolean;
  filter: ListFilter;
  sort: ListSort;
  /** How many containers each filter shows (for the filter links). */
  counts: Record<ListFilter, number>;
}

export interface ContainerListDeps extends LiveStatusDeps {
  repos: { containers: ContainersRepository; nodes: NodesRepository; health: HealthRepository; users: Pick<UsersRepository, 'usernames'> };
}

const oneOf = <T extends string>(values: readonly T[], value: unknown, fallback: T): T =>
  values.includes(value as T) ? (value as T) : fallback;

const MATCHES: Record<ListFilter, (row: ContainerListRow) => boolean> = {
  all: () => true,
  running: (r) => r.live.state === 'running',
  stopped: (r) => r.live.state === 'stopped',
  creating: (r) => r.container.lifecycle === 'queued' || r.container.lifecycle === 'creating',
  failed: (r) => r.container.lifecycle === 'failed',
  // A service checked and found degraded or down (a stopped CT's services are not checked, so never unhealthy).
  unhealthy: (r) => r.health?.state === 'degraded' || r.health?.state === 'down',
};

/** Sort order of the status column: what runs first, then what needs attention, then the rest. */
function statusRank(row: ContainerListRow): number {
  const { lifecycle } = row.container;
  if (lifecycle === 'ready') return { running: 0, stopped: 1, template: 4, missing: 4, 'not-created': 4, unknown: 5, none: 5 }[row.live.state];
  if (lifecycle === 'queued' || lifecycle === 'creating') return 2;
  if (lifecycle === 'failed' || lifecycle === 'cancelled') return 3;
  return 6;
}

const COMPARE: Record<ListSort, (a: ContainerListRow, b: ContainerListRow) => number> = {
  created: (a, b) => b.container.createdAt.getTime() - a.container.createdAt.getTime(),
  name: (a, b) => a.container.hostname.localeCompare(b.container.hostname) || COMPARE.created(a, b),
  status: (a, b) => statusRank(a) - statusRank(b) || COMPARE.name(a, b),
};

/** The visible containers with their live status, filtered and sorted as the query asks (unknown values: defaults). */
export async function loadContainerList(
  deps: ContainerListDeps,
  viewer: Viewer,
  query: { filter?: unknown; sort?: unknown },
  options: { timeoutMs?: number } = {},
): Promise<ContainerListView> {
  const filter = oneOf(LIST_FILTERS, query.filter, 'all');
  const sort = oneOf(LIST_SORTS, query.sort, 'created');
  const [containers, nodes] = await Promise.all([deps.repos.containers.listVisible(viewer), deps.repos.nodes.list()]);
  const names = new Map(nodes.map((n) => [n.id, n.name]));
  const [live, health, owners] = await Promise.all([
    liveStatuses(deps, containers, options),
    deps.repos.health.latestOf(containers.filter((c) => c.lifecycle === 'ready').map((c) => c.id)),
    deps.repos.users.usernames(containers.map((c) => c.ownerId)),
  ]);
  const all = containers.map((container) => {
    const status = live.get(container.id)!;
    const nodeName = (container.nodeId !== null && names.get(container.nodeId)) || removedNodeLabel(container);
    return { container, nodeName, owner: owners.get(container.ownerId) ?? `user ${container.ownerId}`, live: status, actions: availableActions(container, status, viewer), health: healthListText(container, health.get(container.id), status) };
  });
  const counts = Object.fromEntries(LIST_FILTERS.map((f) => [f, all.filter(MATCHES[f]).length])) as Record<ListFilter, number>;
  return { rows: all.filter(MATCHES[filter]).sort(COMPARE[sort]), showOwner: seesEveryContainer(viewer.role), filter, sort, counts };
}
