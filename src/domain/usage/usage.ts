// The vocabulary of live usage: one sample of a running CT as Proxmox reports it (`GET /nodes/{node}/lxc`), the
// 15-minute series the sparklines draw, and what a page shows when the node cannot be asked. Pure functions only:
// the monitor (usage-monitor.ts) polls and shares, the partial (views/partials/containers/usage-panel.eta) draws.
import { formatBytes } from '../../lib/format.ts';
import type { LxcRrdPoint, LxcStatus } from '../../proxmox/api-types.ts';

export interface UsageSample {
  /** Epoch ms the node was asked. */
  at: number;
  status: 'running' | 'stopped';
  /** CPU use as a fraction of the CT's cores (Proxmox's `cpu`), and how many cores it has. */
  cpu: number;
  cores: number;
  mem: number;
  maxmem: number;
  swap: number;
  maxswap: number;
  disk: number;
  maxdisk: number;
  /** Bytes per second since the previous sample; null for the first one (a rate needs two counters). */
  netinRate: number | null;
  netoutRate: number | null;
  /** The node's counters, kept for the next rate. */
  netin: number;
  netout: number;
  /** Seconds, while running. */
  uptime: number;
  /** Epoch ms the CT was first seen stopped (carried from sample to sample while it stays stopped). */
  stoppedSince: number | null;
  lock?: string;
  /** Proxmox lists the CT as a template (someone converted it): it will never run again. */
  template?: true;
  /** The guest's name as the node lists it: another name at this VMID may be another guest (usage-stream.ts). */
  name?: string;
}

/** One point of a sparkline: CPU and memory as fractions (0–1). */
export interface UsagePoint {
  t: number;
  cpu: number;
  mem: number;
}

export interface UsageSnapshot {
  sample?: UsageSample;
  /** Oldest first, at most SERIES_WINDOW_MS long. */
  series: UsagePoint[];
  /**
   * Why the latest poll has no fresh values (node unreachable, CT not on the node), and since when. `missing`: the
   * node answered without the CT.
   */
  problem?: { reason: string; at: number; missing?: true };
}

export const SERIES_WINDOW_MS = 15 * 60_000;

const fraction = (used: number, total: number) => (total > 0 ? Math.min(1, Math.max(0, used / total)) : 0);

/** The next sample from what the node said, given the previous one (for rates and "stopped since"). */
export function nextSample(prev: UsageSample | undefined, guest: LxcStatus, at: number): UsageSample {
  const running = guest.status === 'running';
  const netin = guest.netin ?? 0;
  const netout = guest.netout ?? 0;
  const seconds = prev ? (at - prev.at) / 1000 : 0;
  // A counter that went down means the CT restarted: no rate from that pair.
  const rate = (now: number, before: number | undefined) =>
    running && prev?.status === 'running' && seconds > 0 && before !== undefined && now >= before ? (now - before) / seconds : null;
  return {
    at,
    status: running ? 'running' : 'stopped',
    cpu: running ? Math.max(0, guest.cpu ?? 0) : 0,
    cores: guest.cpus ?? 1,
    mem: running ? (guest.mem ?? 0) : 0,
    maxmem: guest.maxmem ?? 0,
    swap: running ? (guest.swap ?? 0) : 0,
    maxswap: guest.maxswap ?? 0,
    disk: guest.disk ?? 0,
    maxdisk: guest.maxdisk ?? 0,
    netinRate: rate(netin, prev?.netin),
    netoutRate: rate(netout, prev?.netout),
    netin,
    netout,
    uptime: running ? guest.uptime : 0,
    stoppedSince: running ? null : prev?.status === 'stopped' && prev.stoppedSince !== null ? prev.stoppedSince : at,
    ...(guest.lock ? { lock: guest.lock } : {}),
    ...(guest.template ? { template: true as const } : {}),
    name: guest.name,
  };
}

export const pointOf = (s: UsageSample): UsagePoint => ({ t: s.at, cpu: Math.min(1, s.cpu), mem: fraction(s.mem, s.maxmem) });

/** rrddata's minute averages as points (the ones within the window that have values). */
export function pointsFromRrd(points: readonly LxcRrdPoint[], now: number): UsagePoint[] {
  return points
    .filter((p) => p.cpu !== undefined && p.mem !== undefined && now - p.time * 1000 <= SERIES_WINDOW_MS)
    .map((p) => ({ t: p.time * 1000, cpu: Math.min(1, p.cpu!), mem: fraction(p.mem!, p.maxmem ?? 0) }));
}

/** The series with `point` appended and everything older than the window dropped. */
export function appendPoint(series: readonly UsagePoint[], point: UsagePoint): UsagePoint[] {
  return [...series, point].filter((p) => point.t - p.t <= SERIES_WINDOW_MS);
}

/**
 * An SVG polyline drawing one value of the series over the 15-minute window that ends at `now`, 0 at the bottom and 1
 * at the top of a `width` × `height` box: its `points`, empty when there is nothing to draw, and the x where the
 * window starts (the viewBox's min-x; the window is `width` wide from there). A point's x depends on its own time
 * only — measured from the start of the 15-minute period before the window's start, so 0 ≤ x < 2 × width — not on
 * `now`: the next poll's points are these minus the oldest plus the newest, and the window moves by moving the
 * viewBox. The page's stream sends the panel at every poll, and a points string that repeats all but its ends costs
 * its compressor one back-reference (both sparklines: ~100 B a poll instead of ~800 when every x moved with `now`;
 * docs/performance.md). Every x moves once per 15 minutes, when the period does.
 */
export function sparkline(series: readonly UsagePoint[], value: 'cpu' | 'mem', now: number, width: number, height: number): { points: string; minX: string } {
  const start = now - SERIES_WINDOW_MS;
  const origin = Math.floor(start / SERIES_WINDOW_MS) * SERIES_WINDOW_MS;
  const x = (t: number) => (((t - origin) / SERIES_WINDOW_MS) * width).toFixed(1);
  const scale = value === 'cpu' ? Math.max(0.05, ...series.map((p) => p.cpu)) : 1;
  const points = series
    .filter((p) => p.t >= start)
    .map((p) => `${x(p.t)},${(height - (Math.min(p[value], scale) / scale) * height).toFixed(1)}`)
    .join(' ');
  return { points, minX: x(start) };
}

/** What the usage panel shows, worked out once per snapshot (every viewer of a container gets the same HTML). */
export interface UsageView {
  /** running: figures and sparklines; stopped: "stopped since"; waiting: no sample yet; */
  state: 'running' | 'stopped' | 'waiting';
  asOf?: number;
  bars: Array<{ key: string; label: string; fraction: number; text: string }>;
  netIn?: number | null;
  netOut?: number | null;
  uptime?: number;
  stoppedSince?: number | null;
  /** Set when the values are not fresh: why, and since when. */
  stale?: { reason: string; since: number };
  /** The sparklines' points and the viewBox min-x they share (see sparkline). */
  spark: { cpu: string; mem: string; minX: string; peakCpu: number; points: number };
}

export const SPARK_WIDTH = 240;
export const SPARK_HEIGHT = 40;

export function usageView(snapshot: UsageSnapshot, now: number): UsageView {
  const s = snapshot.sample;
  const cpu = sparkline(snapshot.series, 'cpu', now, SPARK_WIDTH, SPARK_HEIGHT);
  const spark = {
    cpu: cpu.points,
    mem: sparkline(snapshot.series, 'mem', now, SPARK_WIDTH, SPARK_HEIGHT).points,
    minX: cpu.minX,
    peakCpu: Math.max(0, ...snapshot.series.map((p) => p.cpu)),
    points: snapshot.series.length,
  };
  const stale = snapshot.problem ? { reason: snapshot.problem.reason, since: snapshot.problem.at } : undefined;
  if (!s) return { state: 'waiting', bars: [], spark, stale };
  const bar = (key: string, label: string, used: number, total: number, text: string) => ({ key, label, fraction: total > 0 ? Math.min(1, used / total) : 0, text });
  const bytes = (used: number, total: number) => `${formatBytes(used)} of ${formatBytes(total)}`;
  return {
    state: s.status,
    asOf: s.at,
    bars:
      s.status === 'running'
        ? [
            bar('cpu', 'CPU', s.cpu, 1, `${(s.cpu * 100).toFixed(1)} % of ${s.cores} core${s.cores === 1 ? '' : 's'}`),
            bar('mem', 'Memory', s.mem, s.maxmem, bytes(s.mem, s.maxmem)),
            bar('swap', 'Swap', s.swap, s.maxswap, s.maxswap > 0 ? bytes(s.swap, s.maxswap) : 'none configured'),
            bar('disk', 'Root disk', s.disk, s.maxdisk, bytes(s.disk, s.maxdisk)),
          ]
        : [bar('disk', 'Root disk', s.disk, s.maxdisk, s.disk > 0 ? bytes(s.disk, s.maxdisk) : `${formatBytes(s.maxdisk)} allocated`)],
    netIn: s.netinRate,
    netOut: s.netoutRate,
    uptime: s.uptime,
    stoppedSince: s.stoppedSince,
    stale,
    spark,
  };
}
