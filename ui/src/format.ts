// Formatting shared by the screens: ages, sizes, ratios. Pure, so tested alone.

export function formatAge(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  return h ? `${d} d ${h} h` : `${d} d`;
}

/** Seconds from an RFC 3339 time to now (ms); null without a time. */
export function ageSeconds(time: string | null | undefined, now: number): number | null {
  if (!time) return null;
  const t = Date.parse(time);
  if (Number.isNaN(t)) return null;
  return Math.max(0, (now - t) / 1000);
}

export function formatAgo(time: string | null | undefined, now: number): string {
  const a = ageSeconds(time, now);
  return a == null ? 'never' : `${formatAge(a)} ago`;
}

const nf = new Intl.NumberFormat('en-US');
export function formatNumber(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  return nf.format(Math.round(n));
}

export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A ratio 0–1 as a percentage; 0.99834 → "99.8%". */
export function formatPercent(r: number | null | undefined, digits = 1): string {
  if (r == null || !Number.isFinite(r)) return '—';
  const p = r * 100;
  return `${p >= 99.95 && p < 100 ? p.toFixed(2) : p.toFixed(p === 100 || p === 0 ? 0 : digits)}%`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return formatAge(seconds);
}

export function formatTime(time: string | null | undefined): string {
  if (!time) return '—';
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return '—';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export type Level = 'ok' | 'warn' | 'bad' | 'none';

/**
 * How old a last-seen is, against the collector's offline threshold (default
 * 30 s): ok below half of it, warn (amber) up to it, bad (red) past it.
 */
export function lastSeenLevel(age: number | null, offlineAfter = 30): Level {
  if (age == null) return 'none';
  if (age < offlineAfter / 2) return 'ok';
  if (age < offlineAfter) return 'warn';
  return 'bad';
}

/** Completeness: ok at 99% and above, warn from 90%, bad below. */
export function completenessLevel(r: number | null | undefined): Level {
  if (r == null || !Number.isFinite(r)) return 'none';
  if (r >= 0.99) return 'ok';
  if (r >= 0.9) return 'warn';
  return 'bad';
}

export const levelColor: Record<Level, string> = { ok: 'teal', warn: 'orange', bad: 'red', none: 'gray' };
