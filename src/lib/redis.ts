import { Redis, type RedisOptions } from 'ioredis';
import { ServiceUnavailableError, redactUrl } from './service-errors.ts';

export type { Redis };

const HOW_TO_START_REDIS =
  'start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no` (or `docker compose up -d redis`)';

/**
 * A Redis connection that reports errors to `onError` at most once per outage (ioredis retries forever and would
 * otherwise print an "Unhandled error event" per attempt).
 */
export function createRedis(url: string, onError: (err: Error) => void, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 5_000, ...options });
  let reported = false;
  redis.on('error', (err: Error) => {
    if (!reported) onError(err);
    reported = true;
  });
  redis.on('ready', () => {
    reported = false;
  });
  return redis;
}

/** Connects and pings once, failing within a few seconds with a readable message instead of retrying forever. */
export async function connectRedis(redis: Redis, url: string): Promise<void> {
  let firstError: Error | undefined;
  const remember = (err: Error) => (firstError ??= err);
  redis.on('error', remember);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref(),
  );
  try {
    if (redis.status === 'wait') await Promise.race([redis.connect(), timeout]);
    await Promise.race([redis.ping(), timeout]);
  } catch (err) {
    redis.disconnect();
    const reason = (firstError ?? (err as Error)).message;
    throw new ServiceUnavailableError(`Cannot reach Redis at ${redactUrl(url)} (${reason}) — ${HOW_TO_START_REDIS}`);
  } finally {
    redis.off('error', remember);
  }
}
