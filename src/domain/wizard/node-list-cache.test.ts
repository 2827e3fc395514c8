import { describe, expect, it } from 'vitest';
import { NodeListCache } from './node-list-cache.ts';

function counter<T>(value: T) {
  const calls = { n: 0 };
  let release: () => void = () => undefined;
  const load = () => {
    calls.n++;
    return new Promise<T>((resolve) => (release = () => resolve(value)));
  };
  return { calls, load, release: () => release() };
}

describe('NodeListCache', () => {
  it('shares one call in flight and remembers the answer for the TTL, per node and endpoint', async () => {
    let now = 1_000;
    const cache = new NodeListCache(5_000, () => now);
    const storages = counter(['local-lvm']);
    const first = cache.get(1, 'storage', storages.load);
    const second = cache.get(1, 'storage', storages.load);
    storages.release();
    expect(await first).toEqual(['local-lvm']);
    expect(await second).toEqual(['local-lvm']);
    expect(storages.calls.n).toBe(1);

    now += 4_999;
    expect(await cache.get(1, 'storage', storages.load)).toEqual(['local-lvm']);
    expect(storages.calls.n).toBe(1);
    // Another node, or another endpoint, is another call.
    const other = counter(['x']);
    const onNode2 = cache.get(2, 'storage', other.load);
    other.release();
    await onNode2;
    expect(other.calls.n).toBe(1);

    now += 1;
    const again = cache.get(1, 'storage', storages.load);
    storages.release();
    await again;
    expect(storages.calls.n).toBe(2);
  });

  it('does not remember a failure: everyone waiting hears it, the next request asks again', async () => {
    const cache = new NodeListCache(5_000, () => 0);
    let calls = 0;
    let fail: (err: Error) => void = () => undefined;
    const failing = () => {
      calls++;
      return new Promise<string[]>((_resolve, reject) => (fail = reject));
    };
    const a = cache.get(1, 'network', failing);
    const b = cache.get(1, 'network', failing);
    fail(new Error('connection refused'));
    await expect(a).rejects.toThrow('connection refused');
    await expect(b).rejects.toThrow('connection refused');
    expect(calls).toBe(1);
    expect(await cache.get(1, 'network', async () => ['vmbr0'])).toEqual(['vmbr0']);
  });
});
