// What the selected node offers a new container: its downloaded OS templates, the storages that hold container
// disks, and the next free VMID — read live, so the wizard never suggests something the node does not have. A node
// that cannot be asked is not an error: the wizard says why and lets the person type the values by hand.
import type { Deps } from '../../deps.ts';
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import { SecretBoxError } from '../../lib/secret-box.ts';
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import { ProxmoxError } from '../../proxmox/errors.ts';
import { NodeNotReadyError, proxmoxClientFor } from '../nodes/node-access.ts';

export type WizardDeps = Pick<Deps, 'repos' | 'secrets'>;

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
  nextId: number | undefined;
}

/** A node by id (digits) or by name. */
export async function findNode(nodes: NodesRepository, ref: string): Promise<NodeRecord | undefined> {
  if (/^[0-9]{1,9}$/.test(ref)) return (await nodes.findById(Number(ref))) ?? nodes.findByName(ref);
  return ref.length <= 255 ? nodes.findByName(ref) : undefined;
}

/** A client that gives up quickly: a person is waiting for the page. */
export function wizardClientFor(deps: WizardDeps, node: NodeRecord): ProxmoxClient {
  return proxmoxClientFor(node, deps.secrets, { requestTimeoutMs: 8_000, connectTimeoutMs: 4_000, retry: { attempts: 2, baseDelayMs: 200 } });
}

/** Errors that mean "this node cannot be asked right now", each with a message a person can act on. */
export function nodeProblem(node: NodeRecord, err: unknown): string | undefined {
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

export async function probeNode(deps: WizardDeps, ref: string): Promise<NodeProbe> {
  const all = await deps.repos.nodes.list();
  const nodes = all.map((n) => ({ id: n.id, name: n.name, isSimulator: n.isSimulator }));
  const node = ref ? await findNode(deps.repos.nodes, ref) : all[0];
  const choices: NodeChoices = { nodes, node, problem: undefined, osTemplates: [], storages: [], nextId: undefined };
  const unreachable: NodeProbe = { choices, isVmidFree: async () => undefined, close: () => undefined };
  if (!node) {
    choices.problem = all.length ? `There is no node “${ref}”. Choose one of the configured nodes.` : 'No Proxmox node is configured yet. Add one under Nodes first.';
    return unreachable;
  }

  let client: ProxmoxClient | undefined;
  try {
    client = wizardClientFor(deps, node);
    const [osTemplates, storages, nextId] = await Promise.all([
      client.listOsTemplates(node.name),
      client.listStorages(node.name, { content: 'rootdir', enabled: true }),
      client.nextId(),
    ]);
    choices.osTemplates = [...new Set(osTemplates.map((v) => v.volid))].sort();
    choices.storages = storages.filter((s) => s.content.includes('rootdir')).map((s) => ({ storage: s.storage, avail: s.avail }));
    choices.nextId = nextId;
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

export async function loadNodeChoices(deps: WizardDeps, ref: string): Promise<NodeChoices> {
  const probe = await probeNode(deps, ref);
  probe.close();
  return probe.choices;
}
