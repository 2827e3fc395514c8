// "Test connection": everything Launchpad will need from a node, tried once — the API (version, cluster nodes,
// storages, OS templates) and SSH (host key, login) — with each failure named and paired with what to do about it.
import type { NodeRecord } from '../../db/nodes-repository.ts';
import { SecretBoxError, type SecretBox } from '../../lib/secret-box.ts';
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { PveNode, PveStorage, PveVersion, StorageVolume } from '../../proxmox/api-types.ts';
import {
  ProxmoxAuthError, ProxmoxConnectionError, ProxmoxError, ProxmoxPermissionError, ProxmoxTransientError, TlsFingerprintMismatchError,
} from '../../proxmox/errors.ts';
import { HostKeyMismatchError, NodeShellError, SshAuthError, SshConnectError } from '../../proxmox/ssh-errors.ts';
import { NodeNotReadyError, proxmoxClientFor, shellTargetFor } from './node-access.ts';

export type ProblemCode =
  | 'not-ready' | 'secret-unreadable'
  | 'unreachable' | 'tls-mismatch' | 'token-rejected' | 'missing-privilege' | 'busy' | 'api-error'
  | 'ssh-unreachable' | 'ssh-auth-failed' | 'host-key-mismatch' | 'ssh-error';

export interface Problem {
  code: ProblemCode;
  title: string;
  /** What happened, as the error said it. */
  message: string;
  /** What to do about it. */
  remedy: string;
  /** A command or line to copy, when one helps. */
  snippet?: string;
}

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
    check.clusterNodes = await client.listNodes();
    check.nameFound = check.clusterNodes.some((n) => n.node === node.name);
    if (!check.nameFound) {
      const names = check.clusterNodes.map((n) => n.node).join(', ') || 'none';
      check.warnings.push(`The cluster has no node called “${node.name}” (it has: ${names}). The name is used in every API path (/nodes/${node.name}/…), so rename this connection to the Proxmox node name.`);
      return check;
    }
    check.storages = await client.listStorages(node.name);
    check.osTemplates = await client.listOsTemplates(node.name);
    if (!check.storages.some((s) => s.enabled && s.content.includes('rootdir'))) {
      check.warnings.push('No enabled storage on this node accepts container disks (content “rootdir”); add one under Datacenter → Storage.');
    }
    if (check.osTemplates.length === 0) {
      check.warnings.push('No OS templates are downloaded on this node. List them with `pveam available --section system` and download one with `pveam download local <template>`.');
    }
  } catch (err) {
    check.problem = apiProblem(err, node);
  } finally {
    client?.close();
  }
  return check;
}

// A real node would also run a harmless command here, but the simulated node answers only the pct subcommands
// the pipeline uses; signing in already proves what matters: the pinned host key and the accepted private key.
async function checkSsh(secrets: SecretBox, node: NodeRecord): Promise<SshCheck> {
  let privateKey: string | undefined;
  try {
    const target = shellTargetFor(node, secrets);
    privateKey = String(target.privateKey);
    // Loaded on first use: ssh2 stays out of the web process until an admin tests a node's SSH.
    const { NodeShell } = await import('../../proxmox/node-shell.ts');
    const shell = await NodeShell.connect(target, { readyTimeoutMs: SSH_READY_TIMEOUT_MS });
    await shell.close();
    return { signedInAs: `${target.username}@${target.host}:${target.port}`, hostKeyFingerprint: target.hostKeyFingerprint };
  } catch (err) {
    const { publicKeyLine } = await import('../../lib/ssh-keys.ts');
    return { problem: sshProblem(err, node, privateKey ? publicKeyLine(privateKey) : undefined) };
  }
}

function apiProblem(err: unknown, node: NodeRecord): Problem {
  const message = (err as Error).message;
  const common = commonProblem(err);
  if (common) return common;
  if (err instanceof TlsFingerprintMismatchError) {
    return {
      code: 'tls-mismatch', title: 'TLS certificate does not match the pinned fingerprint', message,
      remedy: 'On the node, compare with the certificate’s SHA-256 fingerprint. If the node really has a new certificate, clear the TLS fingerprint field, fetch it again, compare and confirm. If it has not, do not go on: something between Launchpad and the node is answering in its place.',
      snippet: 'pvenode cert info',
    };
  }
  if (err instanceof ProxmoxConnectionError) {
    return {
      code: 'unreachable', title: 'The Proxmox API cannot be reached', message,
      remedy: `Check the API URL and port (8006 unless changed), that the node is up and pveproxy runs on it, and that no firewall stops Launchpad reaching ${node.apiUrl}.`,
      snippet: 'systemctl status pveproxy',
    };
  }
  if (err instanceof ProxmoxAuthError) {
    return {
      code: 'token-rejected', title: 'Proxmox rejected the API token (401)', message,
      remedy: 'Check the token id (user@realm!tokenid) and paste the secret again; Proxmox shows a secret only once, so create a new token if it is lost. Also check that the token and its user are enabled and not expired (Datacenter → Permissions → API Tokens).',
      snippet: `pveum user token list ${node.tokenId.split('!')[0] ?? ''}`,
    };
  }
  if (err instanceof ProxmoxPermissionError) {
    return {
      code: 'missing-privilege', title: 'The token lacks a privilege (403)', message,
      remedy: 'Give the token the roles Launchpad needs on / (or create it without privilege separation, so it has its user’s rights):',
      snippet: `pveum acl modify / --tokens '${node.tokenId}' --roles PVEVMAdmin,PVEDatastoreUser,PVEAuditor,PVESDNUser`,
    };
  }
  if (err instanceof ProxmoxTransientError) {
    return { code: 'busy', title: 'Proxmox is busy', message, remedy: 'A Proxmox service did not answer in time. Try again in a moment; if it persists, check pvedaemon on the node.', snippet: 'systemctl status pvedaemon' };
  }
  if (err instanceof ProxmoxError) {
    return { code: 'api-error', title: 'Proxmox answered with an error', message, remedy: 'Check the node’s system log for the cause.', snippet: 'journalctl -u pveproxy -u pvedaemon --since -10min' };
  }
  throw err;
}

function sshProblem(err: unknown, node: NodeRecord, line: string | undefined): Problem {
  const message = (err as Error).message;
  const common = commonProblem(err);
  if (common) return common;
  if (err instanceof HostKeyMismatchError) {
    return {
      code: 'host-key-mismatch', title: 'SSH host key does not match the pinned fingerprint', message,
      remedy: 'On the node, compare with its host key fingerprint. If the node was reinstalled, clear the host-key fingerprint field, fetch it again, compare and confirm. If it was not, do not go on: something may be answering in the node’s place.',
      snippet: 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub',
    };
  }
  if (err instanceof SshAuthError) {
    return {
      code: 'ssh-auth-failed', title: 'SSH login failed', message,
      remedy: `Check the SSH user (${node.sshUser}) and add the public half of the configured key to that user’s authorized_keys on the node${line ? ' — this line:' : '.'}`,
      snippet: line,
    };
  }
  if (err instanceof SshConnectError) {
    return {
      code: 'ssh-unreachable', title: 'SSH cannot be reached', message,
      remedy: 'Check the SSH host and port, that sshd runs on the node, and that no firewall stops Launchpad reaching it.',
      snippet: 'systemctl status ssh',
    };
  }
  if (err instanceof NodeShellError) {
    return { code: 'ssh-error', title: 'SSH failed', message, remedy: 'Try again; if it persists, check the node’s SSH log.', snippet: 'journalctl -u ssh --since -10min' };
  }
  throw err;
}

/** Problems before any network traffic: nothing pinned yet, or a stored secret this key cannot open. */
function commonProblem(err: unknown): Problem | undefined {
  if (err instanceof NodeNotReadyError) {
    return { code: 'not-ready', title: 'Not set up yet', message: err.message, remedy: 'Use “Fetch fingerprints” in the form below, compare them with the node and confirm; or fill in the missing fields.' };
  }
  if (err instanceof SecretBoxError) {
    return {
      code: 'secret-unreadable', title: 'A stored secret cannot be decrypted', message: err.message,
      remedy: 'Launchpad runs with a different ENCRYPTION_KEY than when this node was saved. Set the original key, or enter the token secret and private key again and save.',
    };
  }
  return undefined;
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
