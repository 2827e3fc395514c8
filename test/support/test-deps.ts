import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { buildDeps, type Deps } from '../../src/deps.ts';
import { createLogger } from '../../src/logger.ts';
import { ADMIN_URL, REDIS_URL, databaseUrl } from './database-urls.ts';

/** A database cloned from the migrated template, private to the calling test file. */
export async function cloneTestDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const template = inject('templateDb');
  const name = `${template.replace(/template$/, '')}${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  await admin.end();
  return {
    url: databaseUrl(name),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    REDIS_URL,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    SESSION_SECRET: randomBytes(32).toString('hex'),
    // Every test signs in from 127.0.0.1; the per-address limit has its own test.
    LOGIN_LIMIT_PER_IP: '1000',
    ...overrides,
  });
}

export interface TestEnv {
  deps: Deps;
  config: Config;
  /** A unique prefix for Redis keys this file writes. */
  prefix: string;
  close(): Promise<void>;
}

export async function createTestEnv(overrides: Record<string, string> = {}, logger?: Deps['logger']): Promise<TestEnv> {
  const db = await cloneTestDatabase();
  const config = testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: `test-${db.name}`, ...overrides });
  const deps = await buildDeps(config, 'test', logger ?? createLogger(config.logLevel, 'test'));
  return {
    deps,
    config,
    prefix: `test:${db.name}:`,
    async close() {
      await deps.close();
      await db.drop();
    },
  };
}
