// The audit trail: one call, recordAudit, wherever something worth answering "who did that?" happens. Details
// are chosen by the caller and never hold a secret (no passwords, tokens, keys); anything named like one is dropped
// here as a second line of defence.
import type { Request } from 'express';
import type { AuditFilter, AuditOutcome, AuditRepository } from '../../db/audit-repository.ts';
import { isUuid } from '../../db/containers-repository.ts';
import type { User } from '../../db/users-repository.ts';
import type { Logger } from '../../logger.ts';

export interface AuditDeps {
  repos: { audit: AuditRepository };
  logger?: Logger;
}

export interface AuditEvent {
  /** Dotted, stable names: auth.sign_in, container.deploy, container.start, token.create, node.update … */
  action: string;
  outcome?: AuditOutcome;
  /** What it was done to, in words a reader recognises (a hostname, a node name, a token name). */
  target?: string;
  containerId?: string;
  details?: Record<string, unknown>;
  /** Who, when there is no signed-in user on the request (a failed sign-in names the username tried). */
  username?: string;
}

const SECRET_KEY = /pass|secret|token|key|credential|cookie/i;

function withoutSecrets(details: Record<string, unknown> = {}): Record<string, unknown> {
  return Object.fromEntries(Object.entries(details).filter(([key]) => !SECRET_KEY.test(key)));
}

/**
 * Records one entry for the request's user (or `event.username`). An audit write that fails is logged, never
 * thrown: the action itself already happened (or was refused) and its answer must not turn into a 500.
 */
export async function recordAudit(deps: AuditDeps, req: Request | { user?: User; ip?: string }, event: AuditEvent): Promise<void> {
  const user = req.user;
  // The response knows it was audited, so the refused-write net (audit-writes.ts) does not write it twice.
  if ('res' in req && req.res) req.res.locals.audited = true;
  try {
    await deps.repos.audit.insert({
      userId: user?.id ?? null,
      username: (user?.username ?? event.username ?? '').slice(0, 64) || null,
      remoteAddress: req.ip?.slice(0, 64) ?? null,
      action: event.action,
      target: event.target?.slice(0, 200) ?? null,
      containerId: event.containerId ?? null,
      outcome: event.outcome ?? 'success',
      details: withoutSecrets(event.details),
    });
  } catch (err) {
    deps.logger?.error({ err, action: event.action }, 'could not record an audit entry');
  }
}

export const AUDIT_PAGE_SIZE = 50;

/** Reads /audit's query (user, action, container, page) into a filter and a page. */
export function auditQuery(query: Record<string, unknown>): { filter: AuditFilter; page: number } {
  const text = (v: unknown, max: number) => (typeof v === 'string' ? v.trim().slice(0, max) : '');
  const filter: AuditFilter = {};
  const user = text(query.user, 64);
  const action = text(query.action, 64);
  const container = text(query.container, 64);
  if (user) filter.username = user;
  if (action) filter.action = action;
  if (isUuid(container)) filter.containerId = container;
  else if (container) filter.containerName = container;
  const raw = text(query.page, 6);
  const page = /^\d{1,6}$/.test(raw) && Number(raw) >= 1 ? Number(raw) : 1;
  return { filter, page };
}

export async function loadAuditPage(deps: AuditDeps, query: Record<string, unknown>) {
  const { filter, page } = auditQuery(query);
  const rows = await deps.repos.audit.list(filter, { limit: AUDIT_PAGE_SIZE + 1, offset: (page - 1) * AUDIT_PAGE_SIZE });
  return { filter, page, entries: rows.slice(0, AUDIT_PAGE_SIZE), hasNext: rows.length > AUDIT_PAGE_SIZE, actions: await deps.repos.audit.actions() };
}
