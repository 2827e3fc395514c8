import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { SettingsRepository } from '../db/settings-repository.ts';
import type { User, UsersRepository } from '../db/users-repository.ts';
import { ForbiddenError, ValidationError } from '../lib/errors.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.ts';

const USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const SETUP_CODE_KEY = 'setup_code';

export interface AccountsDeps {
  users: UsersRepository;
  settings: SettingsRepository;
  logger: Logger;
}

export function validateCredentials(input: { username?: unknown; password?: unknown; password_confirm?: unknown }) {
  const fields: Record<string, string> = {};
  const username = typeof input.username === 'string' ? input.username.trim() : '';
  const password = typeof input.password === 'string' ? input.password : '';
  if (!USERNAME.test(username)) fields.username = 'Use 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.';
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
  const credentials = validateCredentials(input);
  if (!expected || given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
    throw new ValidationError({ code: 'That is not the setup code. Copy it from the server log (line “one-time setup code”).' });
  }
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

/** Returns the user when the password matches; spends the same time on unknown usernames. */
export async function authenticate(deps: AccountsDeps, username: string, password: string): Promise<User | undefined> {
  const user = username ? await deps.users.findByUsername(username) : undefined;
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
  return ok && user ? user : undefined;
}
