// What scripts read: a container as JSON (GET /containers and /containers/:id with Accept: application/json, and
// the 201 answer to POST /containers). Never the root password or credentials: those stay behind the reveal form.
import type { Container, LiveStatus } from './container.ts';

export function containerLinks(id: string) {
  return { url: `/containers/${id}`, events_url: `/containers/${id}/events`, log_url: `/containers/${id}/log.txt` };
}

export function containerJson(container: Container, nodeName: string, owner: string, live?: LiveStatus) {
  return {
    id: container.id,
    hostname: container.hostname,
    vmid: container.vmid,
    node: nodeName,
    /** The username of whoever deployed it. */
    owner,
    lifecycle: container.lifecycle,
    current_step: container.currentStep,
    percent: container.percent,
    error: container.error,
    /** "settings" when only deploying again with changed settings can mend the failure (Retry would repeat it); else null. */
    failure_kind: container.failureKind,
    ip: container.ip,
    current_action: container.currentAction,
    /** Who requested it (null when none runs). */
    current_action_by: container.currentAction ? container.currentActionBy : null,
    created_at: container.createdAt.toISOString(),
    finished_at: container.finishedAt?.toISOString() ?? null,
    log_lines: container.lastLineNo,
    ...(live ? { status: live.state } : {}),
    ...containerLinks(container.id),
  };
}
