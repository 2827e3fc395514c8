// A failed phase must say what happened and what to try. Errors from the Proxmox client and the node shell are
// typed; here they become the sentence the failure panel shows — for anything about reaching or using the node, from
// the same table Test connection uses (src/domain/nodes/node-problems.ts).
import { ProxmoxError, TaskFailedError, TaskTimeoutError } from '../../proxmox/errors.ts';
import { CommandTimeoutError } from '../../proxmox/ssh-errors.ts';
import type { FailureKind } from '../containers/container.ts';
import { problemFor, type ProblemContext } from '../nodes/node-problems.ts';

/** A failure the pipeline itself detected, with its own wording. */
export class StepError extends Error {}

/**
 * A failure only new settings can mend (a package apt does not know): Retry would ask for the same thing again, so the
 * page offers “Change settings and deploy again…” instead.
 */
export class SettingsError extends StepError {}

/**
 * What can mend `err`, recorded with the failure (see FailureKind). A create whose extraction hit the root disk's
 * quota (a ZFS subvol's size) needs a larger disk: Retry would make the same disk again. (A full file system — "No
 * space left on device" — may be the storage's, which freeing space and Retry can mend.)
 */
export const failureKindOf = (err: unknown): FailureKind | null =>
  err instanceof SettingsError || (err instanceof TaskFailedError && err.lastLines.some((line) => DISK_QUOTA_HIT.test(line))) ? 'settings' : null;

/** tar's line when the CT's root disk, a quota, filled up during the template's extraction. */
const DISK_QUOTA_HIT = /Cannot write: Disk quota exceeded/i;

/** The container's VMID belongs to another guest and the build may not move to another: nothing there is its own. */
export class VmidTakenError extends StepError {}

/** Why the signal fired: a user's cancel ends the run as cancelled; a worker shutdown leaves it to be resumed. */
export class WorkerShutdown extends Error {
  constructor() {
    super('The worker is shutting down; the build resumes on the next worker.');
  }
}

/**
 * An abort that is no cancel: the worker is shutting down, or its run lease was lost (src/jobs/run-lease.ts, matched
 * by name since the jobs layer sits above the domain). The run stops; its work, Proxmox tasks included, carries on
 * in the next run.
 */
export const isInterruption = (reason: unknown): reason is Error =>
  reason instanceof WorkerShutdown || (reason instanceof Error && reason.name === 'LeaseLost');

/**
 * Someone converted the container's CT to a template in Proxmox (`template: 1`): Proxmox refuses to start a template,
 * and no power action makes sense on it. The list, the page and a refused action all say it in these words.
 */
export class CtIsTemplateError extends StepError {
  constructor(readonly vmid: number) {
    super(`CT ${vmid} was converted to a template in Proxmox; it cannot be started. Clone it in Proxmox, or Destroy or Forget it here.`);
  }
}

const HINTS: Array<[RegExp, string]> = [
  // Extracting the template into a root disk too small for it — a quota (a ZFS subvol's refquota) or a file system
  // of that size (an LVM, thin or raw volume): tar's lines before the task's `… failed: exit code 2` say it.
  [DISK_QUOTA_HIT, 'The root disk filled up while the OS template was extracted: the template needs more than the disk size chosen. Deploy again with a larger root disk (Change settings and deploy again).'],
  [
    /Cannot write: No space left on device/i,
    'The root disk filled up while the OS template was extracted: the template needs more than the disk size chosen (or, for a raw disk on a directory storage, that storage is full). Deploy again with a larger root disk (Change settings and deploy again), or free space on the storage and Retry.',
  ],
  [/insufficient free space|free space in thin pool|not enough free space|No space left|: out of space/i, 'The storage is full: free space on it or pick another root-disk storage, then Retry.'],
  [/can't find file|unable to use volume|does not exist.*vztmpl/i, 'The OS template is missing on the node: download it (pveam download) or pick another OS template, then Retry.'],
  [/can't lock file|got timeout|CT is locked/i, 'Another operation holds the container lock: wait for it to finish, then Retry.'],
  [/can't start a CT if it's a template/i, 'The CT was converted to a template in Proxmox and can never be started: clone it in Proxmox, or Destroy or Forget this container.'],
  [/startup for container .* failed|failed to start/i, "Proxmox could not start the container: check the node's log (journalctl -u pve-container@<vmid>), then Retry."],
  [/unable to get any free VMID/i, 'The cluster has no free VMID left in its range: free one, or widen the range (Datacenter → Options → Next Free VMID Range), then Retry.'],
  [/already exists/i, 'That VMID is taken on the cluster. With VMID left empty, Retry moves to the next free one as long as no create task ran for this container; a VMID you chose is never replaced — deploy again with another VMID, or free this one, then Retry.'],
  [/received interrupt/i, 'The task was stopped.'],
  [/protection mode enabled/i, "The CT is protected in Proxmox: switch protection off (the CT's Options → Protection), then try again."],
];

/** `context`: the node the work ran on, so a remedy can name its token and SSH user (a 403's pveum command). */
export function describeFailure(err: unknown, context: ProblemContext = {}): string {
  if (err instanceof StepError) return err.message;
  if (err instanceof CommandTimeoutError) return `${err.message} — the command took too long and was stopped. Retry, or look at the log for where it hung.`;
  if (err instanceof TaskTimeoutError) return `${err.message} — the Proxmox task did not finish in time. Look at the task on the node, then Retry.`;
  const problem = err instanceof TaskFailedError ? undefined : problemFor(err, context);
  if (problem && problem.code !== 'api-error') {
    return `${problem.message} — ${problem.remedy}${problem.snippet ? ` ${problem.snippet}` : ''} Then Retry.`;
  }
  if (err instanceof ProxmoxError) {
    const text = err.message;
    // A failed task's exit status often names only the command (`tar … failed: exit code 2`); its last lines say why.
    const said = err instanceof TaskFailedError ? [text, ...err.lastLines].join('\n') : text;
    const hint = HINTS.find(([re]) => re.test(said))?.[1];
    return hint ? `${text} — ${hint}` : `${text} — Retry, or look at the log above for the cause.`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `Unexpected error: ${message}. Retry; if it happens again, the server log has details.`;
}
