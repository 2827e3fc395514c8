// The container vocabulary: what a container is, the lifecycle it moves through, who may look at it, and what its
// node says about it right now. A leaf module: the repositories, the pipeline, the web side and the views all speak
// these words, so it imports nothing of theirs.
import type { Role } from '../roles.ts';
import type { LockingAction } from './lifecycle-actions.ts';

/**
 * What can mend a failed build: 'settings' — only deploying again with changed settings (Retry would ask for the same
 * thing again); null — Retry may (the cause is outside the build's settings, or unknown).
 */
export type FailureKind = 'settings';

export type Lifecycle = 'queued' | 'creating' | 'ready' | 'failed' | 'cancelled' | 'destroying' | 'destroyed';
export const TERMINAL: readonly Lifecycle[] = ['ready', 'failed', 'cancelled', 'destroyed'];
export const isTerminal = (lifecycle: string) => (TERMINAL as readonly string[]).includes(lifecycle);
/**
 * Lifecycles in which a CT of the container's may be on its node (built, or a build that ended after Create): whose CT the
 * page asks the node about, and whose CT missing there means it was removed.
 */
export const hasCtOnNode = (lifecycle: string) => lifecycle === 'ready' || lifecycle === 'failed' || lifecycle === 'cancelled';

export interface Container {
  id: string;
  ownerId: number;
  /** null only for a destroyed container whose node was removed from Launchpad since (see removedNodeName). */
  nodeId: number | null;
  /** The name its node had when that node was removed (destroyed containers only), for display. */
  removedNodeName: string | null;
  templateId: number | null;
  vmid: number | null;
  hostname: string;
  config: Record<string, unknown>;
  rootPasswordEnc: string | null;
  lifecycle: Lifecycle;
  currentStep: string | null;
  percent: number;
  error: string | null;
  /** Set with `error` when a failure is one Retry cannot mend. */
  failureKind: FailureKind | null;
  ip: string | null;
  lastSeq: number;
  lastLineNo: number;
  attempt: number;
  createdAt: Date;
  finishedAt: Date | null;
  /** The lifecycle action holding the container's lock (start, reboot, destroy…), or null when none runs. */
  currentAction: LockingAction | null;
  currentActionAt: Date | null;
  /** The username of whoever took the lock (null for locks taken before this was recorded). */
  currentActionBy: string | null;
  /** Its CT carries Launchpad's mark (see ct-mark.ts); false for rows recorded before marks existed. */
  marksCt: boolean;
  /** When a create request was first about to be sent to the node (null: never — the CT was never created). */
  createRequestedAt: Date | null;
  /** The create task's UPID, once the node accepted the request. */
  createUpid: string | null;
  /** The Proxmox task a run is following right now (re-read after a crash), or null. */
  pendingTask: PendingTask | null;
}

/**
 * A task being followed: the log line number the run had reached before it began, and its UPID once the node
 * answered (before that, `since`: when it was requested, in Unix seconds, to find it in the node's task list).
 */
export interface PendingTask {
  upid: string | null;
  afterLineNo: number;
  since: number;
}

/** Columns a caller may change on a container (the event recorder applies these with its events). */
export interface ContainerPatch {
  lifecycle?: Lifecycle;
  currentStep?: string | null;
  percent?: number;
  error?: string | null;
  /** Goes with `error`: a patch that sets or clears the error sets this too (absent: null). */
  failureKind?: FailureKind | null;
  ip?: string | null;
  vmid?: number | null;
  attempt?: number;
  finishedAt?: Date | null;
  createRequestedAt?: Date;
  createUpid?: string;
  pendingTask?: PendingTask | null;
  /** null: releases the container's action lock with the change it guarded (a Retry's flip to queued). */
  currentAction?: null;
}

/** Who is looking: admins and viewers see every container, an operator their own (see roles.ts). */
export interface Viewer {
  id: number;
  role: Role;
}

/**
 * What Proxmox says about one of our containers:
 * - `running` / `stopped`: as listed in cluster resources;
 * - `unknown`: the node did not answer (or has no statistics for the CT yet) — `reason` says why;
 * - `missing`: the node answered and our CT is not there (removed outside Launchpad, or its VMID now belongs to
 *   another guest) — it can be forgotten;
 * - `not-created`: the build stopped before a create request reached the node, so there never was a CT — Retry
 *   builds it, Forget drops the entry;
 * - `template`: our CT was converted to a template in Proxmox — it can never start again, so it offers no power
 *   action; Destroy removes it, Forget drops the entry and leaves the template in Proxmox (`reason` says so);
 * - `none`: nothing to ask yet (no VMID, still being created, or destroyed).
 */
export interface LiveStatus {
  state: 'running' | 'stopped' | 'template' | 'unknown' | 'missing' | 'not-created' | 'none';
  reason?: string;
  /** Seconds, while running. */
  uptime?: number;
  /** A Proxmox config lock (backup, migrate…) held right now. */
  lock?: string;
  /** The cluster node that holds this container's CT now, when someone migrated it away from its recorded node. */
  movedTo?: string;
}
