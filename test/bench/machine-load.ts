// How busy the machine was while a scenario ran, and how much of that was the bench: on a shared machine other
// work competes for the same cores, and the figures mean little without saying so. Linux /proc only; elsewhere the
// numbers are simply absent.
import { readFileSync } from 'node:fs';
import os from 'node:os';

const TICK_MS = 10; // USER_HZ is 100 on every Linux the bench runs on

interface CpuSample {
  at: number;
  /** CPU time the whole machine spent busy (not idle, not waiting on I/O), ms. */
  machineBusyMs: number;
  /** CPU time of the bench's own processes (run.ts and its children), ms. */
  benchMs: number;
}

function machineBusyMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

function processCpuMs(pid: number): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

export function sampleCpu(pids: number[]): CpuSample | undefined {
  try {
    return { at: Date.now(), machineBusyMs: machineBusyMs(), benchMs: [process.pid, ...pids].reduce((n, pid) => n + processCpuMs(pid), 0) };
  } catch {
    return undefined;
  }
}

export interface LoadReport {
  seconds: number;
  /** Cores' worth of CPU the machine used on average (2.0 = both cores of a 2-core machine busy). */
  machineCores: number;
  /** Of which the bench's own Node processes (not Postgres, Redis or the simulator's sandboxes). */
  benchCores: number;
  /** Everything else: Postgres, Redis, sandboxes — and whatever else runs on this machine. */
  otherCores: number;
  loadAverage1m: number;
}

export function loadBetween(before: CpuSample | undefined, after: CpuSample | undefined): LoadReport | undefined {
  if (!before || !after || after.at <= before.at) return undefined;
  const wall = after.at - before.at;
  const machine = (after.machineBusyMs - before.machineBusyMs) / wall;
  // A child that exited in between drops out of the sum; never report a negative share.
  const bench = Math.max(0, (after.benchMs - before.benchMs) / wall);
  const round = (x: number) => Math.round(x * 100) / 100;
  return { seconds: round(wall / 1000), machineCores: round(machine), benchCores: round(bench), otherCores: round(Math.max(0, machine - bench)), loadAverage1m: round(os.loadavg()[0]!) };
}
