import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { SettingsRepository } from '../db/settings-repository.ts';
import type { InvitesRepository } from '../db/invites-repository.ts';
import type { User, UsersRepository } from '../db/users-repository.ts';
import { ForbiddenError, ValidationError } from '../lib/errors.ts';
import type { AccessAnnouncer } from './access/access-changes.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.ts';

/** The one username pattern: ASCII only, stored and compared lower-case. */
const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * A username as typed → its one spelling, or undefined when it cannot be a username. Only ASCII letters are
 * lower-cased (once, here): `ADMİN` with a dotted capital I stays non-ASCII and is no spelling of `admin`.
 */
export function normalizeUsername(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const name = raw.trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
  return USERNAME.test(name) ? name : undefined;
}
const SETUP_CODE_KEY = 'setup_code';

export interface AccountsDeps {
  users: UsersRepository;
  settings: SettingsRepository;
  logger: Logger;
}

export function validateCredentials(input: { username?: unknown; password?: unknown; password_confirm?: unknown }) {
  const fields: Record<string, string> = {};
  const username = normalizeUsername(input.username) ?? '';
  const password = typeof input.password === 'string' ? input.password : '';
  if (!username) fields.username = 'Use 1–64 ASCII letters, digits, dots, dashes or underscores, starting with a letter or digit (letters are stored lower-case).';
  if (password.length < 8) fields.password = 'Use at least 8 characters.';
  else if (password.length > 1024) fields.password = 'Use at most 1024 characters.';
  if (input.password_confirm !== undefined && input.password_confirm !== password) fields.password_confirm = 'The two passwords differ.';
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return { username, password };
}

export async function needsSetup(deps: AccountsDeps): Promise<boolean> {
  return (await deps.users.count()) === 0;
}

/**
 * While no account exists, a one-time setup code guards /setup. It is shared through the settings table so every
 * web process accepts the same code, and printed in each process's log.
 */
export async function announceSetupCode(deps: AccountsDeps): Promise<void> {
  if (!(await needsSetup(deps))) {
    await deps.settings.delete(SETUP_CODE_KEY);
    return;
  }
  const code = await deps.settings.getOrInsert(SETUP_CODE_KEY, randomBytes(6).toString('hex'));
  deps.logger.warn({ setupCode: code }, `No account exists yet: open /setup and enter the one-time setup code ${code}`);
}

export async function completeSetup(
  deps: AccountsDeps,
  input: { code?: unknown; username?: unknown; password?: unknown; password_confirm?: unknown },
): Promise<User> {
  const expected = await deps.settings.get(SETUP_CODE_KEY);
  const given = typeof input.code === 'string' ? input.code.trim() : '';
  // Every problem at once, the setup code's first: without the right code nothing else on the form matters.
  const fields: Record<string, string> = {};
  if (!expected || given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
    fields.code = 'That is not the setup code. Copy it from the server log (line “one-time setup code”).';
  }
  let credentials: ReturnType<typeof validateCredentials> | undefined;
  try {
    credentials = validateCredentials(input);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    Object.assign(fields, err.fields);
  }
  if (!credentials || fields.code) throw new ValidationError(fields);
  const user = await deps.users.createFirst({
    username: credentials.username,
    passwordHash: await hashPassword(credentials.password),
  });
  if (!user) throw new ForbiddenError('Setup is already complete. Sign in instead.');
  await deps.settings.delete(SETUP_CODE_KEY);
  deps.logger.info({ username: user.username }, 'first admin account created through /setup');
  return user;
}

/** ADMIN_USER/ADMIN_PASSWORD: create this admin at boot when no account exists yet (automation, CI). */
export async function seedAdmin(deps: AccountsDeps, admin: { username: string; password: string } | undefined): Promise<void> {
  if (!admin) return;
  const { username, password } = validateCredentials(admin);
  const user = await deps.users.createFirst({ username, passwordHash: await hashPassword(password) });
  if (user) {
    await deps.settings.delete(SETUP_CODE_KEY);
    deps.logger.info({ username }, 'admin account created from ADMIN_USER/ADMIN_PASSWORD');
  }
}

/** What a sign-in with a Launchpad password comes to: the account, or the status and words of the refusal. */
export type Authentication = { ok: true; user: User } | { ok: false; status: number; error: string };

/**
 * Checks a Launchpad password, spending the same time on unknown usernames and disabled accounts. Only a correct
 * password learns that its account is disabled (a wrong one hears what any wrong password does).
 */
export async function authenticate(deps: AccountsDeps, username: string, password: string): Promise<Authentication> {
  const name = normalizeUsername(username);
  const user = name ? await deps.users.findByUsername(name) : undefined;
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
  if (!ok || !user) return { ok: false, status: 401, error: 'Wrong username or password.' };
  if (user.disabledAt) return { ok: false, status: 403, error: 'This account is disabled. Ask an admin of this Launchpad to enable it again.' };
  return { ok: true, user };
}

/**
 * The key the per-account sign-in limit counts under: the account itself, whichever spelling was typed; for a
 * Proxmox VE realm, the Proxmox user as typed (Proxmox compares user names exactly).
 */
export async function signInLimitKey(deps: Pick<AccountsDeps, 'users'>, typed: unknown, realm?: unknown): Promise<string> {
  if (typeof realm === 'string' && realm) return `pve:${String(typed ?? '').trim().slice(0, 64)}@${realm.slice(0, 32)}`;
  const name = normalizeUsername(typed);
  if (!name) return '(not a username)';
  const user = await deps.users.findByUsername(name);
  return user ? `account:${user.id}` : `unknown:${name}`;
}

/**
 * Changes the user's own password: the current one is required; every stored session of the account ends, the live
 * streams its browsers hold open close, and a reset link still open stops working (it would set the password over
 * this one). Returns the account with its new password, which the caller's session goes on with.
 */
export async function changeOwnPassword(
  deps: Pick<AccountsDeps, 'users'> & { invites: Pick<InvitesRepository, 'deleteFor'>; access: AccessAnnouncer },
  user: User,
  input: { current_password?: unknown; password?: unknown; password_confirm?: unknown },
): Promise<User> {
  const current = typeof input.current_password === 'string' ? input.current_password : '';
  const password = typeof input.password === 'string' ? input.password : '';
  const fields: Record<string, string> = {};
  if (!(await verifyPassword(current, user.passwordHash))) fields.current_password = 'That is not your current password.';
  if (password.length < 8) fields.password = 'Use at least 8 characters.';
  else if (password.length > 1024) fields.password = 'Use at most 1024 characters.';
  if (input.password_confirm !== password) fields.password_confirm = 'The two passwords differ.';
  if (Object.keys(fields).length) throw new ValidationError(fields);
  const passwordHash = await hashPassword(password);
  await deps.users.setPassword(user.id, passwordHash);
  await deps.invites.deleteFor(user.id);
  await deps.users.endSessions(user.id);
  await deps.access.announce({ userId: user.id, what: 'sessions' });
  return { ...user, passwordHash };
}
