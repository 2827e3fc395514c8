// /audit: the trail, for admins, newest first, filtered by user, action and container, a page at a time.
import { Router } from 'express';
import type { Deps } from '../../deps.ts';
import { loadAuditPage } from '../../domain/access/audit.ts';
import { allow } from '../middleware/auth.ts';
import { renderPage, wantsJson } from '../render.ts';

export function auditRoutes(deps: Pick<Deps, 'repos' | 'logger'>): Router {
  const router = Router();
  router.get('/audit', allow.admins, async (req, res) => {
    const view = await loadAuditPage(deps, req.query);
    if (wantsJson(req)) return res.json({ entries: view.entries, page: view.page, has_next: view.hasNext });
    renderPage(req, res, 'pages/audit/index', { title: 'Audit trail', section: '/audit', view });
  });
  return router;
}
