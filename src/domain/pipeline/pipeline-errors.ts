// A failed phase must say what happened and what to try. Errors from the Proxmox client and the node shell are
// typed; here they become the sentence the failure panel shows.
import { HostKeyMismatchError, SshAuthError, SshConnectError, CommandTimeoutError } from '../../proxmox/ssh-errors.ts';
import {
  ProxmoxAuthError,
  ProxmoxConnectionError,
  ProxmoxError,
  ProxmoxPermissionError,
  ProxmoxTransientError,
  TaskFailedError,
  TaskTimeoutError,
  TlsFingerprintMismatchError,
} from '../../proxmox/errors.ts';

/** A failure the pipeline itself detected, with its own wording. */
export class StepError extends Error {}

/** The user (or a shutdown) cancelled the run. */
export class PipelineCancelled extends Error {}

const HINTS: Array<[RegExp, string]> = [
  [/insufficient free space|free space in thin pool|not enough free space|No space left/i, 'The storage is full: free space on it or pick another root-disk storage, then Retry.'],
  [/can't find file|unable to use volume|does not exist.*vztmpl/i, 'The OS template is missing on the node: download it (pveam download) or pick another OS template, then Retry.'],
  [/can't lock file|got timeout|CT is locked/i, 'Another operation holds the container lock: wait for it to finish, then Retry.'],
  [/startup for container .* failed|failed to start/i, "Proxmox could not start the container: check the node's log (journalctl -u pve-container@<vmid>), then Retry."],
  [/already exists/i, 'That VMID is taken: Retry picks the next free one only if you left VMID empty — otherwise destroy this one and deploy with another VMID.'],
  [/received interrupt/i, 'The task was stopped.'],
];

export function describeFailure(err: unknown): string {
  if (err instanceof StepError) return err.message;
  if (err instanceof TlsFingerprintMismatchError) {
    return `${err.message} — the node's TLS certificate is not the one pinned for it. If the certificate was renewed on purpose, confirm the new fingerprint under Nodes → Edit; otherwise investigate before retrying.`;
  }
  if (err instanceof HostKeyMismatchError) {
    return `${err.message} — the node's SSH host key is not the one pinned for it. If the node was reinstalled, confirm the new key under Nodes → Edit; otherwise investigate before retrying.`;
  }
  if (err instanceof SshAuthError) return `${err.message} — check the SSH user and private key under Nodes → Edit, then Retry.`;
  if (err instanceof SshConnectError) return `${err.message} — check that SSH (port and address under Nodes → Edit) is reachable from Launchpad, then Retry.`;
  if (err instanceof CommandTimeoutError) return `${err.message} — the command took too long and was stopped. Retry, or look at the log for where it hung.`;
  if (err instanceof ProxmoxAuthError) return `Proxmox rejected the API token (${err.detail}) — check the token id and secret under Nodes → Edit, then Retry.`;
  if (err instanceof ProxmoxPermissionError) return `The API token lacks a privilege: ${err.detail}. Grant it (e.g. the PVEVMAdmin role on /vms and Datastore.AllocateSpace on the storage), then Retry.`;
  if (err instanceof ProxmoxTransientError) return `Proxmox did not answer in time (${err.message}). The node may be busy: Retry in a moment.`;
  if (err instanceof ProxmoxConnectionError) return `Launchpad cannot reach the Proxmox API (${err.message}). Check the node's address and that it is up, then Retry.`;
  if (err instanceof TaskTimeoutError) return `${err.message} — the Proxmox task did not finish in time. Look at the task on the node, then Retry.`;
  if (err instanceof TaskFailedError || err instanceof ProxmoxError) {
    const text = err.message;
    const hint = HINTS.find(([re]) => re.test(text))?.[1];
    return hint ? `${text} — ${hint}` : `${text} — Retry, or look at the log above for the cause.`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `Unexpected error: ${message}. Retry; if it happens again, the server log has details.`;
}
