import type { RequestHandler } from 'express';
import type { NodesRepository } from '../../db/nodes-repository.ts';
import type { SettingsRepository } from '../../db/settings-repository.ts';
import { simulatorBadge } from '../../domain/nodes/simulator-badge.ts';

/** Keeps app.locals.simulator (the layout's badge) current, re-reading at most every few seconds. */
export function simulatorBadgeLocals(repos: { nodes: NodesRepository; settings: SettingsRepository }, everyMs = 5_000): RequestHandler {
  let checkedAt = 0;
  return async (req, _res, next) => {
    if (Date.now() - checkedAt > everyMs) {
      checkedAt = Date.now();
      req.app.locals.simulator = await simulatorBadge(repos);
    }
    next();
  };
}
