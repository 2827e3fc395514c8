// The admin's side of accounts (/users): create a user with a role and hand them a one-time invite link, change
// the role, disable/enable, re-issue the link (password reset), delete. The person sets their own password on the
// link's page: no admin ever chooses or sees one. Disabling or deleting ends every session of the user at once, and
// with a role change closes the live streams the user holds open in every web process (src/domain/access/access-changes.ts).
import { createHash, randomBytes } from 'node:crypto';
import type { ApiTokensRepository } from '../db/api-tokens-repository.ts';
import type { InvitePurpose, InvitesRepository } from '../db/invites-repository.ts';
import type { User, UsersRepository } from '../db/users-repository.ts';
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.ts';
import type { AccessAnnouncer } from './access/access-changes.ts';
import { revokeAllApiTokensFor } from './access/api-tokens.ts';
import { normalizeUsername } from './accounts.ts';
import { hashPassword } from './passwords.ts';
import { isRole, type Role } from './roles.ts';

export const INVITE_LIFETIME_MS = 48 * 60 * 60 * 1000;

export interface UserManagementDeps {
  repos: { users: UsersRepository; invites: InvitesRepository; apiTokens: ApiTokensRepository };
  access: AccessAnnouncer;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** API tokens of a disabled or deleted user stop working at once (called on every disable and delete). */
export async function revokeApiTokens(deps: UserManagementDeps, userId: number): Promise<void> {
  await revokeAllApiTokensFor({ apiTokens: deps.repos.apiTokens }, userId);
}

/** A fresh link token for the user (replacing any earlier one); only its hash is stored. Returns the raw token. */
async function issueInvite(deps: UserManagementDeps, userId: number, purpose: InvitePurpose): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + INVITE_LIFETIME_MS);
  await deps.repos.invites.replace(userId, hashToken(token), expiresAt, purpose);
  return { token, expiresAt };
}

function roleFrom(value: unknown): Role {
  if (!isRole(value)) throw new ValidationError({ role: 'Choose admin, operator or viewer.' });
  return value;
}

export async function createUser(deps: UserManagementDeps, input: { username?: unknown; role?: unknown }): Promise<{ user: User; token: string; expiresAt: Date }> {
  const username = normalizeUsername(input.username);
  const fields: Record<string, string> = {};
  if (!username) fields.username = 'Use 1–64 ASCII letters, digits, dots, dashes or underscores, starting with a letter or digit (letters are stored lower-case).';
  if (!isRole(input.role)) fields.role = 'Choose admin, operator or viewer.';
  if (Object.keys(fields).length) throw new ValidationError(fields);
  if (await deps.repos.users.findByUsername(username!)) throw new ValidationError({ username: `The username “${username}” is taken.` });
  // No usable password until the person sets one through the link: a random one nobody knows.
  const user = await deps.repos.users.create({ username: username!, passwordHash: await hashPassword(randomBytes(32).toString('hex')), role: roleFrom(input.role) });
  return { user, ...(await issueInvite(deps, user.id, 'invite')) };
}

/** The account at /users/:id (NotFoundError otherwise): read first, so even a refused change names whom it was about. */
export async function findUser(deps: UserManagementDeps, rawId: string): Promise<User> {
  const user = /^\d{1,9}$/.test(rawId) ? await deps.repos.users.findById(Number(rawId)) : undefined;
  if (!user) throw new NotFoundError('That user');
  return user;
}

const LAST_ADMIN = 'This is the last enabled admin: make another account an admin first.';

export async function changeRole(deps: UserManagementDeps, user: User, role: unknown): Promise<User> {
  const outcome = await deps.repos.users.change(user.id, { role: roleFrom(role) });
  if (outcome === 'last-admin') throw new ConflictError(LAST_ADMIN, 'rule');
  // A stream keeps the role it was opened with (what it renders, what it offers): it reconnects under the new one.
  if (role !== user.role) await deps.access.announce({ userId: user.id, what: 'account' });
  return user;
}

export async function setDisabled(deps: UserManagementDeps, user: User, disabled: boolean): Promise<User> {
  const outcome = await deps.repos.users.change(user.id, { disabled });
  if (outcome === 'last-admin') throw new ConflictError(LAST_ADMIN, 'rule');
  if (disabled) {
    await deps.repos.users.endSessions(user.id);
    await revokeApiTokens(deps, user.id);
    // Its open invite or reset link too: hidden while the account is disabled, it would work again once enabled.
    await deps.repos.invites.deleteFor(user.id);
    await deps.access.announce({ userId: user.id, what: 'account' });
  }
  return user;
}

export async function deleteUser(deps: UserManagementDeps, user: User): Promise<User> {
  const outcome = await deps.repos.users.delete(user.id);
  if (outcome === 'last-admin') throw new ConflictError(LAST_ADMIN, 'rule');
  if (outcome === 'owns-containers') throw new ConflictError(`${user.username} owns containers, whose history names who built them: disable the account instead.`, 'rule');
  await deps.repos.users.endSessions(user.id);
  await revokeApiTokens(deps, user.id);
  await deps.access.announce({ userId: user.id, what: 'account' });
  return user;
}

/** Re-issues the link (password reset): the old link stops working; the current password keeps working until used. */
export async function reissueInvite(deps: UserManagementDeps, user: User): Promise<{ user: User; token: string; expiresAt: Date }> {
  return { user, ...(await issueInvite(deps, user.id, 'reset')) };
}

export async function openInvite(deps: UserManagementDeps, token: string) {
  const invite = await deps.repos.invites.findOpen(hashToken(token));
  if (!invite) throw new NotFoundError('That invite link (it may have expired or been used already; ask an admin for a new one)');
  return invite;
}

/** The audit action of using a link: accepting an invite, or completing a password reset. */
export const linkAuditAction = (purpose: InvitePurpose) => (purpose === 'reset' ? 'auth.reset_accept' : 'auth.invite_accept');

/** Sets the password from an invite link, once; every other session of the user ends (a reset locks others out). */
export async function acceptInvite(deps: UserManagementDeps, token: string, input: { password?: unknown; password_confirm?: unknown }): Promise<{ user: User; purpose: InvitePurpose }> {
  const invite = await openInvite(deps, token);
  const password = typeof input.password === 'string' ? input.password : '';
  const fields: Record<string, string> = {};
  if (password.length < 8) fields.password = 'Use at least 8 characters.';
  else if (password.length > 1024) fields.password = 'Use at most 1024 characters.';
  if (input.password_confirm !== password) fields.password_confirm = 'The two passwords differ.';
  if (Object.keys(fields).length) throw new ValidationError(fields);
  if (!(await deps.repos.invites.consume(hashToken(token)))) throw new NotFoundError('That invite link (it was used a moment ago)');
  await deps.repos.users.setPassword(invite.userId, await hashPassword(password));
  await deps.repos.users.endSessions(invite.userId);
  await deps.access.announce({ userId: invite.userId, what: 'sessions' });
  return { user: (await deps.repos.users.findById(invite.userId))!, purpose: invite.purpose };
}

export async function listUsers(deps: UserManagementDeps) {
  const users = await deps.repos.users.list();
  const invites = await deps.repos.invites.openFor(users.map((u) => u.id));
  return users.map((user) => ({ user, inviteExpiresAt: invites.get(user.id) }));
}
