// The bench's own world: a throwaway database launchpad_bench_<pid> (created and migrated by buildDeps, dropped at
// the end), its own BullMQ prefix, generated secrets, and the environment every child process is started with.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config.ts';
import { buildDeps, type Deps } from '../../src/deps.ts';
import { ADMIN_URL, REDIS_URL, databaseUrl } from '../support/database-urls.ts';

export const BENCH_DB_PREFIX = 'launchpad_bench_';

export interface BenchEnv {
  config: Config;
  deps: Deps;
  dbName: string;
  /** The environment of every child: the same database, Redis, secrets and limits as `config`. */
  childEnv: NodeJS.ProcessEnv;
  simulatorDir: string;
  close(): Promise<void>;
}

async function adminQuery(sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Databases left by a bench that was killed (its pid is gone) are dropped before a new run. */
async function dropAbandonedDatabases() {
  const { rows } = await adminQuery(`SELECT datname FROM pg_database WHERE datname LIKE '${BENCH_DB_PREFIX}%'`);
  for (const { datname } of rows as Array<{ datname: string }>) {
    const pid = Number(datname.slice(BENCH_DB_PREFIX.length));
    if (Number.isInteger(pid) && !alive(pid)) await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
  }
}

export async function createBenchEnv(): Promise<BenchEnv> {
  await dropAbandonedDatabases();
  const dbName = `${BENCH_DB_PREFIX}${process.pid}`;
  const overrides = {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl(dbName),
    REDIS_URL,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    SESSION_SECRET: randomBytes(32).toString('hex'),
    QUEUE_PREFIX: `bench-${process.pid}`,
    // Request logs at info would measure pino writing to a pipe; warnings and errors still show.
    LOG_LEVEL: 'warn',
    // The per-session cap (default 6) protects one browser; the bench's thousands of viewers share one session.
    SSE_MAX_STREAMS: '100000',
    SSE_MAX_STREAMS_PER_SESSION: '100000',
    PVE_POLL_MS: '50',
    // (g): live usage polled every second, so a 20-second window holds ~20 polls.
    USAGE_POLL_MS: '1000',
    WORKER_CONCURRENCY: '1',
  };
  const config = loadConfig(overrides);
  const simulatorDir = await mkdtemp(path.join(os.tmpdir(), 'launchpad-bench-sim-'));
  let deps: Deps;
  try {
    deps = await buildDeps(config, 'bench');
  } catch (err) {
    await rm(simulatorDir, { recursive: true, force: true });
    await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`).catch(() => undefined);
    throw err;
  }
  return {
    config,
    deps,
    dbName,
    childEnv: { ...process.env, ...overrides, BENCH_SIMULATOR_DIR: simulatorDir },
    simulatorDir,
    async close() {
      await deleteRedisKeys(deps, `${config.queuePrefix}:*`).catch(() => undefined);
      await deps.close().catch(() => undefined);
      await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
      await rm(simulatorDir, { recursive: true, force: true });
    },
  };
}

async function deleteRedisKeys(deps: Deps, pattern: string) {
  let cursor = '0';
  do {
    const [next, keys] = await deps.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length) await deps.redis.del(...keys);
  } while (cursor !== '0');
}

export async function machineDetails(deps: Deps) {
  const cpus = os.cpus();
  const pgVersion = (await deps.knex.raw('SELECT version()')).rows[0].version as string;
  const redisInfo = await deps.redis.info('server');
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: pgVersion,
    redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? 'unknown',
  };
}
