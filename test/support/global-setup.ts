// Once per test run: a freshly migrated template database that every test file clones (CREATE DATABASE … TEMPLATE),
// so files run in parallel on real PostgreSQL without seeing each other's rows.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createKnex, migrateLatest } from '../../src/db/database.ts';
import { ADMIN_URL, TEST_DB_PREFIX, databaseUrl, runPrefix } from './database-urls.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}

const STALE_AFTER_SECONDS = 3 * 60 * 60;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const prefix = runPrefix(Math.floor(Date.now() / 1000), process.pid);
  const templateDb = `${prefix}template`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await dropDatabases(admin, (name) => {
    const started = Number(name.slice(TEST_DB_PREFIX.length).split('_')[0]);
    return Number.isFinite(started) && Date.now() / 1000 - started > STALE_AFTER_SECONDS;
  });
  await admin.query(`CREATE DATABASE ${templateDb}`);
  await admin.end();
  const knex = createKnex(databaseUrl(templateDb), 1);
  await migrateLatest(knex);
  await knex.destroy();
  project.provide('templateDb', templateDb);

  return async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    await dropDatabases(client, (name) => name.startsWith(prefix));
    await client.end();
  };
}

async function dropDatabases(client: pg.Client, which: (name: string) => boolean): Promise<void> {
  const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${TEST_DB_PREFIX}%`]);
  for (const { datname } of rows.filter((r) => which(r.datname))) {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
  }
}
