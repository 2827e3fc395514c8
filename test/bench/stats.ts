// Clocks and summaries shared by every bench process.

/**
 * Milliseconds on CLOCK_MONOTONIC (process.hrtime), which on Linux is the same clock in every process on the machine:
 * a timestamp taken in the worker can be subtracted from one taken in the client.
 */
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (p: number) => sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: n, p50: at(50), p99: at(99), max: sorted[n - 1]!, mean: sum / n };
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it became true. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** Runs `task` for each item with at most `limit` in flight. */
export async function inBatches<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}
