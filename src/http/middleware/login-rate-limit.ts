import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { UsersRepository } from '../../db/users-repository.ts';
import { signInLimitKey } from '../../domain/accounts.ts';
import { TooManyRequestsError } from '../../lib/errors.ts';
import type { Redis } from '../../lib/redis.ts';
import { renderPage } from '../render.ts';

const WINDOW_MS = 15 * 60 * 1000;

/**
 * Two limits on POST /login, shared by every web process through Redis: per client address (spraying many
 * accounts) and per account (guessing one password from many addresses). Only failures count toward the
 * per-account limit, so the owner can still sign in after a few typos.
 */
export interface LoginLimits {
  perIp: number;
  perAccount: number;
  /** Redis key prefix; tests give each file its own. */
  prefix: string;
}

export function loginRateLimits(redis: Redis, limits: LoginLimits, users: UsersRepository): RequestHandler[] {
  const store = (prefix: string) =>
    new RedisStore({ prefix, sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply> });
  const refuse = (what: string) => (req: Request, res: Response) =>
    renderPage(req, res, 'pages/auth/login', {
      title: 'Sign in',
      username: typeof req.body?.username === 'string' ? req.body.username : '',
      error: `Too many sign-in attempts ${what}. Wait 15 minutes and try again.`,
    }, 429);
  return [
    rateLimit({
      windowMs: WINDOW_MS,
      limit: limits.perIp,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store: store(`${limits.prefix}ip:`),
      keyGenerator: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
      handler: refuse('from this address'),
    }),
    rateLimit({
      windowMs: WINDOW_MS,
      limit: limits.perAccount,
      standardHeaders: false,
      legacyHeaders: false,
      skipSuccessfulRequests: true,
      store: store(`${limits.prefix}account:`),
      // Keyed by the resolved account, so no other spelling of a username gets a fresh budget.
      keyGenerator: (req) => signInLimitKey({ users }, req.body?.username, req.body?.realm),
      handler: refuse('for this account'),
    }),
  ];
}

/** At most `limit` requests per signed-in account in `windowMs`, shared by every web process through Redis. */
function perAccountRateLimit(redis: Redis, prefix: string, windowMs: number, limit: number, refusal: string): RequestHandler {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    store: new RedisStore({ prefix, sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply> }),
    keyGenerator: (req) => String(req.user?.id ?? ipKeyGenerator(req.ip ?? 'unknown')),
    handler: (_req, _res, next) => next(new TooManyRequestsError(refusal)),
  });
}

/**
 * "Fetch fingerprints" opens connections to any address typed into the form: at most 20 per account in 10 minutes.
 * Typed with the `:id` of /nodes/:id/fingerprints: Express infers a route's `req.params` from its handlers.
 */
export function fingerprintRateLimit(redis: Redis, prefix: string): RequestHandler<{ id: string }> {
  return perAccountRateLimit(redis, prefix, 10 * 60 * 1000, 20, 'Too many fingerprint fetches from this account. Wait a few minutes and try again.');
}

/** Creating API tokens: at most 10 per account in 10 minutes (an account holds at most 20 usable ones anyway). */
export function tokenCreationRateLimit(redis: Redis, prefix: string): RequestHandler {
  return perAccountRateLimit(redis, prefix, 10 * 60 * 1000, 10, 'Too many API tokens created from this account in the last few minutes. Wait ten minutes and try again (or use a token you have).');
}
