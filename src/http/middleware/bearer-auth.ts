// `Authorization: Bearer <token>` signs a script in as the token's owner. Such a request is not a browser's: it
// carries no session cookie, so it gets no session (nothing is stored, no cookie is set) and needs no CSRF token —
// a cross-site page cannot set this header. A request without the header goes through sessions and CSRF as before.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SessionData } from 'express-session';
import { authenticateToken, type ApiTokenDeps } from '../../domain/access/api-tokens.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set when the request signed in with an API token (then req.session is a throw-away, never stored). */
    apiTokenId?: number;
    /** When that token expires, if it does: a stream it opens ends then (src/http/stream-access.ts). */
    apiTokenExpiresAt?: Date;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export const hasBearer = (req: Request) => typeof req.headers.authorization === 'string' && /^Bearer\s/i.test(req.headers.authorization);

/**
 * Routes read and write req.session (flash messages, drafts); for a token request it is a per-request object with
 * the session methods as no-ops, so the same routes serve both without a store round trip.
 */
function throwAwaySession(req: Request): void {
  const done = (cb?: (err?: unknown) => void) => {
    cb?.();
    return session;
  };
  const session = { id: `token:${req.apiTokenId}`, cookie: {}, save: done, regenerate: done, destroy: done, reload: done, touch: () => session, resetMaxAge: () => session };
  req.session = session as unknown as Request['session'] & Partial<SessionData>;
  req.sessionID = session.id;
}

export function bearerAuth(deps: ApiTokenDeps): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (!hasBearer(req)) return next();
    const token = BEARER.exec(req.headers.authorization!)?.[1];
    const signedIn = token ? await authenticateToken(deps, token) : undefined;
    if (!signedIn) {
      res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').type('text/plain').send('The API token is unknown, revoked or expired.');
      return;
    }
    req.user = signedIn.user;
    req.apiTokenId = signedIn.tokenId;
    req.apiTokenExpiresAt = signedIn.expiresAt ?? undefined;
    throwAwaySession(req);
    next();
  };
}

/**
 * For what a token must never do: make a way to sign in — a token, a password, an account or its invite or reset link,
 * a Proxmox VE link — or a leaked token could mint its own successor and outlive its revocation. A bearer request is
 * answered 403 with JSON naming the page to do it on (after `refused`, which may audit it); a browser's goes on.
 */
export function sessionOnly<P = Record<string, string>>(what: string, page: string, refused?: (req: Request<P>) => Promise<void>): RequestHandler<P> {
  return async (req, res, next) => {
    if (req.apiTokenId === undefined) return next();
    await refused?.(req);
    res.status(403).json({ error: `An API token cannot manage ${what}. Sign in to Launchpad in a browser and use ${page}.` });
  };
}

/** Runs `middleware` only for requests that did not sign in with a token. */
export function unlessBearer(middleware: RequestHandler): RequestHandler {
  return (req, res, next) => (req.apiTokenId !== undefined ? next() : middleware(req, res, next));
}
