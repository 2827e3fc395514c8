import { Redis, type RedisOptions } from 'ioredis';
import { ServiceUnavailableError, redactUrl } from './service-errors.ts';

export type { Redis };

const HOW_TO_START_REDIS =
  'start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no` (or `docker compose up -d redis`)';

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { lazyConnect: true, connectTimeout: 5_000, ...options });
}

/** Connects and pings once, failing within a few seconds with a readable message instead of retrying forever. */
export async function connectRedis(redis: Redis, url: string): Promise<void> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref(),
  );
  try {
    if (redis.status === 'wait') await Promise.race([redis.connect(), timeout]);
    await Promise.race([redis.ping(), timeout]);
  } catch (err) {
    redis.disconnect();
    throw new ServiceUnavailableError(`Cannot reach Redis at ${redactUrl(url)} (${(err as Error).message}) — ${HOW_TO_START_REDIS}`);
  }
}
