// The one table that turns what went wrong talking to a node into what to do about it. "Test connection" shows the
// whole entry (title, remedy, a command to copy); a failed build or action says the message and the remedy in its
// log and failure panel (src/domain/pipeline/pipeline-errors.ts).
import type { NodeRecord } from '../../db/nodes-repository.ts';
import { SecretBoxError } from '../../lib/secret-box.ts';
import {
  ProxmoxAuthError, ProxmoxConnectionError, ProxmoxError, ProxmoxPermissionError, ProxmoxTransientError, TlsFingerprintMismatchError,
} from '../../proxmox/errors.ts';
import { HostKeyMismatchError, NodeShellError, NotRootError, SshAuthError, SshConnectError } from '../../proxmox/ssh-errors.ts';
import { NodeNotReadyError } from './node-access.ts';

export type ProblemCode =
  | 'not-ready' | 'secret-unreadable'
  | 'unreachable' | 'tls-mismatch' | 'token-rejected' | 'missing-privilege' | 'busy' | 'unsupported-version' | 'api-error'
  | 'ssh-unreachable' | 'ssh-auth-failed' | 'host-key-mismatch' | 'ssh-not-root' | 'ssh-error';

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

/** What the remedies may name: the node as configured, and the public line of its key when it could be read. */
export interface ProblemContext {
  node?: Pick<NodeRecord, 'apiUrl' | 'tokenId' | 'sshUser'>;
  publicKeyLine?: string;
}

type Entry = [new (...args: never[]) => Error, (err: Error, ctx: ProblemContext) => Omit<Problem, 'message'>];

// Order matters: subclasses before the classes they extend (ProxmoxError last of the API errors).
const PROBLEMS: Entry[] = [
  [NodeNotReadyError, () => ({
    code: 'not-ready', title: 'Not set up yet',
    remedy: 'Use “Fetch fingerprints” under Nodes → Edit, compare them with the node and confirm; or fill in the missing fields.',
  })],
  [SecretBoxError, () => ({
    code: 'secret-unreadable', title: 'A stored secret cannot be decrypted',
    remedy: 'Launchpad runs with a different ENCRYPTION_KEY than when this node was saved. Set the original key, or enter the token secret and private key again under Nodes → Edit and save.',
  })],
  [TlsFingerprintMismatchError, () => ({
    code: 'tls-mismatch', title: 'TLS certificate does not match the pinned fingerprint',
    remedy: 'The node’s TLS certificate is not the one pinned for it. On the node, compare with the certificate’s SHA-256 fingerprint. If the certificate was renewed on purpose, confirm the new fingerprint under Nodes → Edit (clear the field, fetch it again, compare, confirm); if it was not, do not go on: something between Launchpad and the node is answering in its place.',
    snippet: 'pvenode cert info',
  })],
  [ProxmoxConnectionError, (_err, { node }) => ({
    code: 'unreachable', title: 'The Proxmox API cannot be reached',
    remedy: `Check the API URL and port (8006 unless changed), that the node is up and pveproxy runs on it, and that no firewall stops Launchpad reaching ${node?.apiUrl ?? 'it'}.`,
    snippet: 'systemctl status pveproxy',
  })],
  [ProxmoxAuthError, (_err, { node }) => ({
    code: 'token-rejected', title: 'Proxmox rejected the API token (401)',
    remedy: 'Check the token id (user@realm!tokenid) and the secret under Nodes → Edit; Proxmox shows a secret only once, so create a new token if it is lost. Also check that the token and its user are enabled and not expired (Datacenter → Permissions → API Tokens).',
    snippet: node ? `pveum user token list ${node.tokenId.split('!')[0] ?? ''}` : undefined,
  })],
  [ProxmoxPermissionError, (err, { node }) => missingPrivilege((err as ProxmoxPermissionError).detail, node?.tokenId ?? 'user@realm!token')],
  [ProxmoxTransientError, () => ({
    code: 'busy', title: 'Proxmox is busy',
    remedy: 'A Proxmox service did not answer in time; the node may be busy. Try again in a moment; if it persists, check pvedaemon on the node.',
    snippet: 'systemctl status pvedaemon',
  })],
  [ProxmoxError, () => ({
    code: 'api-error', title: 'Proxmox answered with an error',
    remedy: 'Check the node’s system log for the cause.',
    snippet: 'journalctl -u pveproxy -u pvedaemon --since -10min',
  })],
  [HostKeyMismatchError, () => ({
    code: 'host-key-mismatch', title: 'SSH host key does not match the pinned fingerprint',
    remedy: 'The node’s SSH host key is not the one pinned for it. On the node, compare with its host key fingerprint. If the node was reinstalled, confirm the new key under Nodes → Edit (clear the host-key fingerprint field, fetch it again, compare, confirm); if it was not, do not go on: something may be answering in the node’s place.',
    snippet: 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub',
  })],
  [SshAuthError, (_err, { node, publicKeyLine }) => ({
    code: 'ssh-auth-failed', title: 'SSH login failed',
    remedy: `Check the SSH user${node ? ` (${node.sshUser})` : ''} and private key under Nodes → Edit, and add the public half of the key to that user’s authorized_keys on the node${publicKeyLine ? ' — this line:' : '.'}`,
    snippet: publicKeyLine,
  })],
  [NotRootError, (_err, { publicKeyLine }) => ({
    code: 'ssh-not-root', title: 'The SSH user is not root',
    remedy: `Launchpad runs pct on the node, and pct — like every Proxmox VE command-line tool — refuses to run as anyone but root. Under Nodes → Edit set the SSH user to root, and add the public half of the key to /root/.ssh/authorized_keys on the node${publicKeyLine ? ' — this line:' : '.'}`,
    snippet: publicKeyLine,
  })],
  [SshConnectError, () => ({
    code: 'ssh-unreachable', title: 'SSH cannot be reached',
    remedy: 'Check the SSH host and port under Nodes → Edit, that sshd runs on the node, and that no firewall stops Launchpad reaching it.',
    snippet: 'systemctl status ssh',
  })],
];

/**
 * 403: what to grant depends on the privilege Proxmox names. Sys.Modify on / is a root-level privilege that no built-in
 * role but Administrator holds, so the usual roles cannot fix it. Creating a CT asks for it in two cases
 * (pve-container API2/LXC.pm create_vm; pve-guest-common GuestHelpers.pm assert_tag_permissions): a privileged CT —
 * `Permission check failed (/, Sys.Modify)` — and a tag that Datacenter → Options → User Tag Access keeps from users
 * without it, or a registered tag — `Permission check failed (/, Sys.Modify for modifying tag 'launchpad')`.
 */
function missingPrivilege(detail: string, tokenId: string): Omit<Problem, 'message'> {
  const tag = /\(\/, Sys\.Modify for modifying tag '([^']*)'\)/.exec(detail)?.[1];
  if (tag === undefined && !/\(\/, Sys\.Modify\)/.test(detail)) {
    return {
      code: 'missing-privilege', title: 'The token lacks a privilege (403)',
      remedy: 'Give the token the roles Launchpad needs on / (or create it without privilege separation, so it has its user’s rights):',
      snippet: `pveum acl modify / --tokens '${tokenId}' --roles PVEVMAdmin,PVEDatastoreUser,PVEAuditor,PVESDNUser`,
    };
  }
  const [tags, them] = tag === undefined || tag === 'launchpad' ? ['launchpad', 'it'] : [`launchpad and ${tag}`, 'them'];
  const thisTime = tag === undefined ? 'Proxmox named no tag, so here it is a privileged container.' : `Here it is the tag “${tag}”.`;
  return {
    code: 'missing-privilege', title: 'The token lacks Sys.Modify on / (403)',
    remedy:
      'Proxmox asks for Sys.Modify on / in two cases when a container is created. (1) A privileged container (Unprivileged off): ' +
      'deploy it unprivileged instead. (2) A tag that Datacenter → Options → User Tag Access keeps from users without Sys.Modify ' +
      '(mode “none”, a list without the tag, or “existing” while no guest has it yet), or a tag under Registered Tags: every CT Launchpad ' +
      `creates is tagged “launchpad”, so allow ${tags} there (mode “free”, or add ${tags} to the list) and keep ${them} off Registered Tags. ` +
      `${thisTime} Or grant the token Sys.Modify on / through a role of its own (of the built-in roles only Administrator has it):`,
    snippet: `pveum role add LaunchpadSysModify --privs Sys.Modify && pveum acl modify / --tokens '${tokenId}' --roles LaunchpadSysModify`,
  };
}

// A NodeShellError that is none of the above (a broken session…): generic, but still an SSH problem.
const SSH_FALLBACK: Entry = [NodeShellError, () => ({
  code: 'ssh-error', title: 'SSH failed',
  remedy: 'Try again; if it persists, check the node’s SSH log.',
  snippet: 'journalctl -u ssh --since -10min',
})];

/** The table's entry for this error, or undefined for an error that is not about reaching or using a node. */
export function problemFor(err: unknown, ctx: ProblemContext = {}): Problem | undefined {
  if (!(err instanceof Error)) return undefined;
  const entry = [...PROBLEMS, SSH_FALLBACK].find(([type]) => err instanceof type);
  if (!entry) return undefined;
  const problem = entry[1](err, ctx);
  return { ...problem, message: err.message, ...(problem.snippet === undefined ? { snippet: undefined } : {}) };
}
