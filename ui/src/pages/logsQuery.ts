// The log viewer's state: filters kept in the URL, the REST query they make, and
// the same filters applied to records arriving live over the WebSocket.
import { qs } from '../api';

export interface LogRecord {
  id?: number;
  collector: string;
  stream: string;
  cursor: number;
  time: string;
  level: string;
  msg: string;
  attrs: Record<string, unknown> | null;
  received_at?: string;
}

export interface LogFilter {
  level: '' | 'debug' | 'info' | 'warn' | 'error';
  q: string;
  since: string; // as the API takes it: RFC 3339, "-15m" …; '' = no bound
  until: string;
}

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const PAGE = 100;

const rank: Record<string, number> = { debug: 0, info: 1, warn: 2, warning: 2, error: 3 };

export function levelRank(level: string): number {
  return rank[level.toLowerCase()] ?? 1;
}

export function filterFromSearch(sp: URLSearchParams): LogFilter {
  const l = sp.get('level') ?? '';
  return {
    level: (LEVELS as readonly string[]).includes(l) ? (l as LogFilter['level']) : '',
    q: sp.get('q') ?? '',
    since: sp.get('since') ?? '',
    until: sp.get('until') ?? '',
  };
}

export function filterToSearch(f: LogFilter, follow: boolean): string {
  return qs({ level: f.level, q: f.q, since: f.since, until: f.until, follow: follow ? undefined : '0' });
}

/** GET /collectors/{id}/logs parameters for a page (newest first). */
export function logsPath(id: string, f: LogFilter, offset: number, limit = PAGE): string {
  return `/collectors/${encodeURIComponent(id)}/logs${qs({ level: f.level, q: f.q, since: f.since, until: f.until, limit, offset })}`;
}

/** The server's download of every matching record (limit and offset aside). */
export function exportHref(id: string, f: LogFilter, format: 'csv' | 'json'): string {
  return `/api/v1/collectors/${encodeURIComponent(id)}/logs${qs({ level: f.level, q: f.q, since: f.since, until: f.until, format })}`;
}

/** attrs as the API's q matches them: key=value, space separated. */
export function attrsText(attrs: Record<string, unknown> | null | undefined): string {
  if (!attrs) return '';
  return Object.entries(attrs).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

/** A time bound as the API reads it (RFC 3339, unix seconds, now, -5m …) to a date; null when open or unreadable. */
export function boundTime(s: string, now: number): number | null {
  const v = s.trim();
  if (!v) return null;
  if (v === 'now') return now;
  const rel = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v);
  if (rel) {
    const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return now - Number(rel[1]) * mult;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

/** Whether a live record belongs in the list under the filter, as the server would decide. */
export function matches(r: LogRecord, f: LogFilter, now: number): boolean {
  if (f.level && levelRank(r.level) < levelRank(f.level)) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    if (!r.msg.toLowerCase().includes(q) && !attrsText(r.attrs).toLowerCase().includes(q)) return false;
  }
  const t = Date.parse(r.time);
  const since = boundTime(f.since, now);
  if (since != null && t < since) return false;
  const until = boundTime(f.until, now);
  if (until != null && t > until) return false;
  return true;
}

/** The key of a record: its place in the agent's stream. */
export const recordKey = (r: LogRecord) => `${r.stream}/${r.cursor}`;

/** Records newest first, without duplicates (a live record may also come in a page). */
export function mergeRecords(a: LogRecord[], b: LogRecord[]): LogRecord[] {
  const seen = new Set<string>();
  const out: LogRecord[] = [];
  for (const r of [...a, ...b]) {
    const k = recordKey(r);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r);
  }
  return out.sort((x, y) => (x.time < y.time ? 1 : x.time > y.time ? -1 : y.cursor - x.cursor));
}

export function showing(shown: number, total: number): string {
  if (total === 0 || shown === 0) return 'No entries';
  return `Showing 1–${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} entries`;
}
