import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { ServiceUnavailableError, redactUrl } from '../lib/service-errors.ts';
import { migrationSource } from './migration-source.ts';

export function knexConfig(databaseUrl: string, poolMax = 10): Knex.Config {
  return {
    client: 'pg',
    connection: databaseUrl,
    // Two connections stay open and the others idle for ten minutes before they close: a burst of requests after a
    // quiet spell (a hundred viewers reconnecting) does not wait for connections to be opened one by one.
    pool: { min: Math.min(2, poolMax), max: poolMax, idleTimeoutMillis: 10 * 60_000 },
    acquireConnectionTimeout: 10_000,
    migrations: { migrationSource, tableName: 'knex_migrations' },
  };
}

export function createKnex(databaseUrl: string, poolMax = 10): Knex {
  return knexFactory(knexConfig(databaseUrl, poolMax));
}

const HOW_TO_START_PG = 'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or `docker compose up -d postgres`)';

/** Creates the database named in the URL when it does not exist yet. Fails fast with a readable message. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new ServiceUnavailableError(`DATABASE_URL ${redactUrl(databaseUrl)} names no database`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new ServiceUnavailableError(
      `Cannot reach PostgreSQL at ${redactUrl(databaseUrl)} (${(err as Error).message || (err as { code?: string }).code}) — ${HOW_TO_START_PG}`,
    );
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently by another process
      });
    }
  } finally {
    await client.end();
  }
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}
