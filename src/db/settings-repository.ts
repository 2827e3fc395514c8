import type { Knex } from 'knex';

export class SettingsRepository {
  constructor(private readonly knex: Knex) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.knex('settings').where({ key }).first('value');
    return row?.value as string | undefined;
  }

  /** Stores the value unless the key is already set; returns whichever value won (safe across processes). */
  async getOrInsert(key: string, value: string): Promise<string> {
    await this.knex('settings').insert({ key, value }).onConflict('key').ignore();
    return (await this.get(key))!;
  }

  async set(key: string, value: string): Promise<void> {
    await this.knex('settings')
      .insert({ key, value, updated_at: this.knex.fn.now() })
      .onConflict('key')
      .merge(['value', 'updated_at']);
  }

  async delete(key: string): Promise<void> {
    await this.knex('settings').where({ key }).delete();
  }

  async ping(): Promise<void> {
    await this.knex.raw('SELECT 1');
  }
}
