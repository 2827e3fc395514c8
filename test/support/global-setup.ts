// Once per test run: a freshly migrated template database that every test file clones (CREATE DATABASE … TEMPLATE),
// so files run in parallel on real PostgreSQL without seeing each other's rows.
import pg from 'pg';
import { createKnex, migrateLatest } from '../../src/db/database.ts';
import { ADMIN_URL, TEMPLATE_DB, databaseUrl } from './database-urls.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await dropTestDatabases(admin);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  const knex = createKnex(databaseUrl(TEMPLATE_DB), 1);
  await migrateLatest(knex);
  await knex.destroy();
  await admin.end();
  return async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    await dropTestDatabases(client);
    await client.end();
  };
}

async function dropTestDatabases(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'launchpad_test%'");
  for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
}
