import connectPgSimple from 'connect-pg-simple';
import { parse as parseCookies } from 'cookie';
import { unsign } from 'cookie-signature';
import type { Request, RequestHandler } from 'express';
import session, { type SessionData, type Store } from 'express-session';
import type pg from 'pg';
import type { User } from '../../db/users-repository.ts';
import { passwordStamp } from '../../domain/passwords.ts';
import { wantsJson } from '../render.ts';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    /**
     * The password the session was signed in with (passwordStamp): a session older than the account's password has
     * ended, even when a request of it that was still running when the password changed stores it again.
     */
    passwordStamp?: string;
    flash?: { kind: 'info' | 'success' | 'error'; text: string; focus?: boolean };
    /** A just-created API token until /account shows it, once; `sealed` with the session id as associated data. */
    newApiToken?: { name: string; sealed: string };
  }
}

export const SESSION_COOKIE = 'launchpad.sid';

/**
 * Where sessions live: the `sessions` table. One per app, shared by express-session and the stream gateway. A session
 * read from it carries its real expiry, the `expire` column, as cookie.expires: connect-pg-simple's touch (every
 * request of a rolling session) moves only that column, so the expiry kept in `sess` falls behind — and a stream the
 * session opens must end when the session does (sessionEnd), not hours before or after.
 */
export function sessionStore(options: { pool: pg.Pool; onStoreError: (message: string) => void }): Store {
  const PgStore = connectPgSimple(session);
  const table = 'sessions';
  const store = new PgStore({ pool: options.pool, tableName: table, pruneSessionInterval: 60 * 15, errorLog: (...args: unknown[]) => options.onStoreError(args.map(String).join(' ')) });
  // connect-pg-simple's own get, reading `expire` too (its clock: this process's, in seconds).
  store.get = (sid, done) => {
    options.pool
      .query<{ sess: SessionData; expire: Date }>(`SELECT sess, expire FROM ${table} WHERE sid = $1 AND expire >= to_timestamp($2)`, [sid, Date.now() / 1000])
      .then(
        ({ rows: [row] }) => done(null, row ? { ...row.sess, cookie: { ...row.sess.cookie, expires: row.expire } } : null),
        (err: unknown) => done(err),
      );
  };
  return store;
}

/** When a session read from the store ends unless a request renews it (undefined: it does not expire). */
export function sessionEnd(session: Pick<SessionData, 'cookie'>): Date | undefined {
  const expires = session.cookie?.expires;
  return expires ? new Date(expires) : undefined;
}

export function sessions(options: { store: Store; secret: string; secureCookies: boolean }): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    store: options.store,
    secret: options.secret,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: options.secureCookies ? true : 'auto',
      maxAge: 12 * 60 * 60 * 1000,
    },
  });
}

/** The value of one cookie in a Cookie header, decoded as express-session decodes it (undefined if absent). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  return header ? parseCookies(header)[name] : undefined;
}

/**
 * Whether a request carries a session cookie. Read where no one is signed in, it means the session has ended while
 * the browser still had a page of it open: its password changed, an admin disabled the account, it expired.
 */
export const hasSessionCookie = (req: Pick<Request, 'headers'>): boolean => cookieValue(req.headers.cookie, SESSION_COOKIE) !== undefined;

/**
 * The session a request's cookie names, read as express-session would (signed id, then the store, which leaves out
 * an expired one) but without changing anything: no cookie is sent, nothing is saved or touched. For the stream
 * gateway, which answers a page's live streams before Express (src/http/stream-gateway.ts).
 */
export function sessionReader(store: Store, secret: string) {
  return async (cookieHeader: string | undefined): Promise<{ id: string; data: SessionData } | undefined> => {
    const value = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!value) return undefined;
    const id = value.startsWith('s:') ? unsign(value.slice(2), secret) : false;
    if (id === false) return undefined;
    const data = await new Promise<SessionData | null | undefined>((resolve, reject) => store.get(id, (err, s) => (err ? reject(err) : resolve(s))));
    return data ? { id, data } : undefined;
  };
}

/**
 * express-session sends a response's headers before its own save has finished, and a browser follows a 303 on the
 * headers alone: the next page could read the session as it was (a lost flash message, a stale wizard draft). Every
 * redirect therefore waits for the session to be stored first — unless it holds nothing (an anonymous visit), which
 * is never stored.
 */
export const saveBeforeRedirect: RequestHandler = (req, res, next) => {
  const redirect = res.redirect.bind(res) as (...args: unknown[]) => void;
  res.redirect = ((...args: unknown[]) => {
    if (!req.session || Object.keys(req.session).every((key) => key === 'cookie')) return redirect(...args);
    req.session.save((err) => (err ? next(err) : redirect(...args)));
  }) as typeof res.redirect;
  next();
};

/** A new session id at sign-in (no fixation), carrying over nothing but what we set. */
function regenerateSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

/** Signs `user` in: a new session id, holding the account and the password it was signed in with. */
export async function signInSession(req: Request, user: Pick<User, 'id' | 'passwordHash'>): Promise<void> {
  await regenerateSession(req);
  req.session.userId = user.id;
  req.session.passwordStamp = passwordStamp(user.passwordHash);
}

export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

export function destroySession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
}

/**
 * A message for the next page this session renders. A request that asked for JSON gets no page, so it leaves none:
 * kept, it would turn up later on some unrelated page (a script acting with the session's cookie). `focus`: the
 * message is the answer to a button pressed on the page it returns to (a power action), so it takes the focus there:
 * a keyboard or screen-reader user hears the result rather than starting again at the top of the page.
 */
export function flash(req: Request, kind: 'info' | 'success' | 'error', text: string, options: { focus?: boolean } = {}): void {
  if (wantsJson(req)) return;
  req.session.flash = { kind, text, ...(options.focus ? { focus: true } : {}) };
}
