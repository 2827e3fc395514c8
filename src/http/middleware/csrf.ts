import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { csrfSync } from 'csrf-sync';
import { ForbiddenError } from '../../lib/errors.ts';
import { askToSignIn } from './auth.ts';
import { cookieValue, hasSessionCookie } from './session.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** The CSRF token for a form on the page being rendered (see csrfProtection). */
    formToken?: () => string;
  }
}

const EXPIRED = 'The form expired or came from another site. Reload the page and try again.';

const tokenFromRequest = (req: Request) => {
  const fromBody = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (typeof fromBody === 'string') return fromBody;
  const header = req.headers['x-csrf-token'];
  return typeof header === 'string' ? header : undefined;
};

// Synchronizer tokens kept in the session. Forms send `_csrf`; htmx sends X-CSRF-Token (hx-headers on <body>).
const csrf = csrfSync({
  getTokenFromRequest: tokenFromRequest,
  size: 32,
  errorConfig: { statusCode: 403, message: EXPIRED, code: 'EBADCSRFTOKEN' },
});

/** For pages of a signed-in session (the token lives in that session). */
export const generateCsrfToken = csrf.generateToken;

/** Holds a random nonce for the forms of someone not signed in; the form token is its HMAC. */
export const FORM_COOKIE = 'launchpad.form';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Two kinds of CSRF protection. A signed-in session keeps a synchronizer token in the session (csrf-sync). Someone
 * not signed in (the sign-in and setup forms) gets a signed double-submit cookie instead: a random nonce in a cookie
 * and HMAC(secret, nonce) in the form. So an anonymous visit stores nothing: a session row is written only once
 * there is something to keep (issue #16: 200 anonymous GETs must add no rows to the sessions table).
 * Anonymous forms (sign-in, setup, an invite) pass with their own token even when a stale session cookie comes along.
 */
export function csrfProtection(secret: string): RequestHandler {
  const sign = (nonce: string) => createHmac('sha256', secret).update(`launchpad-form:${nonce}`).digest('base64url');
  return (req, res, next) => {
    if (req.session?.userId !== undefined) {
      req.formToken = () => generateCsrfToken(req);
      return csrf.csrfSynchronisedProtection(req, res, next);
    }
    let nonce = cookieValue(req.headers.cookie, FORM_COOKIE);
    req.formToken = () => {
      if (!nonce || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) nonce = issueNonce(req, res);
      return sign(nonce);
    };
    if (SAFE_METHODS.has(req.method)) return next();
    const given = tokenFromRequest(req);
    const expected = nonce ? Buffer.from(sign(nonce)) : undefined;
    if (given && expected && given.length === expected.length && timingSafeEqual(Buffer.from(given), expected)) return next();
    // A form from a page of a session that has ended since (its password changed, the account was disabled): refused
    // all the same, but answered as what it is — sign in again — not as a forgery under the old user's header.
    if (hasSessionCookie(req)) return askToSignIn(req, res);
    next(new ForbiddenError(EXPIRED));
  };
}

function issueNonce(req: Request, res: Response): string {
  const nonce = randomBytes(32).toString('base64url');
  res.cookie(FORM_COOKIE, nonce, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/' });
  return nonce;
}
