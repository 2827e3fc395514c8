// The results table (stdout) and bench-results/latest.json.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Row, Target } from './context.ts';

export function meets(value: number | undefined, target: Target | undefined): boolean | undefined {
  if (!target) return undefined;
  if (value === undefined || Number.isNaN(value)) return false;
  switch (target.op) {
    case '<=':
      return value <= target.value;
    case '<':
      return value < target.value;
    case '>=':
      return value >= target.value;
    case '==':
      return value === target.value;
  }
}

/** How many times better Launchpad is than the baseline (> 1: Launchpad better). */
export function ratio(row: Row): number | undefined {
  const { launchpad: lp, naive: nv } = row;
  if (!row.better || lp === undefined || nv === undefined || Number.isNaN(lp) || Number.isNaN(nv)) return undefined;
  if (row.better === 'lower') return lp > 0 ? nv / lp : undefined;
  return nv > 0 ? lp / nv : undefined;
}

function format(value: number | undefined, unit: string): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  const digits = Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  if (!unit) return text;
  return unit.startsWith('/') ? `${text}${unit}` : `${text} ${unit}`;
}

const verdict = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'pass' : 'FAIL');

export function tableLines(rows: Row[]): string[] {
  const header = ['scenario', 'metric', 'Launchpad', 'naive', 'ratio', 'target', 'Launchpad?', 'naive?'];
  const body = rows.map((r) => {
    const x = ratio(r);
    return [
      r.scenario,
      r.metric + (r.note ? ` (${r.note})` : ''),
      format(r.launchpad, r.unit),
      format(r.naive, r.unit),
      x === undefined ? '' : `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×`,
      r.target?.label ?? '',
      verdict(meets(r.launchpad, r.target)),
      r.launchpadOnly ? '' : verdict(meets(r.naive, r.target)),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    line(header),
    line(widths.map((w) => '─'.repeat(w))),
    ...body.map(line),
  ];
}

export async function writeResults(file: string, results: Record<string, unknown>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}
