// Admin changes (nodes, templates, package sets, settings, users) are audited here, once, from the request's path and the
// answer's status, so each route need not remember to: POST /nodes → node.create, POST /nodes/7 → node.update,
// POST /nodes/7/test → node.test. Only the path and status are kept, never the body (it holds node secrets); the
// route names what it acted on (auditTarget), as only it knows the name — else the entry says `node 7`.
import type { RequestHandler, Response } from 'express';
import { recordAudit, type AuditDeps } from '../../domain/access/audit.ts';

const RESOURCES: Record<string, string> = { nodes: 'node', templates: 'template', 'package-sets': 'package_set', settings: 'settings', users: 'user' };

/** The audit action for a POST path, or undefined when the path is not an audited admin change. */
export function auditActionOf(path: string): { action: string; target?: string } | undefined {
  const [resource, id, verb, ...rest] = path.split('/').filter(Boolean);
  const name = resource && RESOURCES[resource];
  if (!name || rest.length > 1) return undefined;
  if (id === undefined) return { action: `${name}.${name === 'settings' ? 'update' : 'create'}` };
  if (!/^\d+$/.test(id)) return { action: `${name}.${[id, verb, ...rest].filter(Boolean).join('.').replace(/-/g, '_')}` };
  return { action: `${name}.${[verb ?? 'update', ...rest].join('.').replace(/-/g, '_')}`, target: `${name} ${id}` };
}

/**
 * A deploy or container action refused before its handler ran — by the route's role rule (a viewer pressing Start)
 * or a missing CSRF token — is audited as denied here; the handlers audit everything that reaches them.
 */
export function refusedContainerWriteOf(path: string): { action: string; containerId?: string } | undefined {
  const m = /^\/containers(?:\/([0-9a-f-]{36})\/([a-z-]+))?\/?$/.exec(path);
  if (!m) return undefined;
  if (!m[1]) return { action: 'container.deploy' };
  // Named as its handler names it when it goes ahead (POST …/credentials reveals them).
  const verb = m[2] === 'credentials' ? 'reveal_credentials' : m[2]!.replace(/-/g, '_');
  return { action: `container.${verb}`, containerId: m[1] };
}

/** The Target of this request's audit entry, in words a reader recognises: a node's name, a username. Never a secret. */
export function auditTarget(res: Response, target: string): void {
  res.locals.auditTarget = target;
}

/** What this request's audit entry records beside its path and status (a new role): never a secret, never the body. */
export function auditDetails(res: Response, details: Record<string, string>): void {
  res.locals.auditDetails = details;
}

export function auditAdminWrites(deps: AuditDeps): RequestHandler {
  return (req, res, next) => {
    const what = req.method === 'POST' ? auditActionOf(req.path) : undefined;
    if (what) {
      res.on('finish', () => {
        const outcome = res.statusCode === 403 ? 'denied' : res.statusCode < 400 ? 'success' : 'failure';
        const target = (res.locals.auditTarget as string | undefined) || what.target;
        const details = { ...(res.locals.auditDetails as Record<string, string> | undefined), path: req.path, status: res.statusCode };
        void recordAudit(deps, req, { action: what.action, target, outcome, details });
      });
    }
    const refused = req.method === 'POST' && !what ? refusedContainerWriteOf(req.path) : undefined;
    if (refused) {
      res.on('finish', () => {
        if (res.statusCode !== 403 || res.locals.audited) return;
        void recordAudit(deps, req, { action: refused.action, containerId: refused.containerId, target: refused.containerId, outcome: 'denied', details: { path: req.path, status: 403 } });
      });
    }
    next();
  };
}
