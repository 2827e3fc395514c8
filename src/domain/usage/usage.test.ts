import { describe, expect, it } from 'vitest';
import { SERIES_WINDOW_MS, sparkline, type UsagePoint } from './usage.ts';

const STEP = 5_000;
const T0 = 1_800_000_123_000;
const seriesAt = (now: number): UsagePoint[] =>
  Array.from({ length: SERIES_WINDOW_MS / STEP + 1 }, (_, i) => now - SERIES_WINDOW_MS + i * STEP).map((t) => ({ t, cpu: ((t / STEP) % 7) / 10, mem: 0.3 }));
const pairs = (points: string) => points.split(' ').map((p) => p.split(',').map(Number) as [number, number]);

describe('sparkline', () => {
  it('gives each point an x of its own time, so the next poll repeats all but the ends, and moves the window by its viewBox', () => {
    const a = sparkline(seriesAt(T0), 'mem', T0, 240, 40);
    const b = sparkline(seriesAt(T0 + STEP), 'mem', T0 + STEP, 240, 40);
    // One point fewer at the start, one more at the end; everything between is the same text.
    const inner = a.points.slice(a.points.indexOf(' ') + 1);
    expect(b.points.startsWith(inner)).toBe(true);
    expect(b.points.length - inner.length).toBeGreaterThan(0);
    expect(Number(b.minX) - Number(a.minX)).toBeCloseTo((STEP / SERIES_WINDOW_MS) * 240, 1);
  });

  it('draws the window from minX to minX + width, oldest at the left edge, newest at the right, 0 at the bottom', () => {
    const { points, minX } = sparkline(seriesAt(T0), 'cpu', T0, 240, 40);
    const xy = pairs(points);
    expect(xy[0]![0]).toBeCloseTo(Number(minX), 1);
    expect(xy.at(-1)![0]).toBeCloseTo(Number(minX) + 240, 1);
    for (const [x, y] of xy) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(2 * 240);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(40);
    }
    // The CPU line is scaled to its peak (0.6 here): the peak touches the top.
    expect(Math.min(...xy.map(([, y]) => y))).toBe(0);
  });

  it('leaves out points older than the window, and draws nothing without points', () => {
    const old = [{ t: T0 - SERIES_WINDOW_MS - 1, cpu: 1, mem: 1 }, ...seriesAt(T0)];
    expect(pairs(sparkline(old, 'mem', T0, 240, 40).points)).toHaveLength(seriesAt(T0).length);
    expect(sparkline([], 'cpu', T0, 240, 40).points).toBe('');
  });
});
