// The audit screen's filters, kept in the URL, and the export links built from
// them. Pure functions, so tested alone.
import type { AuditRow } from './types';

export interface AuditQuery {
  collector: string;
  actor: string;
  action: string;
  result: string;
  target: string;
  since: string; // as the API takes it: RFC 3339, a Unix time, or a duration back from now (1h)
  until: string;
  page: number; // 1-based
}

export const AUDIT_FIELDS = ['collector', 'actor', 'action', 'result', 'target', 'since', 'until'] as const;
export const AUDIT_PAGE = 100;

export function parseAuditQuery(sp: URLSearchParams): AuditQuery {
  const page = Number(sp.get('page') ?? '1');
  return {
    collector: sp.get('collector') ?? '', actor: sp.get('actor') ?? '', action: sp.get('action') ?? '',
    result: sp.get('result') ?? '', target: sp.get('target') ?? '', since: sp.get('since') ?? '', until: sp.get('until') ?? '',
    page: Number.isInteger(page) && page >= 1 ? page : 1,
  };
}

export function serializeAuditQuery(q: AuditQuery): URLSearchParams {
  const sp = new URLSearchParams();
  for (const f of AUDIT_FIELDS) if (q[f].trim()) sp.set(f, q[f].trim());
  if (q.page > 1) sp.set('page', String(q.page));
  return sp;
}

/** The API path of one page of rows. */
export function auditPagePath(q: AuditQuery): string {
  const sp = serializeAuditQuery({ ...q, page: 1 });
  sp.set('limit', String(AUDIT_PAGE));
  sp.set('offset', String((q.page - 1) * AUDIT_PAGE));
  return `/audit?${sp.toString()}`;
}

/** The download link of every matching row (the server writes the file, at most 100,000 rows). */
export function auditExportHref(q: AuditQuery, format: 'csv' | 'json'): string {
  const sp = serializeAuditQuery({ ...q, page: 1 });
  sp.set('format', format);
  return `/api/v1/audit?${sp.toString()}`;
}

/** "showing 101–200 of 345" */
export function showingText(page: number, rows: number, total: number): string {
  if (total === 0 || rows === 0) return 'no matching row';
  const from = (page - 1) * AUDIT_PAGE + 1;
  return `showing ${from}–${from + rows - 1} of ${total}`;
}

/** The params of a row as one line of text (secrets are already xxxxx on the server). */
export function paramsText(p: unknown): string {
  if (p == null) return '';
  if (typeof p !== 'object') return String(p);
  const entries = Object.entries(p as Record<string, unknown>);
  if (!entries.length) return '';
  return entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

/** Who did it: a user, a token's user, or corral itself. */
export function actorText(r: Pick<AuditRow, 'actor'>): string {
  const a = r.actor;
  if (!a) return '';
  return a.kind === 'user' || !a.kind ? a.name : `${a.name} (${a.kind})`;
}
