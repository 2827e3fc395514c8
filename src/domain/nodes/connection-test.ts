// "Test connection": everything Launchpad will need from a node, tried once — the API (version, cluster nodes,
// storages, OS templates) and SSH (host key, login, root) — with each failure named and paired with what to do about it.
import type { NodeRecord } from '../../db/nodes-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { NodeShell } from '../../proxmox/node-shell.ts';
import { NodeCommandError, NotRootError } from '../../proxmox/ssh-errors.ts';
import type { PveNode, PveStorage, PveVersion, StorageVolume } from '../../proxmox/api-types.ts';
import { proxmoxClientFor, shellTargetFor } from './node-access.ts';
import { problemFor, type Problem, type ProblemContext } from './node-problems.ts';

export interface ApiCheck {
  version?: PveVersion;
  clusterNodes?: PveNode[];
  /** False when the cluster has no node with this connection's name (its storages cannot be listed then). */
  nameFound?: boolean;
  storages?: PveStorage[];
  osTemplates?: StorageVolume[];
  warnings: string[];
  problem?: Problem;
}

export interface SshCheck {
  /** `user@host:port`, once signed in. */
  signedInAs?: string;
  hostKeyFingerprint?: string;
  problem?: Problem;
}

export interface ConnectionReport {
  nodeId: number;
  nodeName: string;
  testedAt: Date;
  ok: boolean;
  api: ApiCheck;
  ssh: SshCheck;
}

const API_TIMEOUTS = { connectTimeoutMs: 6_000, requestTimeoutMs: 15_000, retry: { attempts: 1 } };
const SSH_READY_TIMEOUT_MS = 10_000;

export async function testConnection(deps: { secrets: SecretBox }, node: NodeRecord): Promise<ConnectionReport> {
  const [api, ssh] = await Promise.all([checkApi(deps.secrets, node), checkSsh(deps.secrets, node)]);
  return { nodeId: node.id, nodeName: node.name, testedAt: new Date(), ok: !api.problem && !ssh.problem, api, ssh };
}

async function checkApi(secrets: SecretBox, node: NodeRecord): Promise<ApiCheck> {
  const check: ApiCheck = { warnings: [] };
  let client: ProxmoxClient | undefined;
  try {
    client = proxmoxClientFor(node, secrets, API_TIMEOUTS);
    check.version = await client.getVersion();
    check.problem = unsupportedVersion(check.version);
    if (check.problem) return check;
    check.clusterNodes = await client.listNodes();
    check.nameFound = check.clusterNodes.some((n) => n.node === node.name);
    if (!check.nameFound) {
      const names = check.clusterNodes.map((n) => n.node).join(', ') || 'none';
      check.warnings.push(`The cluster has no node called “${node.name}” (it has: ${names}). The name is used in every API path (/nodes/${node.name}/…), so rename this connection to the Proxmox node name.`);
      return check;
    }
    check.storages = await client.listStorages(node.name);
    check.osTemplates = await client.listOsTemplates(node.name);
    const diskStorages = check.storages.filter((s) => s.enabled && s.content.includes('rootdir'));
    if (diskStorages.length === 0) {
      check.warnings.push('No enabled storage on this node accepts container disks (content “rootdir”); add one under Datacenter → Storage.');
    } else if (!diskStorages.some((s) => s.active)) {
      // storage_info lists a storage it cannot activate (an unmounted share, a missing pool or volume group) `active: 0`;
      // the wizard offers only active ones, and a create on it fails (pve-storage Storage.pm activate_storage).
      const names = diskStorages.map((s) => s.storage).join(', ');
      check.warnings.push(`No storage for container disks is active on this node: ${names} accepts them (content “rootdir”) but is not active, so nothing can be created. Check it on the node (pvesm status), or add another under Datacenter → Storage.`);
    }
    if (check.osTemplates.length === 0) {
      check.warnings.push('No OS templates are downloaded on this node. List them with `pveam available --section system` and download one with `pveam download local <template>`.');
    }
  } catch (err) {
    check.problem = problemOf(err, { node });
  } finally {
    client?.close();
  }
  return check;
}

/**
 * Launchpad speaks the API of Proxmox VE 8 and 9 (reference/proxmox-api.md). 8.0 lacks GET …/lxc/{vmid}/interfaces
 * (it came with 8.1); the pipeline reads a CT's address inside the CT there instead (src/domain/pipeline/ct-address.ts).
 */
const MINIMUM_PVE_MAJOR = 8;

function unsupportedVersion(version: PveVersion): Problem | undefined {
  const major = Number(/^(\d+)\./.exec(version.release || version.version)?.[1]);
  if (!Number.isInteger(major) || major >= MINIMUM_PVE_MAJOR) return undefined;
  return {
    code: 'unsupported-version',
    title: `Proxmox VE ${version.version} is too old for Launchpad`,
    message: `This node runs Proxmox VE ${version.version}; Launchpad needs Proxmox VE ${MINIMUM_PVE_MAJOR}.0 or later.`,
    remedy: `Upgrade the node to a supported Proxmox VE release (Proxmox’s guide “Upgrade from ${major} to ${major + 1}” in its wiki), starting with the checklist script, then test again.`,
    snippet: `pve${major}to${major + 1} --full`,
  };
}

// Signing in proves the pinned host key and the accepted private key; `id -u` then proves the user is root, which
// pct insists on (it dies with "please run as root" otherwise) — a login that works is not enough.
async function checkSsh(secrets: SecretBox, node: NodeRecord): Promise<SshCheck> {
  let privateKey: string | undefined;
  try {
    const target = shellTargetFor(node, secrets);
    privateKey = String(target.privateKey);
    // Loaded on first use: ssh2 stays out of the web process until an admin tests a node's SSH.
    const { NodeShell } = await import('../../proxmox/node-shell.ts');
    const shell = await NodeShell.connect(target, { readyTimeoutMs: SSH_READY_TIMEOUT_MS });
    try {
      await checkRoot(shell);
    } finally {
      await shell.close();
    }
    return { signedInAs: `${target.username}@${target.host}:${target.port}`, hostKeyFingerprint: target.hostKeyFingerprint };
  } catch (err) {
    const { publicKeyLine } = await import('../../lib/ssh-keys.ts');
    return { problem: problemOf(err, { node, publicKeyLine: privateKey ? publicKeyLine(privateKey) : undefined }) };
  }
}

async function checkRoot(shell: NodeShell): Promise<void> {
  const output: string[] = [];
  const { exitCode } = await shell.exec(['id', '-u'], { timeoutMs: SSH_READY_TIMEOUT_MS, onLine: (_stream, text) => output.push(text) });
  if (exitCode !== 0 || output.length !== 1 || !/^\d+$/.test(output[0]!)) throw new NodeCommandError('id -u', exitCode, output.slice(-5));
  const { host, username } = shell.target;
  if (output[0] !== '0') throw new NotRootError(host, username, `id -u answered ${output[0]}, not 0 (root)`);
}

/** The table's entry; an error that is not about the node (a bug) is not dressed up as one. */
function problemOf(err: unknown, ctx: ProblemContext): Problem {
  const problem = problemFor(err, ctx);
  if (!problem) throw err;
  return problem;
}

/** The last report per node, kept in memory for the node list (a restart forgets it; nothing depends on it). */
export class RecentTests {
  private readonly reports = new Map<number, ConnectionReport>();

  record(report: ConnectionReport): void {
    this.reports.set(report.nodeId, report);
  }

  get(nodeId: number): ConnectionReport | undefined {
    return this.reports.get(nodeId);
  }

  forget(nodeId: number): void {
    this.reports.delete(nodeId);
  }
}
