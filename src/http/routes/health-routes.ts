import { allow } from '../middleware/auth.ts';
import { Router } from 'express';
import type { SettingsRepository } from '../../db/settings-repository.ts';
import type { Redis } from '../../lib/redis.ts';

const within = <T>(ms: number, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/** GET /healthz: 200 {db:"ok",redis:"ok"}, or 503 naming what is down. No session needed. */
export function healthRoutes(deps: { settings: SettingsRepository; redis: Redis }): Router {
  const router = Router();
  router.get('/healthz', allow.everyone, async (_req, res) => {
    const [db, redis] = await Promise.allSettled([within(2000, deps.settings.ping()), within(2000, deps.redis.ping())]);
    const body = {
      db: db.status === 'fulfilled' ? 'ok' : `down: ${(db.reason as Error).message}`,
      redis: redis.status === 'fulfilled' ? 'ok' : `down: ${(redis.reason as Error).message}`,
    };
    res.status(db.status === 'fulfilled' && redis.status === 'fulfilled' ? 200 : 503).set('Cache-Control', 'no-store').json(body);
  });
  return router;
}
