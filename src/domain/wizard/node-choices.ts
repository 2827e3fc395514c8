// What the selected node offers a new container: its downloaded OS templates, the storages that hold container
// disks, its bridges, the guests already on the cluster and the next free VMID — read live (lists through a cache of
// a few seconds, see node-list-cache.ts), so the wizard never suggests something the node does not have. A node
// that cannot be asked is not an error: the wizard says why and lets the person type the values by hand.
import type { Deps } from '../../deps.ts';
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import { CONTROL_CHARACTER } from '../../lib/control-characters.ts';
import { SecretBoxError } from '../../lib/secret-box.ts';
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import { ProxmoxConnectionError, ProxmoxError, ProxmoxTransientError } from '../../proxmox/errors.ts';
import { NodeNotReadyError, proxmoxClientFor } from '../nodes/node-access.ts';

export type WizardDeps = Pick<Deps, 'repos' | 'secrets' | 'nodeLists'>;

export interface NodeOption {
  id: number;
  name: string;
  isSimulator: boolean;
}

export interface StorageOption {
  storage: string;
  /** Free bytes, when the node reports them. */
  avail: number | undefined;
}

export interface BridgeOption {
  iface: string;
  active: boolean;
  comments: string | undefined;
}

/** A CT or VM somewhere on the cluster, by name (what a new hostname is compared with). */
export interface GuestName {
  name: string;
  vmid: number;
  node: string;
  type: 'lxc' | 'qemu';
}

export interface NodeChoices {
  nodes: NodeOption[];
  /** The selected node; undefined when none is configured or the reference matches none. */
  node: NodeRecord | undefined;
  /** Why the lists below are empty (node unreachable, not set up, unknown): shown above the fields. */
  problem: string | undefined;
  /** OS template volids (content `vztmpl`), sorted. */
  osTemplates: string[];
  /** Storages whose content includes `rootdir`. */
  storages: StorageOption[];
  /** Bridges a network device may use (Linux, OVS, SDN VNets), sorted. */
  bridges: BridgeOption[];
  /** Named guests on the cluster, by VMID; empty unless asked for (ProbeOptions.guests). */
  guests: GuestName[];
  /** Undefined when not asked for (ProbeOptions.nextId) or the node cannot be asked. */
  nextId: number | undefined;
}

/** A node by id (digits) or by name. */
export async function findNode(nodes: NodesRepository, ref: string): Promise<NodeRecord | undefined> {
  if (CONTROL_CHARACTER.test(ref)) return undefined; // no node name has one (and Postgres cannot compare NUL)
  if (/^[0-9]{1,9}$/.test(ref)) return (await nodes.findById(Number(ref))) ?? nodes.findByName(ref);
  return ref.length <= 255 ? nodes.findByName(ref) : undefined;
}

/** A client that gives up quickly: a person is waiting for the page. */
export function wizardClientFor(deps: WizardDeps, node: NodeRecord): ProxmoxClient {
  return proxmoxClientFor(node, deps.secrets, { requestTimeoutMs: 8_000, connectTimeoutMs: 4_000, retry: { attempts: 2, baseDelayMs: 200 } });
}

/** Errors that mean "this node cannot be asked right now", each with a message a person can act on. */
export function nodeProblem(node: NodeRecord, err: unknown): string | undefined {
  if (err instanceof ProxmoxConnectionError) return `Node ${node.name} cannot be reached: ${err.detail} at ${node.apiUrl}. Try again once it answers.`;
  if (err instanceof ProxmoxTransientError) return `Node ${node.name} cannot be reached: ${err.message}. Try again in a moment.`;
  if (err instanceof ProxmoxError || err instanceof NodeNotReadyError) return `Node “${node.name}” could not be asked: ${err.message}`;
  if (err instanceof SecretBoxError) return `Node “${node.name}”’s stored credentials cannot be opened (${err.message}). Open Nodes → ${node.name} and save the token again.`;
  return undefined;
}

/** A node with its choices loaded and its connection still open, for the checks that follow (is VMID N free?). */
export interface NodeProbe {
  choices: NodeChoices;
  /** undefined when the node cannot be asked (the caller accepts the typed value). */
  isVmidFree(vmid: number): Promise<boolean | undefined>;
  close(): void;
}

export interface ProbeOptions {
  /** Ask for the next free VMID: only needed when no VMID was typed (default true). */
  nextId?: boolean;
  /** List the cluster's guests, for the duplicate-hostname warning (default false). */
  guests?: boolean;
}

/** Named CTs and VMs of the cluster (through the cache), lowest VMID first. */
async function guestList(deps: WizardDeps, node: NodeRecord, api: ProxmoxClient): Promise<GuestName[]> {
  const guests = await deps.nodeLists.get(node.id, 'cluster/resources?type=vm', () => api.listClusterVms());
  return guests
    .filter((g): g is typeof g & { name: string } => !!g.name)
    .map((g) => ({ name: g.name, vmid: g.vmid, node: g.node, type: g.type }))
    .sort((a, b) => a.vmid - b.vmid);
}

/** The lists, each at most once per node every few seconds, and concurrent pages share one call. */
async function nodeLists(deps: WizardDeps, node: NodeRecord, api: ProxmoxClient, options: ProbeOptions) {
  const cached = <T>(endpoint: string, load: () => Promise<T>) => deps.nodeLists.get(node.id, endpoint, load);
  const [storages, bridges, guests] = await Promise.all([
    cached('storage?enabled=1', () => api.listStorages(node.name, { enabled: true })),
    cached('network?type=any_bridge', () => api.listBridges(node.name)),
    options.guests ? guestList(deps, node, api) : [],
  ]);
  // One storage list serves both needs: templates live on `vztmpl` storages, disks on `rootdir` ones. Unfiltered by
  // content it holds the whole cluster's storage.cfg: a storage restricted to other nodes comes back `enabled: 0`, one
  // whose server is down `active: 0`, and asking either for its contents is a 500 (pve-storage storage_info,
  // activate_storage). Only storages this node can use now are offered or asked.
  const usable = storages.filter((s) => s.enabled && s.active);
  const volumes = await Promise.all(
    usable
      .filter((s) => s.content.includes('vztmpl'))
      .map((s) => cached(`storage/${s.storage}/content?content=vztmpl`, () => api.listStorageContent(node.name, s.storage, 'vztmpl'))),
  );
  return {
    osTemplates: [...new Set(volumes.flat().map((v) => v.volid))].sort(),
    storages: usable.filter((s) => s.content.includes('rootdir')).map((s) => ({ storage: s.storage, avail: s.avail })),
    bridges: bridges.map((b) => ({ iface: b.iface, active: b.active, comments: b.comments })),
    guests,
  };
}

export async function probeNode(deps: WizardDeps, ref: string, options: ProbeOptions = {}): Promise<NodeProbe> {
  const all = await deps.repos.nodes.list();
  const nodes = all.map((n) => ({ id: n.id, name: n.name, isSimulator: n.isSimulator }));
  const node = ref ? await findNode(deps.repos.nodes, ref) : all[0];
  const choices: NodeChoices = { nodes, node, problem: undefined, osTemplates: [], storages: [], bridges: [], guests: [], nextId: undefined };
  const unreachable: NodeProbe = { choices, isVmidFree: async () => undefined, close: () => undefined };
  if (!node) {
    choices.problem = all.length ? `There is no node “${ref}”. Choose one of the configured nodes.` : 'No Proxmox node is configured yet. Add one under Nodes first.';
    return unreachable;
  }

  let client: ProxmoxClient | undefined;
  try {
    client = wizardClientFor(deps, node);
    const api = client;
    const [lists, nextId] = await Promise.all([nodeLists(deps, node, api, options), options.nextId === false ? undefined : api.nextId()]);
    Object.assign(choices, lists, { nextId });
  } catch (err) {
    client?.close();
    choices.problem = nodeProblem(node, err);
    if (choices.problem === undefined) throw err;
    return unreachable;
  }
  const open = client;
  return {
    choices,
    async isVmidFree(vmid) {
      try {
        return await open.isVmidFree(vmid);
      } catch (err) {
        if (nodeProblem(node, err) === undefined) throw err;
        return undefined;
      }
    },
    close: () => open.close(),
  };
}

export async function loadNodeChoices(deps: WizardDeps, ref: string, options: ProbeOptions = {}): Promise<NodeChoices> {
  const probe = await probeNode(deps, ref, options);
  probe.close();
  return probe.choices;
}

/** “web-2 already exists on pve as CT 101 — deploy another?”: Proxmox allows it, so this is a warning, never a refusal. */
export function hostnameInUse(guests: GuestName[], hostname: string): string | undefined {
  const wanted = hostname.toLowerCase();
  const guest = wanted ? guests.find((g) => g.name.toLowerCase() === wanted) : undefined;
  return guest && `${hostname} already exists on ${guest.node} as ${guest.type === 'lxc' ? 'CT' : 'VM'} ${guest.vmid} — deploy another?`;
}

/** The same question for the live check beside the Hostname field: only the guest list is read; silent when the node cannot be asked. */
export async function hostnameWarningOn(deps: WizardDeps, ref: string, hostname: string): Promise<string | undefined> {
  const node = ref ? await findNode(deps.repos.nodes, ref) : undefined;
  if (!node || !hostname) return undefined;
  let client: ProxmoxClient | undefined;
  try {
    client = wizardClientFor(deps, node);
    return hostnameInUse(await guestList(deps, node, client), hostname);
  } catch (err) {
    if (nodeProblem(node, err) === undefined) throw err;
    return undefined;
  } finally {
    client?.close();
  }
}
