// /account: what every signed-in user may do to their own account: change the password, and manage API tokens
// (views/partials/account/tokens.eta, routes under /account/tokens). Only from a signed-in browser: an API token
// manages no credentials, or a leaked one could mint its own successor and outlive its revocation.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Deps } from '../../deps.ts';
import { createApiToken, listApiTokens, revokeApiToken, validateTokenInput } from '../../domain/access/api-tokens.ts';
import { recordAudit } from '../../domain/access/audit.ts';
import { newApiTokenAad } from '../../domain/sealed-secrets.ts';
import { changeOwnPassword } from '../../domain/accounts.ts';
import { ValidationError } from '../../lib/errors.ts';
import { allow } from '../middleware/auth.ts';
import { sessionOnly } from '../middleware/bearer-auth.ts';
import { passwordChangeRateLimit, tokenCreationRateLimit } from '../middleware/login-rate-limit.ts';
import { flash, signInSession } from '../middleware/session.ts';
import { renderPage } from '../render.ts';

export function accountRoutes(deps: Pick<Deps, 'repos' | 'access' | 'redis' | 'logger' | 'secrets'> & { rateLimitPrefix: string }): Router {
  const router = Router();
  const tokenDeps = { apiTokens: deps.repos.apiTokens, users: deps.repos.users };
  const tokenCreations = tokenCreationRateLimit(deps.redis, `${deps.rateLimitPrefix}tokens:`);
  const passwordGuesses = passwordChangeRateLimit(deps.redis, `${deps.rateLimitPrefix}password:`);

  /**
   * A bearer request is refused here (sessionOnly), and audited as denied. Typed with the `:id` of the revoke route:
   * Express infers a route's `req.params` from its handlers.
   */
  const browserOnly = (action: string): RequestHandler<{ id: string }> =>
    sessionOnly<{ id: string }>('API tokens or the account’s password', 'Account (/account)', (req) =>
      recordAudit(deps, req, { action, outcome: 'denied', target: req.params.id ? `token ${req.params.id}` : req.user!.username, details: { via: 'token', status: 403 } }));

  const showAccount = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const tokens = await listApiTokens(tokenDeps, req.user!);
    renderPage(req, res, 'pages/account/index', { title: 'Your account', section: '/account', errors: {}, tokens, now: new Date(), ...extra }, status);
  };

  /**
   * A new token is shown once, on the page its POST redirects to, so a reload neither shows it again nor creates
   * another. Until then it waits in the session sealed to that session's id: the sessions table never holds it
   * readable, and it is never in a URL, a log or Redis.
   */
  const keepNewToken = (req: Request, name: string, value: string) => {
    req.session.newApiToken = { name, sealed: deps.secrets.seal(value, newApiTokenAad(req.sessionID)) };
  };
  const takeNewToken = (req: Request): { name: string; value: string } | undefined => {
    const kept = req.session.newApiToken;
    if (!kept) return undefined;
    delete req.session.newApiToken;
    return { name: kept.name, value: deps.secrets.open(kept.sealed, newApiTokenAad(req.sessionID)) };
  };

  router.get('/account', allow.readers, browserOnly('account.view'), (req, res) => {
    const newToken = takeNewToken(req);
    if (newToken) res.set('Cache-Control', 'no-store');
    return showAccount(req, res, { newToken });
  });

  router.post('/account/password', allow.readers, browserOnly('account.password_change'), passwordGuesses, async (req, res) => {
    let changed;
    try {
      changed = await changeOwnPassword({ users: deps.repos.users, invites: deps.repos.invites, access: deps.access }, req.user!, req.body ?? {});
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // What passwordGuesses counts: a session that does not know the password must not find it out here.
      if (err.fields.current_password) res.locals.wrongCurrentPassword = true;
      await recordAudit(deps, req, { action: 'account.password_change', outcome: 'failure', target: req.user!.username });
      return showAccount(req, res, { errors: err.fields }, 422);
    }
    await recordAudit(deps, req, { action: 'account.password_change', target: req.user!.username });
    // Every other session of this account has ended; this one continues under a new id, with the new password.
    await signInSession(req, changed);
    flash(req, 'success', 'Your password is changed. Other browsers signed in as you have been signed out.');
    res.redirect(303, '/account');
  });

  router.post('/account/tokens', allow.readers, browserOnly('token.create'), tokenCreations, async (req, res) => {
    let created;
    try {
      created = await createApiToken(tokenDeps, req.user!, validateTokenInput(req.body ?? {}));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return showAccount(req, res, { tokenErrors: err.fields, tokenValues: { name: req.body?.name, expires_in_days: req.body?.expires_in_days } }, 422);
    }
    const { token, record } = created;
    await recordAudit(deps, req, { action: 'token.create', target: record.name, details: { token_id: record.id, expires_at: record.expiresAt?.toISOString() ?? null } });
    keepNewToken(req, record.name, token);
    res.redirect(303, '/account#api-tokens');
  });

  router.post('/account/tokens/:id/revoke', allow.readers, browserOnly('token.revoke'), async (req, res) => {
    const revoked = await revokeApiToken({ apiTokens: deps.repos.apiTokens, access: deps.access }, req.user!, req.params.id);
    await recordAudit(deps, req, { action: 'token.revoke', target: revoked.name, details: { token_id: revoked.id } });
    flash(req, 'success', `Token “${revoked.name}” revoked: scripts using it are refused from now on.`);
    res.redirect(303, '/account');
  });

  return router;
}
