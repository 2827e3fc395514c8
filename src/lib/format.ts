/** "42s", "3m 05s", "1h 07m" between two ISO timestamps. */
export function formatDuration(fromIso: string, toIso: string): string {
  const seconds = Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return m < 60 ? `${m}m ${s}s` : `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
