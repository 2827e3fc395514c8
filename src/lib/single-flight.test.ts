import { afterEach, describe, expect, it, vi } from 'vitest';
import { singleFlight } from './single-flight.ts';

describe('singleFlight', () => {
  afterEach(() => vi.useRealTimers());

  it('shares one load among concurrent asks for a key, and loads again once it has arrived', async () => {
    const shared = singleFlight<string, number>();
    let loads = 0;
    const load = () => new Promise<number>((resolve) => setImmediate(() => resolve(++loads)));
    expect(await Promise.all([shared('a', load), shared('a', load), shared('a', load)])).toEqual([1, 1, 1]);
    expect(await shared('b', load)).toBe(2);
    expect(await shared('a', load)).toBe(3);
  });

  it('with keepMs, serves the answer for that long after it arrived, then loads again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const shared = singleFlight<string, number>({ keepMs: 1_000 });
    let loads = 0;
    const load = async () => ++loads;
    expect(await shared('a', load)).toBe(1);
    vi.setSystemTime(Date.now() + 999);
    expect(await shared('a', load)).toBe(1);
    vi.setSystemTime(Date.now() + 2);
    expect(await shared('a', load)).toBe(2);
  });

  it('does not keep a failure: the next ask loads again', async () => {
    const shared = singleFlight<string, number>({ keepMs: 60_000 });
    let calls = 0;
    const load = async () => {
      calls++;
      if (calls === 1) throw new Error('database away');
      return calls;
    };
    await expect(shared('a', load)).rejects.toThrow('database away');
    expect(await shared('a', load)).toBe(2);
  });
});
