import connectPgSimple from 'connect-pg-simple';
import type { Request, RequestHandler } from 'express';
import session from 'express-session';
import type pg from 'pg';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    flash?: { kind: 'info' | 'success' | 'error'; text: string };
  }
}

export const SESSION_COOKIE = 'launchpad.sid';

export function sessions(options: { pool: pg.Pool; secret: string; secureCookies: boolean; onStoreError: (message: string) => void }): RequestHandler {
  const PgStore = connectPgSimple(session);
  return session({
    name: SESSION_COOKIE,
    store: new PgStore({ pool: options.pool, tableName: 'sessions', pruneSessionInterval: 60 * 15, errorLog: (...args: unknown[]) => options.onStoreError(args.map(String).join(' ')) }),
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
export function regenerateSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

export function destroySession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
}

export function flash(req: Request, kind: 'info' | 'success' | 'error', text: string): void {
  req.session.flash = { kind, text };
}
