import { Router } from 'express';
import { renderPage } from '../render.ts';

export function containerRoutes(): Router {
  const router = Router();
  router.get('/containers', (req, res) => {
    renderPage(req, res, 'pages/containers/index', { title: 'Containers', section: '/containers', containers: [] });
  });
  return router;
}
