import type { Knex } from 'knex';

export interface User {
  id: number;
  username: string;
  passwordHash: string;
  isAdmin: boolean;
  createdAt: Date;
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  is_admin: boolean;
  created_at: Date;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  isAdmin: r.is_admin,
  createdAt: r.created_at,
});

export class UsersRepository {
  constructor(private readonly knex: Knex) {}

  async count(): Promise<number> {
    const row = await this.knex('users').count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  }

  async findById(id: number): Promise<User | undefined> {
    const row = await this.knex<UserRow>('users').where({ id }).first();
    return row && toUser(row);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.knex<UserRow>('users').whereRaw('lower(username) = lower(?)', [username]).first();
    return row && toUser(row);
  }

  async create(input: { username: string; passwordHash: string; isAdmin: boolean }): Promise<User> {
    const [row] = await this.knex<UserRow>('users')
      .insert({ username: input.username, password_hash: input.passwordHash, is_admin: input.isAdmin })
      .returning('*');
    return toUser(row!);
  }

  /**
   * Inserts the first account only while the table is empty. The table lock makes two concurrent first-run
   * submissions produce one admin, not two.
   */
  async createFirst(input: { username: string; passwordHash: string }): Promise<User | undefined> {
    return this.knex.transaction(async (trx) => {
      await trx.raw('LOCK TABLE users IN EXCLUSIVE MODE');
      const existing = await trx('users').first('id');
      if (existing) return undefined;
      const [row] = await trx<UserRow>('users')
        .insert({ username: input.username, password_hash: input.passwordHash, is_admin: true })
        .returning('*');
      return toUser(row!);
    });
  }
}
