// /account: what every signed-in user may do to their own account. The API-tokens work of issue #16 adds its own
// section (views/partials/account/tokens.eta) and routes under /account/tokens.
import { Router } from 'express';
import type { UsersRepository } from '../../db/users-repository.ts';
import { changeOwnPassword } from '../../domain/accounts.ts';
import { ValidationError } from '../../lib/errors.ts';
import { allow } from '../middleware/auth.ts';
import { flash, regenerateSession } from '../middleware/session.ts';
import { renderPage } from '../render.ts';

export function accountRoutes(deps: { users: UsersRepository }): Router {
  const router = Router();

  router.get('/account', allow.readers, (req, res) => {
    renderPage(req, res, 'pages/account/index', { title: 'Your account', section: '/account', errors: {} });
  });

  router.post('/account/password', allow.readers, async (req, res) => {
    try {
      await changeOwnPassword(deps, req.user!, req.body ?? {});
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderPage(req, res, 'pages/account/index', { title: 'Your account', section: '/account', errors: err.fields }, 422);
    }
    // Every other session of this account has ended; this one continues under a new id.
    const userId = req.user!.id;
    await regenerateSession(req);
    req.session.userId = userId;
    flash(req, 'success', 'Your password is changed. Other browsers signed in as you have been signed out.');
    res.redirect(303, '/account');
  });

  return router;
}
