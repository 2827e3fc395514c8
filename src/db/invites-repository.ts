import type { Knex } from 'knex';

/** What a link is for: a new account's first password, or a new password for an account that had one. */
export type InvitePurpose = 'invite' | 'reset';

export interface Invite {
  userId: number;
  username: string;
  expiresAt: Date;
  purpose: InvitePurpose;
}

/** One-time invite links: stored as the SHA-256 of their token, at most one open per user. */
export class InvitesRepository {
  constructor(private readonly knex: Knex) {}

  /**
   * Replaces the user's open invite (a re-issued link makes the old one useless). A link that replaces one never used
   * keeps its purpose: a new link for an invite nobody took up is still an invite.
   */
  async replace(userId: number, tokenHash: string, expiresAt: Date, purpose: InvitePurpose): Promise<void> {
    await this.knex('user_invites')
      .insert({ user_id: userId, token_hash: tokenHash, expires_at: expiresAt, purpose })
      .onConflict('user_id')
      .merge({ token_hash: tokenHash, expires_at: expiresAt, created_at: this.knex.fn.now() });
  }

  async findOpen(tokenHash: string): Promise<Invite | undefined> {
    const row = await this.knex('user_invites as i')
      .join('users as u', 'u.id', 'i.user_id')
      .where('i.token_hash', tokenHash)
      .where('i.expires_at', '>', this.knex.fn.now())
      .whereNull('u.disabled_at')
      .first<{ user_id: number; username: string; expires_at: Date; purpose: InvitePurpose } | undefined>('i.user_id', 'u.username', 'i.expires_at', 'i.purpose');
    return row && { userId: row.user_id, username: row.username, expiresAt: row.expires_at, purpose: row.purpose };
  }

  /** Uses the invite up: true only for the one request that removed it (two tabs cannot both set a password). */
  async consume(tokenHash: string): Promise<boolean> {
    return (await this.knex('user_invites').where({ token_hash: tokenHash }).delete()) === 1;
  }

  /** Drops the user's open invite or reset link, if any (a password they set themselves makes it useless). */
  async deleteFor(userId: number): Promise<void> {
    await this.knex('user_invites').where({ user_id: userId }).delete();
  }

  async openFor(userIds: number[]): Promise<Map<number, Date>> {
    const rows = await this.knex('user_invites').whereIn('user_id', userIds).where('expires_at', '>', this.knex.fn.now()).select('user_id', 'expires_at');
    return new Map(rows.map((r: { user_id: number; expires_at: Date }) => [r.user_id, r.expires_at]));
  }
}
