// History: /activity (every container's this user may see), one container's history, and each build attempt on
// its own page (its log.txt slice is /containers/:id/log.txt?attempt=N, in container-routes).
import { Router } from 'express';
import type { Deps } from '../../deps.ts';
import { findVisibleContainer } from '../../domain/containers/container-page.ts';
import { loadAttemptPage } from '../../domain/history/attempt-page.ts';
import { containerHistory, historyJson, historyQuery, loadActivity } from '../../domain/history/history-pages.ts';
import { PHASE_LABELS } from '../../domain/progress/phases.ts';
import { seesEveryContainer } from '../../domain/roles.ts';
import type { ContainerFragments } from '../container-fragments.ts';
import { allow } from '../middleware/auth.ts';
import { isHtmx, renderFragment, renderPage, wantsJson } from '../render.ts';

export function historyRoutes(deps: Pick<Deps, 'repos'>, fragments: Pick<ContainerFragments, 'logRows'>): Router {
  const router = Router();

  router.get('/activity', allow.readers, async (req, res) => {
    const view = await loadActivity(deps.repos, req.user!, req.query);
    if (wantsJson(req)) return res.json(historyJson(view));
    renderPage(req, res, 'pages/activity/index', { title: 'Activity', section: '/activity', view, ownOnly: !seesEveryContainer(req.user!.role) });
  });

  router.get('/containers/:id/history', allow.readers, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    const history = await containerHistory(deps.repos, container.id, historyQuery(req.query));
    if (wantsJson(req)) return res.json(historyJson(history));
    if (isHtmx(req)) return renderFragment(req, res, 'partials/history/section', { containerId: container.id, history });
    renderPage(req, res, 'pages/containers/history', { title: `History of ${container.hostname}`, section: '/containers', container, history });
  });

  router.get('/containers/:id/attempts/:attempt', allow.readers, async (req, res) => {
    const view = await loadAttemptPage(deps.repos, req.user!, req.params.id, req.params.attempt);
    renderPage(req, res, 'pages/containers/attempt', {
      title: `${view.container.hostname} · attempt ${view.attempt}`,
      section: '/containers',
      // Like the container page: the plain log viewer, no Alpine.
      lean: true,
      view,
      phaseLabels: PHASE_LABELS,
      logRows: fragments.logRows(view.logEntries),
    });
  });

  return router;
}
