import type { Redis } from '../lib/redis.ts';

const key = (containerId: string) => `launchpad:cancel:${containerId}`;

/**
 * "Cancel" crosses processes: the web process sets a flag in Redis, the worker running that container polls it
 * and aborts the running command or Proxmox task. The flag expires on its own.
 */
export class CancelRequests {
  constructor(private readonly redis: Redis) {}

  async request(containerId: string, by: string): Promise<void> {
    await this.redis.set(key(containerId), by, 'EX', 3600);
  }

  async clear(containerId: string): Promise<void> {
    await this.redis.del(key(containerId));
  }

  async requestedBy(containerId: string): Promise<string | null> {
    return this.redis.get(key(containerId));
  }

  /** An AbortSignal that fires when cancel is requested (checked every `everyMs`), until `stop()` is called. */
  watch(containerId: string, everyMs = 1000): { signal: AbortSignal; stop: () => void } {
    const controller = new AbortController();
    const timer = setInterval(() => {
      this.requestedBy(containerId).then(
        (by) => by !== null && controller.abort(new CancelledByUser(by)),
        () => undefined, // Redis away: keep building; cancel works again once it is back
      );
    }, everyMs);
    timer.unref();
    return { signal: controller.signal, stop: () => clearInterval(timer) };
  }
}

export class CancelledByUser extends Error {
  constructor(readonly by: string) {
    super(`Cancelled by ${by}.`);
  }
}
