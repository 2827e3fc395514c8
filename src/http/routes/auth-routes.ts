import { Router } from 'express';
import * as accounts from '../../domain/accounts.ts';
import type { AccountsDeps } from '../../domain/accounts.ts';
import { sessionKey, type AccessAnnouncer } from '../../domain/access/access-changes.ts';
import { recordAudit, type AuditDeps } from '../../domain/access/audit.ts';
import { loginRealms, signInWithProxmox, type ProxmoxSignInDeps } from '../../domain/access/proxmox-sign-in.ts';
import { firstControlCharacter } from '../../lib/control-characters.ts';
import { ValidationError } from '../../lib/errors.ts';
import { allow } from '../middleware/auth.ts';
import { destroySession, flash, signInSession } from '../middleware/session.ts';
import { renderPage } from '../render.ts';
import type { Request, RequestHandler, Response } from 'express';

/**
 * A same-site page to return to after sign-in (`?next=`), never an absolute URL (no open redirect) and never a
 * static file or the favicon.
 */
export const safeReturnTo = (value: unknown): string =>
  typeof value === 'string' && value.length <= 2048 && /^\/(?![/\\])/.test(value) && !/[\\\p{Cc}]/u.test(value) && !/^\/(static|assets)\/|^\/favicon\./.test(value)
    ? value
    : '/containers';

export function authRoutes(deps: AccountsDeps & { access: AccessAnnouncer }, audit: AuditDeps, loginLimits: RequestHandler[], proxmox: ProxmoxSignInDeps): Router {
  const router = Router();
  /** The login form, with the realm list while sign-in with Proxmox VE is on. */
  const loginPage = async (req: Request, res: Response, values: Record<string, unknown>, status = 200) =>
    renderPage(req, res, 'pages/auth/login', { title: 'Sign in', signIn: await loginRealms(proxmox), ...values }, status);

  router.get('/setup', allow.everyone, async (req, res) => {
    if (!(await accounts.needsSetup(deps))) return res.redirect(303, '/login');
    renderPage(req, res, 'pages/auth/setup', { title: 'First-run setup' });
  });

  router.post('/setup', allow.everyone, async (req, res) => {
    if (!(await accounts.needsSetup(deps))) return res.redirect(303, '/login');
    try {
      const user = await accounts.completeSetup(deps, req.body);
      await signInSession(req, user);
      flash(req, 'success', `Welcome, ${user.username}. Add a Proxmox node or deploy on the simulator.`);
      res.redirect(303, '/containers');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const { code, username } = req.body ?? {};
      renderPage(req, res, 'pages/auth/setup', { title: 'First-run setup', errors: err.fields, values: { code, username } }, 422);
    }
  });

  router.get('/login', allow.everyone, async (req, res) => {
    if (req.user) return res.redirect(303, safeReturnTo(req.query.next));
    if (await accounts.needsSetup(deps)) return res.redirect(303, '/setup');
    await loginPage(req, res, {
      next: typeof req.query.next === 'string' ? safeReturnTo(req.query.next) : undefined,
      // Sent here by a request of a session that ended while its page was open (see askToSignIn).
      notice: req.query.session === 'ended' ? 'Your session ended; sign in again.' : undefined,
    });
  });

  router.post('/login', allow.everyone, ...loginLimits, async (req, res) => {
    const username = typeof req.body?.username === 'string' ? req.body.username.trim() : '';
    const password = typeof req.body?.password === 'string' ? req.body.password : '';
    // '' (or absent): a Launchpad account; otherwise a Proxmox VE realm of the sign-in node.
    const realm = typeof req.body?.realm === 'string' ? req.body.realm : '';
    const again = (error: string, status: number, shown = username) => loginPage(req, res, { username: shown, realm, error, next: req.body?.next }, status);
    const control = firstControlCharacter(username);
    if (control) {
      return again(`A username never contains a control character, and this one has ${control} (often from pasting). Type it again.`, 422, username.replace(/\p{Cc}/gu, ''));
    }
    const target = realm ? `${username}@${realm}` : username;
    let user;
    let details: Record<string, unknown> = {};
    if (realm) {
      const result = await signInWithProxmox(proxmox, { username, realm, password });
      if (!result.ok) {
        req.log.warn({ username: target.slice(0, 100), realm }, 'sign-in with Proxmox VE failed');
        await recordAudit(audit, req, { action: 'auth.sign_in', outcome: 'failure', username, target, details: { realm } });
        return again(result.error, result.status);
      }
      user = result.user;
      details = { realm, pveUserid: result.userid, ...(result.created ? { accountCreated: true } : {}) };
    } else {
      const result = await accounts.authenticate(deps, username, password);
      if (!result.ok) {
        req.log.warn({ username: username.slice(0, 64), status: result.status }, 'sign-in failed');
        await recordAudit(audit, req, { action: 'auth.sign_in', outcome: 'failure', username, target: username, ...(result.status === 403 ? { details: { disabled: true } } : {}) });
        return again(result.error, result.status);
      }
      user = result.user;
    }
    const returnTo = safeReturnTo(req.body?.next);
    await signInSession(req, user);
    req.log.info({ userId: user.id, ...(realm ? { realm } : {}) }, 'signed in');
    await recordAudit(audit, { user, ip: req.ip }, { action: 'auth.sign_in', target: user.username, details });
    res.redirect(303, returnTo);
  });

  router.post('/logout', allow.everyone, async (req, res) => {
    const { user, sessionID } = req;
    if (user) await recordAudit(audit, req, { action: 'auth.sign_out', target: user.username });
    await destroySession(req);
    // What this browser's tabs still hold open stops too, in every web process: signed out means nothing more arrives.
    if (user) await deps.access.announce({ userId: user.id, what: 'session', session: sessionKey(sessionID) });
    res.clearCookie('launchpad.sid');
    res.redirect(303, '/login');
  });

  return router;
}
