// Accounts: the admin pages under /users, and the one-time invite link where a person sets their own password.
import { Router, type Request, type Response } from 'express';
import * as users from '../../domain/user-management.ts';
import { linkProxmoxUser, loadSignInSettings, saveSignInSettings, signInFormValues, type ProxmoxSignInDeps } from '../../domain/access/proxmox-sign-in.ts';
import { recordAudit, type AuditDeps } from '../../domain/access/audit.ts';
import { hasRole, isRole, ROLE_DESCRIPTIONS, ROLES } from '../../domain/roles.ts';
import { ValidationError } from '../../lib/errors.ts';
import { auditDetails, auditTarget } from '../middleware/audit-writes.ts';
import { allow } from '../middleware/auth.ts';
import { sessionOnly } from '../middleware/bearer-auth.ts';
import { flash, signInSession } from '../middleware/session.ts';
import { renderPage } from '../render.ts';

const SECTION = '/users';

async function renderList(req: Request, res: Response, deps: users.UserManagementDeps, proxmox: ProxmoxSignInDeps, extra: Record<string, unknown> = {}, status = 200) {
  renderPage(req, res, 'pages/users/index', {
    title: 'Users', section: SECTION, rows: await users.listUsers(deps), roles: ROLES, roleDescriptions: ROLE_DESCRIPTIONS,
    form: { username: '', role: 'operator' }, errors: {},
    signIn: await loadSignInSettings(proxmox), nodes: await proxmox.nodes.list(), signInErrors: {}, linkErrors: {}, linkValues: {},
    ...extra,
  }, status);
}

/** The link is shown once, on this page only: not stored, not logged, not cached. */
function showInvite(req: Request, res: Response, result: { user: { username: string }; token: string; expiresAt: Date }, reset: boolean) {
  res.set('Cache-Control', 'no-store');
  renderPage(req, res, 'pages/users/invite-link', {
    title: `Invite link for ${result.user.username}`, section: SECTION, username: result.user.username, reset,
    link: `${req.protocol}://${req.get('host')}/invite/${result.token}`, expiresAt: result.expiresAt,
  }, reset ? 200 : 201);
}

export function userRoutes(deps: users.UserManagementDeps, proxmox: ProxmoxSignInDeps): Router {
  const router = Router();
  // An account, its invite or reset link, its Proxmox VE link and the accounts Proxmox sign-in creates are ways to
  // sign in: made from a browser session only (the 403 is audited as denied by auditAdminWrites).
  const browserOnly = sessionOnly<{ id: string }>('user accounts or how they sign in', 'Users (/users)');

  router.get('/users', allow.admins, (req, res) => renderList(req, res, deps, proxmox));

  router.post('/users/proxmox-sign-in', allow.admins, browserOnly, async (req, res) => {
    auditTarget(res, 'sign-in with Proxmox VE');
    try {
      const settings = await saveSignInSettings(proxmox, req.body ?? {});
      flash(req, 'success', settings.enabled ? 'Sign-in with Proxmox VE accounts is on: the login form lists the node’s realms.' : 'Sign-in with Proxmox VE accounts is off.');
      res.redirect(303, '/users#proxmox-sign-in');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderList(req, res, deps, proxmox, { signIn: signInFormValues(req.body ?? {}), signInErrors: err.fields }, 422);
    }
  });

  router.post('/users/:id/proxmox-user', allow.admins, browserOnly, async (req, res) => {
    try {
      const { user, pveUserid } = await linkProxmoxUser(proxmox, req.params.id, req.body?.pve_userid);
      auditTarget(res, user.username);
      flash(req, 'success', pveUserid ? `${user.username} signs in as Proxmox VE user ${pveUserid} too.` : `${user.username} is no longer linked to a Proxmox VE user.`);
      res.redirect(303, '/users');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderList(req, res, deps, proxmox, { linkErrors: { [req.params.id]: err.fields.pve_userid }, linkValues: { [req.params.id]: String(req.body?.pve_userid ?? '') } }, 422);
    }
  });

  router.post('/users', allow.admins, browserOnly, async (req, res) => {
    try {
      const created = await users.createUser(deps, req.body ?? {});
      auditTarget(res, created.user.username);
      showInvite(req, res, created, false);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      auditTarget(res, String(req.body?.username ?? ''));
      await renderList(req, res, deps, proxmox, { form: { username: String(req.body?.username ?? ''), role: String(req.body?.role ?? '') }, errors: err.fields }, 422);
    }
  });

  /** The account a /users/:id change is about, named in its audit entry also when the change is refused. */
  const targetUser = async (req: Request, res: Response) => {
    const user = await users.findUser(deps, String(req.params.id));
    auditTarget(res, user.username);
    return user;
  };

  // Giving an account access back or more of it is as good as making a sign-in: a leaked admin token could enable one
  // of its holder's own accounts again, or raise its role (to admin, or viewer to operator), and that outlives the
  // token's revocation. Taking access away — disable, a lower role, delete — stays open to a token.
  const grantsByBrowser = sessionOnly<{ id: string }>('who may sign in again or do more', 'Users (/users)');

  router.post('/users/:id/role', allow.admins, async (req, res, next) => {
    const user = await targetUser(req, res);
    const role = req.body?.role;
    if (isRole(role)) auditDetails(res, { role, previous_role: user.role });
    if (isRole(role) && !hasRole(user.role, role) && req.apiTokenId !== undefined) return grantsByBrowser(req, res, next);
    await users.changeRole(deps, user, role);
    flash(req, 'success', `${user.username} is now ${role === 'admin' ? 'an admin' : `a ${role}`}.`);
    res.redirect(303, '/users');
  });

  router.post('/users/:id/disable', allow.admins, async (req, res) => {
    const user = await users.setDisabled(deps, await targetUser(req, res), true);
    flash(req, 'success', `${user.username} is disabled: their sessions have ended.`);
    res.redirect(303, '/users');
  });

  router.post('/users/:id/enable', allow.admins, async (req, res, next) => {
    const target = await targetUser(req, res);
    if (req.apiTokenId !== undefined) return grantsByBrowser(req, res, next);
    const user = await users.setDisabled(deps, target, false);
    flash(req, 'success', `${user.username} is enabled again.`);
    res.redirect(303, '/users');
  });

  router.post('/users/:id/invite', allow.admins, browserOnly, async (req, res) => {
    const reissued = await users.reissueInvite(deps, await targetUser(req, res));
    showInvite(req, res, reissued, true);
  });

  router.post('/users/:id/delete', allow.admins, async (req, res) => {
    const user = await users.deleteUser(deps, await targetUser(req, res));
    flash(req, 'success', `${user.username} is deleted.`);
    res.redirect(303, '/users');
  });

  return router;
}

/** The invite link itself: open to whoever holds it (the token is the credential), so mounted before sign-in. */
export function inviteRoutes(deps: users.UserManagementDeps & AuditDeps): Router {
  const router = Router();

  router.get('/invite/:token', allow.everyone, async (req, res) => {
    const invite = await users.openInvite(deps, req.params.token);
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    renderPage(req, res, 'pages/users/set-password', { title: 'Set your password', username: invite.username, token: req.params.token, errors: {} });
  });

  router.post('/invite/:token', allow.everyone, async (req, res) => {
    try {
      const { user, purpose } = await users.acceptInvite(deps, req.params.token, req.body ?? {});
      // The link (an invite or a password reset) set a password and signs its holder in: both worth a "who?".
      await recordAudit(deps, { user, ip: req.ip }, { action: users.linkAuditAction(purpose), target: user.username, details: { signed_in: true } });
      await signInSession(req, user);
      flash(req, 'success', `Welcome, ${user.username}: your password is set.`);
      res.redirect(303, '/containers');
    } catch (err) {
      // Refused too is worth a "who?": the fields that were wrong, or why the link no longer works — never the link.
      // A link that no longer works cannot say whether it was an invite or a reset: it is audited as an invite's.
      const status = (err as { status?: number }).status ?? 500;
      if (!(err instanceof ValidationError)) {
        await recordAudit(deps, { ip: req.ip }, { action: users.linkAuditAction('invite'), outcome: 'failure', details: { status, message: (err as Error).message } });
        throw err;
      }
      const invite = await users.openInvite(deps, req.params.token);
      await recordAudit(deps, { ip: req.ip }, { action: users.linkAuditAction(invite.purpose), outcome: 'failure', username: invite.username, target: invite.username, details: { status: 422, fields: Object.keys(err.fields) } });
      res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
      renderPage(req, res, 'pages/users/set-password', { title: 'Set your password', username: invite.username, token: req.params.token, errors: err.fields }, 422);
    }
  });

  return router;
}
