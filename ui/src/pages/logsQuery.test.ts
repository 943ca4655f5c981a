import { describe, expect, it } from 'vitest';
import { attrsText, boundTime, exportHref, filterFromSearch, filterToSearch, logsPath, matches, mergeRecords, showing, type LogFilter, type LogRecord } from './logsQuery';

const rec = (over: Partial<LogRecord>): LogRecord => ({ collector: 'c', stream: 's', cursor: 1, time: '2026-01-01T00:00:00Z', level: 'INFO', msg: 'hello', attrs: null, ...over });
const none: LogFilter = { level: '', q: '', since: '', until: '' };
const now = Date.parse('2026-01-01T00:10:00Z');

describe('log filter in the URL', () => {
  it('reads and writes it', () => {
    const f = filterFromSearch(new URLSearchParams('level=warn&q=slow%20query&since=-15m&follow=0'));
    expect(f).toEqual({ level: 'warn', q: 'slow query', since: '-15m', until: '' });
    expect(filterFromSearch(new URLSearchParams('level=bogus')).level).toBe('');
    expect(filterToSearch(f, false)).toBe('?level=warn&q=slow+query&since=-15m&follow=0');
    expect(filterToSearch(none, true)).toBe('');
  });
  it('makes the REST query and the export links', () => {
    const f: LogFilter = { level: 'error', q: 'a&b', since: '-1h', until: '' };
    expect(logsPath('pg/1', f, 200)).toBe('/collectors/pg%2F1/logs?level=error&q=a%26b&since=-1h&limit=100&offset=200');
    expect(exportHref('pg-1', f, 'csv')).toBe('/api/v1/collectors/pg-1/logs?level=error&q=a%26b&since=-1h&format=csv');
    expect(exportHref('pg-1', none, 'json')).toBe('/api/v1/collectors/pg-1/logs?format=json');
  });
});

describe('live records under the filter', () => {
  const cases: { name: string; r: Partial<LogRecord>; f: Partial<LogFilter>; want: boolean }[] = [
    { name: 'no filter', r: {}, f: {}, want: true },
    { name: 'level below', r: { level: 'INFO' }, f: { level: 'warn' }, want: false },
    { name: 'level at', r: { level: 'WARN' }, f: { level: 'warn' }, want: true },
    { name: 'level above', r: { level: 'ERROR' }, f: { level: 'warn' }, want: true },
    { name: 'debug under info', r: { level: 'DEBUG' }, f: { level: 'info' }, want: false },
    { name: 'text in the message, any case', r: { msg: 'Slow Query took 2s' }, f: { q: 'slow query' }, want: true },
    { name: 'text in an attribute as key=value', r: { attrs: { command: 'pause' } }, f: { q: 'command=pause' }, want: true },
    { name: 'text nowhere', r: { msg: 'x', attrs: { a: 1 } }, f: { q: 'zzz' }, want: false },
    { name: 'since relative, inside', r: { time: '2026-01-01T00:05:00Z' }, f: { since: '-15m' }, want: true },
    { name: 'since relative, before', r: { time: '2026-01-01T00:05:00Z' }, f: { since: '-1m' }, want: false },
    { name: 'until absolute, after', r: { time: '2026-01-01T00:05:00Z' }, f: { until: '2026-01-01T00:04:00Z' }, want: false },
    { name: 'since unix seconds, inclusive', r: { time: '2026-01-01T00:00:00Z' }, f: { since: String(Date.parse('2026-01-01T00:00:00Z') / 1000) }, want: true },
  ];
  for (const c of cases) it(c.name, () => expect(matches(rec(c.r), { ...none, ...c.f }, now)).toBe(c.want));

  it('bounds', () => {
    expect(boundTime('', now)).toBeNull();
    expect(boundTime('now', now)).toBe(now);
    expect(boundTime('-2h', now)).toBe(now - 7_200_000);
    expect(boundTime('garbage', now)).toBeNull();
  });
});

describe('records', () => {
  it('attributes as text, HTML untouched', () => {
    expect(attrsText({ a: 1, b: 'x y', c: { d: true }, e: '<b>' })).toBe('a=1 b=x y c={"d":true} e=<b>');
    expect(attrsText(null)).toBe('');
  });
  it('merges newest first without duplicates', () => {
    const a = rec({ cursor: 3, time: '2026-01-01T00:00:03Z' });
    const b = rec({ cursor: 2, time: '2026-01-01T00:00:02Z' });
    const c = rec({ cursor: 1, time: '2026-01-01T00:00:01Z' });
    const same = rec({ cursor: 4, time: '2026-01-01T00:00:02Z' });
    expect(mergeRecords([c, a], [b, a, same]).map((r) => r.cursor)).toEqual([3, 4, 2, 1]);
  });
  it('says what is shown', () => {
    expect(showing(100, 2345)).toBe('Showing 1–100 of 2,345 entries');
    expect(showing(0, 0)).toBe('No entries');
  });
});
