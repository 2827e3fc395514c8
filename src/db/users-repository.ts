import type { Knex } from 'knex';
import type { Role } from '../domain/roles.ts';
import { isUniqueViolation } from '../lib/db-errors.ts';

export interface User {
  id: number;
  username: string;
  passwordHash: string;
  role: Role;
  /** Set while an admin has disabled the account: it cannot sign in and its sessions end. */
  disabledAt: Date | null;
  createdAt: Date;
  /** The Proxmox VE user (`name@realm`) this account signs in as, when linked. */
  pveUserid: string | null;
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  role: Role;
  disabled_at: Date | null;
  created_at: Date;
  pve_userid: string | null;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  role: r.role,
  disabledAt: r.disabled_at,
  createdAt: r.created_at,
  pveUserid: r.pve_userid,
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

  /** The usernames of these accounts, by id (for naming who owns what). */
  async usernames(ids: readonly number[]): Promise<Map<number, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.knex<UserRow>('users').whereIn('id', [...new Set(ids)]).select('id', 'username');
    return new Map(rows.map((r) => [r.id, r.username]));
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.knex<UserRow>('users').whereRaw('lower(username) = lower(?)', [username]).first();
    return row && toUser(row);
  }

  async create(input: { username: string; passwordHash: string; role: Role; pveUserid?: string }): Promise<User> {
    const [row] = await this.knex<UserRow>('users')
      .insert({ username: input.username, password_hash: input.passwordHash, role: input.role, pve_userid: input.pveUserid ?? null })
      .returning('*');
    return toUser(row!);
  }

  async findByPveUserid(pveUserid: string): Promise<User | undefined> {
    const row = await this.knex<UserRow>('users').where({ pve_userid: pveUserid }).first();
    return row && toUser(row);
  }

  /** Links the account to a Proxmox VE user, or unlinks it (null). False when another account has that link. */
  async setPveUserid(id: number, pveUserid: string | null): Promise<boolean> {
    try {
      await this.knex('users').where({ id }).update({ pve_userid: pveUserid });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
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

  async list(): Promise<User[]> {
    return (await this.knex<UserRow>('users').orderBy('username')).map(toUser);
  }

  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.knex('users').where({ id }).update({ password_hash: passwordHash });
  }

  /**
   * Changes a user's role or enabled state unless that would leave no enabled admin. The table lock serialises two
   * admins demoting each other at once.
   */
  async change(id: number, patch: { role?: Role; disabled?: boolean }): Promise<'done' | 'last-admin' | 'missing'> {
    return this.knex.transaction(async (trx) => {
      await trx.raw('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
      const row = await trx<UserRow>('users').where({ id }).first();
      if (!row) return 'missing';
      const staysAdmin = (patch.role ?? row.role) === 'admin' && !(patch.disabled ?? Boolean(row.disabled_at));
      if (row.role === 'admin' && !row.disabled_at && !staysAdmin && !(await this.otherEnabledAdmin(trx, id))) return 'last-admin';
      const update: Partial<UserRow> = {};
      if (patch.role) update.role = patch.role;
      if (patch.disabled !== undefined) update.disabled_at = patch.disabled ? (row.disabled_at ?? new Date()) : null;
      await trx('users').where({ id }).update(update);
      return 'done';
    });
  }

  /** Deletes the user unless they are the last enabled admin. */
  async delete(id: number): Promise<'done' | 'last-admin' | 'owns-containers' | 'missing'> {
    return this.knex.transaction(async (trx) => {
      await trx.raw('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
      const row = await trx<UserRow>('users').where({ id }).first();
      if (!row) return 'missing';
      if (row.role === 'admin' && !row.disabled_at && !(await this.otherEnabledAdmin(trx, id))) return 'last-admin';
      // Containers keep their owner (their history names who built them): such an account is disabled instead.
      if (await trx('containers').where({ owner_id: id }).first('id')) return 'owns-containers';
      await trx('users').where({ id }).delete();
      return 'done';
    });
  }

  /** Ends every stored session of this user at once (their next request lands on /login). */
  async endSessions(id: number): Promise<number> {
    return this.knex('sessions').whereRaw("(sess->>'userId')::int = ?", [id]).delete();
  }

  private async otherEnabledAdmin(trx: Knex.Transaction, id: number): Promise<boolean> {
    return Boolean(await trx('users').where({ role: 'admin' }).whereNull('disabled_at').whereNot({ id }).first('id'));
  }
}
