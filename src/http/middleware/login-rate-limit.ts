import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { UsersRepository } from '../../db/users-repository.ts';
import { signInLimitKey } from '../../domain/accounts.ts';
import { TooManyRequestsError } from '../../lib/errors.ts';
import type { Redis } from '../../lib/redis.ts';
import { renderPage } from '../render.ts';

const WINDOW_MS = 15 * 60 * 1000;
/** How long an address the account signed in from counts as the owner's (see `accountWide`). */
const KNOWN_ADDRESS_S = 30 * 24 * 60 * 60;

/**
 * Three limits on POST /login, shared by every web process through Redis (OWASP's authentication guidance: lock
 * out a guesser, not the owner):
 * - `perIp`: failed attempts from one client address, whatever the account (spraying many accounts). Successful
 *   sign-ins are not counted: a team behind one NAT signs in all morning without locking itself out;
 * - `perAccount`: failed attempts at one account from one address — the hard limit on guessing its password. A
 *   successful sign-in from that address clears its count, and failures elsewhere never lock the owner out here;
 * - `accountWide`: failed attempts at one account from all addresses together, much higher — a guesser spread over
 *   many addresses is still held to it. An address the account signed in from in the last 30 days is not: else anyone
 *   with a few dozen addresses (or one IPv6 /48) could keep an admin out for good, 15 minutes at a time. Such an
 *   address keeps its own `perAccount` budget.
 * The client address is `req.ip`, decided by the app's `trust proxy` setting (TRUST_PROXY) as everywhere else.
 */
export interface LoginLimits {
  perIp: number;
  perAccount: number;
  accountWide: number;
  /** Redis key prefix; tests give each file its own. */
  prefix: string;
}

export function loginRateLimits(redis: Redis, limits: LoginLimits, users: UsersRepository): RequestHandler[] {
  const store = (prefix: string) =>
    new RedisStore({ prefix, sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply> });
  const refuse = (error: string) => (req: Request, res: Response) =>
    renderPage(req, res, 'pages/auth/login', { title: 'Sign in', username: typeof req.body?.username === 'string' ? req.body.username : '', error }, 429);
  const clientOf = (req: Request) => ipKeyGenerator(req.ip ?? 'unknown');
  // The account an attempt is at, resolved once per request (a database read) for the two limits that count it:
  // keyed by the account itself, so no other spelling of a username gets a fresh budget.
  const accounts = new WeakMap<Request, Promise<string>>();
  const accountOf = (req: Request) => {
    let key = accounts.get(req);
    if (!key) accounts.set(req, (key = signInLimitKey({ users }, req.body?.username, req.body?.realm)));
    return key;
  };
  const accountFromClient = async (req: Request) => `${await accountOf(req)}|${clientOf(req)}`;

  const fromThisAddress = rateLimit({
    windowMs: WINDOW_MS,
    limit: limits.perAccount,
    standardHeaders: false,
    legacyHeaders: false,
    skipSuccessfulRequests: true,
    store: store(`${limits.prefix}account-client:`),
    keyGenerator: accountFromClient,
    handler: refuse('Too many sign-in attempts for this account from this address. Wait 15 minutes and try again.'),
  });
  const knownAddressKey = async (req: Request) => `${limits.prefix}known:${await accountFromClient(req)}`;
  /** After a successful sign-in, this address starts afresh for the account (its typos are forgiven) and is known. */
  const clearOnSuccess: RequestHandler = (req, res, next) => {
    res.on('finish', () => {
      if (res.statusCode >= 400) return;
      void accountFromClient(req).then((key) => fromThisAddress.resetKey(key)).catch(() => undefined);
      void knownAddressKey(req).then((key) => redis.set(key, '1', 'EX', KNOWN_ADDRESS_S)).catch(() => undefined);
    });
    next();
  };
  return [
    rateLimit({
      windowMs: WINDOW_MS,
      limit: limits.perIp,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      skipSuccessfulRequests: true,
      store: store(`${limits.prefix}ip:`),
      keyGenerator: clientOf,
      handler: refuse('Too many failed sign-in attempts from this address. Wait 15 minutes and try again.'),
    }),
    // Before the account-wide limit: an attempt refused for its address is not counted there, so no one address
    // can run the account-wide count up.
    fromThisAddress,
    clearOnSuccess,
    rateLimit({
      windowMs: WINDOW_MS,
      limit: limits.accountWide,
      standardHeaders: false,
      legacyHeaders: false,
      skipSuccessfulRequests: true,
      store: store(`${limits.prefix}account:`),
      keyGenerator: accountOf,
      skip: async (req) => (await redis.exists(await knownAddressKey(req))) === 1,
      handler: refuse('Too many failed sign-ins for this account from many addresses: someone may be guessing its password. Wait 15 minutes and try again; tell an admin if it keeps happening.'),
    }),
  ];
}

/**
 * At most `limit` requests per signed-in account in `windowMs`, shared by every web process through Redis. `counts`:
 * which answers count against it (all, when left out).
 */
function perAccountRateLimit(redis: Redis, prefix: string, windowMs: number, limit: number, refusal: string, counts?: (res: Response) => boolean): RequestHandler {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(counts ? { skipSuccessfulRequests: true, requestWasSuccessful: (_req: Request, res: Response) => !counts(res) } : {}),
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

/**
 * Changing the password on /account: at most 5 wrong current passwords per account in 15 minutes. The form checks the
 * current password, so without a limit a session taken from its owner (a browser left signed in) could guess it — and
 * learn a password that may open more than Launchpad. Only a wrong current password counts (the route marks it).
 */
export function passwordChangeRateLimit(redis: Redis, prefix: string): RequestHandler {
  return perAccountRateLimit(redis, prefix, WINDOW_MS, 5, 'Too many wrong current passwords for this account. Wait 15 minutes and try again, or ask an admin for a reset link.', (res) => res.locals.wrongCurrentPassword === true);
}

/** Creating API tokens: at most 10 per account in 10 minutes (an account holds at most 20 usable ones anyway). */
export function tokenCreationRateLimit(redis: Redis, prefix: string): RequestHandler {
  return perAccountRateLimit(redis, prefix, 10 * 60 * 1000, 10, 'Too many API tokens created from this account in the last few minutes. Wait ten minutes and try again (or use a token you have).');
}
