import type { Knex } from 'knex';

export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

interface ApiTokenRow {
  id: number;
  user_id: number;
  name: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const toToken = (r: ApiTokenRow): ApiToken => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

export class ApiTokensRepository {
  constructor(private readonly knex: Knex) {}

  /**
   * Creates the token unless the user already holds `max` usable ones (neither revoked nor expired): then 'full'.
   * The user's row is locked meanwhile, so two requests at once cannot both take the last place.
   */
  async createWithin(max: number, input: { userId: number; name: string; tokenHash: string; expiresAt: Date | null }): Promise<ApiToken | 'full'> {
    return this.knex.transaction(async (trx) => {
      await trx('users').where({ id: input.userId }).forUpdate().first('id');
      const row = await trx('api_tokens')
        .where({ user_id: input.userId })
        .whereNull('revoked_at')
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', trx.fn.now()))
        .count<{ count: string }[]>('* as count')
        .first();
      if (Number(row?.count ?? 0) >= max) return 'full';
      const [created] = await trx<ApiTokenRow>('api_tokens')
        .insert({ user_id: input.userId, name: input.name, token_hash: input.tokenHash, expires_at: input.expiresAt })
        .returning('*');
      return toToken(created!);
    });
  }

  /** Newest first, revoked ones included (the list shows them as revoked). */
  async listFor(userId: number): Promise<ApiToken[]> {
    const rows = await this.knex<ApiTokenRow>('api_tokens').where({ user_id: userId }).orderBy('id', 'desc');
    return rows.map(toToken);
  }

  /** A token that may be used now: not revoked, not expired. Stamps last_used_at on the way. */
  async useByHash(tokenHash: string): Promise<ApiToken | undefined> {
    const [row] = await this.knex<ApiTokenRow>('api_tokens')
      .where({ token_hash: tokenHash })
      .whereNull('revoked_at')
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', this.knex.fn.now()))
      .update({ last_used_at: this.knex.fn.now() })
      .returning('*');
    return row && toToken(row);
  }

  /** Revokes one of the user's own tokens; undefined when it is not theirs or already revoked. */
  async revoke(userId: number, id: number): Promise<ApiToken | undefined> {
    const [row] = await this.knex<ApiTokenRow>('api_tokens')
      .where({ id, user_id: userId })
      .whereNull('revoked_at')
      .update({ revoked_at: this.knex.fn.now() })
      .returning('*');
    return row && toToken(row);
  }

  async revokeAllFor(userId: number): Promise<number> {
    return this.knex('api_tokens').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: this.knex.fn.now() });
  }
}
