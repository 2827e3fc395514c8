import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { knexConfig, migrateLatest } from '../src/db/database.ts';
import { migrationSource } from '../src/db/migration-source.ts';
import { freePort } from './support/free-port.ts';
import { cloneTestDatabase } from './support/test-deps.ts';

const run = promisify(execFile);

async function startWeb(env: Record<string, string>) {
  const started = Date.now();
  try {
    await run(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...process.env, LOG_LEVEL: 'silent', PORT: '0', ...env }, timeout: 20_000 });
    return { code: 0, stderr: '', ms: Date.now() - started };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr, ms: Date.now() - started };
  }
}

describe('configuration', () => {
  it('has the defaults of the spec', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/launchpad');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.simulator).toBe('auto');
    expect(c.simulatorSpeed).toBe(1);
    expect(c.workerConcurrency).toBe(2);
    expect(c.templatesDir).toBe('./templates');
  });

  it('names each bad variable', () => {
    expect(() => loadConfig({ PORT: 'abc', ENCRYPTION_KEY: 'short' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'abc', ENCRYPTION_KEY: 'short', PVE_SIMULATOR: 'maybe' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT/);
      expect((err as Error).message).toMatch(/ENCRYPTION_KEY must be 32 bytes/);
      expect((err as Error).message).toMatch(/PVE_SIMULATOR/);
    }
    expect(() => loadConfig({ ADMIN_USER: 'root' })).toThrow(/together/);
  });
});

describe('start-up when a service is down', () => {
  it('fails within 10 s with one line naming the PostgreSQL URL and how to start it', async () => {
    const port = await freePort();
    const res = await startWeb({ DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${port}/launchpad` });
    expect(res.code).toBe(1);
    expect(res.ms).toBeLessThan(10_000);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:${port}/launchpad`);
    expect(lines[0]).toContain('pg_ctlcluster');
    expect(res.stderr).not.toContain('hunter2');
  });

  it('fails within 10 s with one line naming the Redis URL and how to start it', async () => {
    const port = await freePort();
    const db = await cloneTestDatabase();
    try {
      const res = await startWeb({ DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}` });
      expect(res.code).toBe(1);
      expect(res.ms).toBeLessThan(10_000);
      const lines = res.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`Cannot reach Redis at redis://127.0.0.1:${port}`);
      expect(lines[0]).toContain('redis-server');
    } finally {
      await db.drop();
    }
  });
});

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof cloneTestDatabase>>;
  beforeAll(async () => {
    db = await cloneTestDatabase();
  });
  afterAll(() => db.drop());

  it('turn existing accounts into roles: the admin stays admin, any other account becomes an operator', async () => {
    const knex = knexFactory(knexConfig(db.url, 1));
    try {
      // Back to just before the roles, with accounts as they were stored then.
      while ((await knex.migrate.currentVersion()) >= '20261128100000') await knex.migrate.down();
      await knex('users').insert([
        { username: 'legacy-admin', password_hash: 'x', is_admin: true },
        { username: 'legacy-other', password_hash: 'x', is_admin: false },
      ]);
      await migrateLatest(knex);
      const roles = await knex('users').whereIn('username', ['legacy-admin', 'legacy-other']).orderBy('username').select('username', 'role', 'disabled_at');
      expect(roles).toEqual([
        { username: 'legacy-admin', role: 'admin', disabled_at: null },
        { username: 'legacy-other', role: 'operator', disabled_at: null },
      ]);
      expect(await knex.schema.hasColumn('users', 'is_admin')).toBe(false);
      await knex('users').whereIn('username', ['legacy-admin', 'legacy-other']).delete();
    } finally {
      await knex.destroy();
    }
  });

  it('go down to nothing and up again, with the keys the spec asks for', async () => {
    const knex = knexFactory(knexConfig(db.url, 1));
    try {
      const tables = async () =>
        (await knex.raw("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex%' ORDER BY 1")).rows.map((r: { tablename: string }) => r.tablename);
      expect(await tables()).toEqual([
        'api_tokens', 'audit_entries', 'container_credentials', 'container_events', 'container_health_checks', 'container_history', 'container_services', 'containers', 'nodes', 'package_set_items',
        'package_sets', 'sessions', 'settings', 'template_files', 'template_package_sets', 'template_packages',
        'template_scripts', 'template_test_lines', 'template_test_runs', 'templates', 'user_invites', 'users',
      ]);
      const all = await migrationSource.getMigrations([]);
      await knex.migrate.rollback(undefined, true);
      expect(await tables()).toEqual([]);
      expect(await migrateLatest(knex)).toHaveLength(all.length);
      expect(await tables()).toHaveLength(22);

      const unique = await knex.raw(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'container_events' AND indexdef LIKE '%UNIQUE%'",
      );
      expect(unique.rows.map((r: { indexdef: string }) => r.indexdef).join()).toContain('(container_id, seq)');
    } finally {
      await knex.destroy();
    }
  });
});
