// Tests talk to the same PostgreSQL and Redis the app uses by default (CI starts them); TEST_DATABASE_HOST_URL and
// TEST_REDIS_URL point elsewhere if needed.
const base = process.env.TEST_DATABASE_HOST_URL ?? 'postgres://postgres@127.0.0.1:5432';

export const ADMIN_URL = `${base}/postgres`;
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const databaseUrl = (name: string) => `${base}/${name}`;

/** Test databases are named lpt_<epoch seconds>_<pid>_…, so concurrent runs never drop each other's databases. */
export const TEST_DB_PREFIX = 'lpt_';
export const runPrefix = (epochSeconds: number, pid: number) => `${TEST_DB_PREFIX}${epochSeconds}_${pid}_`;
