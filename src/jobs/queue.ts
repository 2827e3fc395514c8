import { Queue, type ConnectionOptions } from 'bullmq';

export const QUEUE_NAME = 'launchpad';

/** BullMQ connection options from REDIS_URL (BullMQ opens its own connections; they must not be shared with pub/sub). */
export function queueConnection(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

export function createQueue(redisUrl: string, prefix: string): Queue {
  // The producer fails fast while Redis is away (no offline queue), so a request can answer 503 at once instead
  // of hanging until Redis returns.
  return new Queue(QUEUE_NAME, { connection: { ...queueConnection(redisUrl), enableOfflineQueue: false }, prefix });
}
