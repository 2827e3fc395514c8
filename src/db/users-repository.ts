import type { Knex } from 'knex';
import type { Role } from '../domain/roles.ts';

export interface User {
  id: number;
  username: string;
  passwordHash: string;
  role: Role;
  /** Set while an admin has disabled the account: it cannot sign in and its sessions end. */
  disabledAt: Date | null;
  createdAt: Date;
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  role: Role;
  disabled_at: Date | null;
  created_at: Date;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  role: r.role,
  disabledAt: r.disabled_at,
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

  async create(input: { username: string; passwordHash: string; role: Role }): Promise<User> {
    const [row] = await this.knex<UserRow>('users')
      .insert({ username: input.username, password_hash: input.passwordHash, role: input.role })
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
        .insert({ username: input.username, password_hash: input.passwordHash, role: 'admin' })
        .returning('*');
      return toUser(row!);
    });
  }
}
