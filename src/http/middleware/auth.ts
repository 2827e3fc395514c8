import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { User, UsersRepository } from '../../db/users-repository.ts';
import { passwordStamp } from '../../domain/passwords.ts';
import { hasRole, type Role } from '../../domain/roles.ts';
import { ForbiddenError } from '../../lib/errors.ts';
import { singleFlight } from '../../lib/single-flight.ts';
import { hasSessionCookie } from './session.ts';

declare module 'express-serve-static-core' {
  interface Request {
    user?: User;
  }
}

/**
 * Loads the signed-in user, if any, onto req.user. Requests of one user that arrive together (a browser reconnecting
 * its streams, a hundred tabs) share one read.
 */
export function loadUser(users: Pick<UsersRepository, 'findById'>) {
  const signedIn = signedInUsers(users);
  return async (req: Request, _res: Response, next: NextFunction) => {
    if (req.session?.userId !== undefined) {
      const user = await signedIn(req.session);
      // A disabled (or deleted) account's sessions, and those signed in before its password changed, end on their
      // next request: back to /login.
      if (user) req.user = user;
      else delete req.session.userId;
    }
    next();
  };
}

/**
 * The account a session is signed in as, if it may still be: neither disabled nor deleted, and with the password the
 * session was signed in with (a password change or reset ends every older session, also one that a request still
 * running stored again after the change deleted it). Reads of one user that arrive together share one query. Used
 * by loadUser and by the stream gateway.
 */
export function signedInUsers(users: Pick<UsersRepository, 'findById'>): (session: { userId?: number; passwordStamp?: string }) => Promise<User | undefined> {
  const shared = singleFlight<number, User | undefined>();
  return async ({ userId, passwordStamp: stamp }) => {
    if (userId === undefined) return undefined;
    const user = await shared(userId, () => users.findById(userId));
    return user && !user.disabledAt && stamp === passwordStamp(user.passwordHash) ? user : undefined;
  };
}

/** A browser loading a page (not a fetch, image, icon or script): Sec-Fetch-Dest says so, else an Accept of HTML. */
function isPageNavigation(req: Request): boolean {
  if (req.method !== 'GET') return false;
  const dest = req.get('Sec-Fetch-Dest');
  if (dest) return dest === 'document';
  return /\btext\/html\b/.test(req.get('Accept') ?? '');
}

/** The page an htmx request was sent from (HX-Current-URL), as a path on this site. */
function pageOfHtmxRequest(req: Request): string | undefined {
  const url = req.get('HX-Current-URL');
  if (!url || !URL.canParse(url)) return undefined;
  const { pathname, search } = new URL(url);
  return pathname + search;
}

/**
 * Where to sign in: /login, with the way back (`next`, checked again there) and, when the request still carried the
 * cookie of a session that ended, `session=ended` so the form says why it is asked for.
 */
function signInUrl(req: Request, returnTo: string | undefined): string {
  const query = [returnTo ? `next=${encodeURIComponent(returnTo)}` : '', hasSessionCookie(req) ? 'session=ended' : ''].filter(Boolean).join('&');
  return query ? `/login?${query}` : '/login';
}

/**
 * The answer to a request that needs someone signed in and has no one: pages redirect to /login, htmx gets
 * HX-Redirect (a page's poll, a form, a live page checking why its stream was refused), streams and JSON get 401.
 */
export function askToSignIn(req: Request, res: Response): void {
  if (req.headers.accept === 'text/event-stream') {
    res.status(401).type('text/plain').send('Sign in first.');
    return;
  }
  if (req.accepts(['html', 'json']) === 'json') {
    res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'Sign in first: send Authorization: Bearer <token> (create one on /account).' });
    return;
  }
  if (req.headers['hx-request']) {
    res.set('HX-Redirect', signInUrl(req, pageOfHtmxRequest(req))).status(401).end();
    return;
  }
  // The way back travels in the URL (nothing is stored for an anonymous visit), and only for a page the browser
  // navigated to: an icon, an image or a script must never become where sign-in lands.
  res.redirect(303, signInUrl(req, isPageNavigation(req) ? req.originalUrl : undefined));
}

/** Everything behind this needs a session. */
export function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (req.user) return next();
  askToSignIn(req, res);
}

/**
 * A route's access rule: one per route, first in its handler list, so the route-table test can check every route.
 * Its parameters are `any` because Express infers a route's `req.params` from its handlers: a ParamsDictionary
 * here would widen every `req.params.id` after it to `string | string[]`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyParams = any;
export type AccessRule = RequestHandler<AnyParams> & { readonly rule: Role | 'public' };

const ARTICLE: Record<Role, string> = { admin: 'an admin', operator: 'an operator', viewer: 'a viewer' };

function rule(needed: Role): AccessRule {
  const handler: RequestHandler<AnyParams> = (req, _res, next) => {
    const user = req.user;
    if (!user) return next(new ForbiddenError('Sign in first.'));
    if (hasRole(user.role, needed)) return next();
    const who = needed === 'admin' ? 'the admin role' : 'the operator or admin role';
    next(new ForbiddenError(`This needs ${who}; you are signed in as ${ARTICLE[user.role]}. Ask an admin of this Launchpad if you need it.`));
  };
  return Object.assign(handler, { rule: needed });
}

/**
 * The rules, applied in the route tables (never by hiding buttons alone). `readers`: any signed-in account (every
 * role may look); `operators`: deploy and act on one's own containers (operator or admin); `admins`: nodes,
 * templates, package-set and user changes, Rescan, Test connection, Fetch fingerprints.
 */
export const allow = {
  readers: rule('viewer'),
  operators: rule('operator'),
  admins: rule('admin'),
  /** Open to everyone (sign-in, setup, health): says so explicitly, so the route-table test can tell it was meant. */
  everyone: Object.assign(((_req, _res, next) => next()) as RequestHandler<AnyParams>, { rule: 'public' as const }),
};
