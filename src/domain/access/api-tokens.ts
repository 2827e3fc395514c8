// API tokens for scripts and CI: created on /account, shown once, kept only as a hash. A bearer token signs its
// request in as its owner, with the owner's role, exactly as a session would.
import { createHash, randomBytes } from 'node:crypto';
import type { ApiToken, ApiTokensRepository } from '../../db/api-tokens-repository.ts';
import type { User, UsersRepository } from '../../db/users-repository.ts';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { AccessAnnouncer } from './access-changes.ts';

/** Recognisable in a leaked-secret scan; the rest is 32 random bytes. */
const PREFIX = 'lp_';
const TOKEN_SHAPE = /^lp_[A-Za-z0-9_-]{43}$/;
const NAME = /^[\p{L}\p{N} ._-]{1,64}$/u;
const MAX_DAYS = 3650;
/** Usable (neither revoked nor expired) tokens one account may hold. */
export const MAX_ACTIVE_TOKENS = 20;

export interface ApiTokenDeps {
  apiTokens: ApiTokensRepository;
  users: UsersRepository;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** Checks the form (name, optional expiry in days) before anything is stored. */
export function validateTokenInput(body: { name?: unknown; expires_in_days?: unknown }): { name: string; expiresAt: Date | null } {
  const fields: Record<string, string> = {};
  const name = typeof body.name === 'string' ? body.name.trim() : '';
  if (!NAME.test(name)) fields.name = 'Use 1–64 letters, digits, spaces, dots, dashes or underscores.';
  const days = typeof body.expires_in_days === 'string' ? body.expires_in_days.trim() : '';
  let expiresAt: Date | null = null;
  if (days !== '') {
    if (!/^\d{1,4}$/.test(days) || Number(days) < 1 || Number(days) > MAX_DAYS) fields.expires_in_days = `Use a whole number of days from 1 to ${MAX_DAYS}, or leave it empty for no expiry.`;
    else expiresAt = new Date(Date.now() + Number(days) * 86_400_000);
  }
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return { name, expiresAt };
}

/**
 * Creates a token for `user`; the plain token is returned this once and never stored. An account holds at most
 * MAX_ACTIVE_TOKENS usable tokens: each is a credential to keep track of, and each may hold its own live streams.
 */
export async function createApiToken(deps: ApiTokenDeps, user: User, input: { name: string; expiresAt: Date | null }): Promise<{ token: string; record: ApiToken }> {
  const token = PREFIX + randomBytes(32).toString('base64url');
  const record = await deps.apiTokens.createWithin(MAX_ACTIVE_TOKENS, { userId: user.id, name: input.name, tokenHash: hashOf(token), expiresAt: input.expiresAt });
  if (record === 'full') {
    throw new ValidationError({ tokens: `You have ${MAX_ACTIVE_TOKENS} active API tokens, the most one account may hold. Revoke one you no longer use (list above), then create this one.` });
  }
  return { token, record };
}

export function listApiTokens(deps: ApiTokenDeps, user: User): Promise<ApiToken[]> {
  return deps.apiTokens.listFor(user.id);
}

/** Revokes one of the user's tokens: refused from now on, and the streams it holds open close. */
export async function revokeApiToken(deps: Pick<ApiTokenDeps, 'apiTokens'> & { access: AccessAnnouncer }, user: User, id: string): Promise<ApiToken> {
  const revoked = /^\d{1,9}$/.test(id) ? await deps.apiTokens.revoke(user.id, Number(id)) : undefined;
  if (!revoked) throw new NotFoundError('That token');
  await deps.access.announce({ userId: user.id, what: 'token', tokenId: revoked.id });
  return revoked;
}

/** For user management: a disabled or deleted account keeps no working token. */
export function revokeAllApiTokensFor(deps: Pick<ApiTokenDeps, 'apiTokens'>, userId: number): Promise<number> {
  return deps.apiTokens.revokeAllFor(userId);
}

/** The user a bearer token signs in, or undefined for a malformed, unknown, revoked or expired token. */
export async function authenticateToken(deps: ApiTokenDeps, token: string): Promise<{ user: User; tokenId: number; expiresAt: Date | null } | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const record = await deps.apiTokens.useByHash(hashOf(token));
  if (!record) return undefined;
  const user = await deps.users.findById(record.userId);
  // A disabled account's tokens are revoked when it is disabled; checked here too, as sessions are.
  return user && !user.disabledAt ? { user, tokenId: record.id, expiresAt: record.expiresAt } : undefined;
}
