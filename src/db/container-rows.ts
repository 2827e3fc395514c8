// How a containers row maps to the domain's Container and back; shared by the containers and events repositories
// (the event recorder applies a container patch in the same transaction as its events).
import type { Container, ContainerPatch, FailureKind, Lifecycle, PendingTask } from '../domain/containers/container.ts';
import type { LockingAction } from '../domain/containers/lifecycle-actions.ts';

export interface ContainerRow {
  id: string;
  owner_id: number;
  node_id: number | null;
  removed_node_name: string | null;
  template_id: number | null;
  vmid: number | null;
  hostname: string;
  config: Record<string, unknown>;
  root_password_enc: string | null;
  lifecycle: Lifecycle;
  current_step: string | null;
  percent: number;
  error: string | null;
  failure_kind: FailureKind | null;
  ip: string | null;
  last_seq: number;
  last_line_no: number;
  attempt: number;
  created_at: Date;
  finished_at: Date | null;
  current_action: LockingAction | null;
  current_action_at: Date | null;
  current_action_by: string | null;
  marks_ct: boolean;
  create_requested_at: Date | null;
  create_upid: string | null;
  pending_task: PendingTask | null;
  run_owner: string | null;
}

export const toContainer = (r: ContainerRow): Container => ({
  id: r.id,
  ownerId: r.owner_id,
  nodeId: r.node_id,
  removedNodeName: r.removed_node_name,
  templateId: r.template_id,
  vmid: r.vmid,
  hostname: r.hostname,
  config: r.config,
  rootPasswordEnc: r.root_password_enc,
  lifecycle: r.lifecycle,
  currentStep: r.current_step,
  percent: r.percent,
  error: r.error,
  failureKind: r.failure_kind,
  ip: r.ip,
  lastSeq: r.last_seq,
  lastLineNo: r.last_line_no,
  attempt: r.attempt,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
  currentAction: r.current_action,
  currentActionAt: r.current_action_at,
  currentActionBy: r.current_action_by,
  marksCt: r.marks_ct,
  createRequestedAt: r.create_requested_at,
  createUpid: r.create_upid,
  pendingTask: r.pending_task,
});

export function patchToRow(patch: ContainerPatch): Partial<ContainerRow> {
  const row: Partial<ContainerRow> = {};
  if (patch.lifecycle !== undefined) row.lifecycle = patch.lifecycle;
  if (patch.currentStep !== undefined) row.current_step = patch.currentStep;
  if (patch.percent !== undefined) row.percent = Math.round(patch.percent);
  if (patch.error !== undefined) {
    row.error = patch.error;
    row.failure_kind = patch.failureKind ?? null;
  }
  if (patch.ip !== undefined) row.ip = patch.ip;
  if (patch.vmid !== undefined) row.vmid = patch.vmid;
  if (patch.attempt !== undefined) row.attempt = patch.attempt;
  if (patch.finishedAt !== undefined) row.finished_at = patch.finishedAt;
  if (patch.createRequestedAt !== undefined) row.create_requested_at = patch.createRequestedAt;
  if (patch.createUpid !== undefined) row.create_upid = patch.createUpid;
  if (patch.pendingTask !== undefined) row.pending_task = patch.pendingTask;
  if (patch.currentAction === null) {
    row.current_action = null;
    row.current_action_at = null;
    row.current_action_by = null;
  }
  return row;
}
