import type { NextFunction, Request, Response } from 'express';
import type { User, UsersRepository } from '../../db/users-repository.ts';
import { ForbiddenError } from '../../lib/errors.ts';

declare module 'express-serve-static-core' {
  interface Request {
    user?: User;
  }
}

/** Loads the signed-in user, if any, onto req.user. */
export function loadUser(users: UsersRepository) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const id = req.session?.userId;
    if (id !== undefined) {
      const user = await users.findById(id);
      if (user) req.user = user;
      else delete req.session.userId;
    }
    next();
  };
}

/** Everything behind this needs a session: pages redirect to /login, htmx gets HX-Redirect, streams get 401. */
export function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (req.user) return next();
  if (req.headers.accept === 'text/event-stream') {
    res.status(401).type('text/plain').send('Sign in first.');
    return;
  }
  if (req.method === 'GET' && req.session) req.session.returnTo = req.originalUrl;
  if (req.headers['hx-request']) {
    res.set('HX-Redirect', '/login').status(401).end();
    return;
  }
  res.redirect(303, '/login');
}

/**
 * Changes only admins may make. Today an account is either an admin or not (users.is_admin); a later Teams issue
 * can widen this one rule.
 */
export function requireAdmin(req: Request, _res: Response, next: NextFunction): void {
  if (req.user?.isAdmin) return next();
  next(new ForbiddenError('Only an admin may change this. Ask an admin of this Launchpad to make the change.'));
}
