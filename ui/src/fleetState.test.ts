import { describe, expect, it } from 'vitest';
import { applyEvents, buildList, FleetRows, sameKeys, parseQuery, serializeQuery, serverParams, sortRows, summarize, withOriginal } from './fleetState';
import type { Collector } from './types';

function c(id: string, over: Partial<Collector> = {}): Collector {
  return {
    id, status: 'online', reason: '', status_since: null, job: 'demo', instance: '', org: 'default', team: '', labels: {},
    provider: 'file_sd', up: true, last_seen: '2026-01-01T00:00:00Z', freshness_seconds: 1, completeness_1h: 1, completeness_24h: 1,
    cpu: null, memory_bytes: null, items_collected: 10, tags: [], group: '', ...over,
  };
}

describe('URL state', () => {
  it('round-trips every filter, the sort and the grouping', () => {
    const sp = new URLSearchParams('q=pg&status=offline&status=error&org=acme&team=red&job=demo&group=AWS&tag=prod&tag=db&label=env%3Dprod&sort=-last_seen&group_by=team');
    const q = parseQuery(sp);
    expect(q).toEqual({ q: 'pg', status: ['offline', 'error'], org: 'acme', team: 'red', job: 'demo', group: 'AWS', tag: ['prod', 'db'], label: ['env=prod'], sort: '-last_seen', groupBy: 'team' });
    expect(parseQuery(serializeQuery(q))).toEqual(q);
    expect(serverParams(q)).toEqual({ q: 'pg', status: ['offline', 'error'], org: 'acme', team: 'red', job: 'demo', label: ['env=prod'] });
  });
  it('drops what it does not know, and leaves defaults out of the URL', () => {
    const q = parseQuery(new URLSearchParams('status=bogus&sort=nope&group_by=planet'));
    expect(q.status).toEqual([]);
    expect(q.sort).toBe('status');
    expect(q.groupBy).toBe('');
    expect(serializeQuery(q).toString()).toBe('');
  });
});

describe('sort, filter, group', () => {
  const rows = [c('b', { status: 'online', items_collected: 5, group: 'x', tags: ['prod'] }), c('a', { status: 'offline', items_collected: null }), c('c', { status: 'error', items_collected: 50, group: 'x' })];
  it('sorts worst status first by default, missing values last both ways', () => {
    expect(sortRows(rows, 'status').map((r) => r.id)).toEqual(['a', 'c', 'b']);
    expect(sortRows(rows, 'items').map((r) => r.id)).toEqual(['b', 'c', 'a']);
    expect(sortRows(rows, '-items').map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(sortRows(rows, '-id').map((r) => r.id)).toEqual(['c', 'b', 'a']);
  });
  it('filters by group and tags here, and groups under headers', () => {
    const base = parseQuery(new URLSearchParams());
    expect(buildList(rows, { ...base, group: 'x' }).map((i) => (i.kind === 'row' ? i.row.id : i.key))).toEqual(['c', 'b']);
    expect(buildList(rows, { ...base, tag: ['prod'] }).length).toBe(1);
    const grouped = buildList(rows, { ...base, groupBy: 'group' });
    expect(grouped.map((i) => (i.kind === 'group' ? `[${i.key}:${i.count}]` : i.row.id))).toEqual(['[(no group):1]', 'a', '[x:2]', 'c', 'b']);
  });
  it('summarizes', () => {
    expect(summarize(rows)).toEqual({ total: 3, byStatus: { online: 1, offline: 1, error: 1 }, items: 55 });
  });
});

describe('live events', () => {
  it('heartbeats and status changes patch rows; unknown collectors ask for a reload', () => {
    const m = new Map([['a', c('a')]]);
    const r = applyEvents(m, [
      { type: 'collector:heartbeat', collector: 'a', time: '2026-01-01T00:00:09Z', data: { status: 'slow', freshness_seconds: 3 } },
      { type: 'collector:status-changed', collector: 'a', time: '2026-01-01T00:00:10Z', data: { old: 'slow', new: 'offline', reason: 'no scrape for 30s' } },
    ]);
    expect(r).toEqual({ changed: true, reload: false, removed: false });
    expect(m.get('a')).toMatchObject({ status: 'offline', reason: 'no scrape for 30s', last_seen: '2026-01-01T00:00:09Z', freshness_seconds: 3, up: false });
    expect(applyEvents(m, [{ type: 'collector:registered', collector: 'new', time: '' }]).reload).toBe(true);
    expect(applyEvents(m, [{ type: 'collector:unregistered', collector: 'a', time: '' }])).toEqual({ changed: true, reload: false, removed: true });
    expect(m.size).toBe(0);
  });
});

describe('sorting by time', () => {
  it.each([
    ['last_seen', ['b', 'a', 'c', 'n']],
    ['-last_seen', ['c', 'a', 'b', 'n']],
  ])('%s: by the parsed time, never-seen last either way', (sort, want) => {
    const rows = [
      c('a', { last_seen: '2026-01-01T00:00:05Z' }), c('n', { last_seen: null }),
      c('c', { last_seen: '2026-01-01T00:01:00+00:00' }), c('b', { last_seen: '2025-12-31T23:59:59Z' }),
    ];
    expect(sortRows(rows, sort).map((r) => r.id)).toEqual(want);
  });
});

describe('table rows holding an older collector', () => {
  it('withOriginal hands the cells the current collector and keeps the row methods', () => {
    const old = c('a', { status: 'online' });
    const row = { id: 'a', original: old, selected: false, getIsSelected() { return this.selected; }, getId: () => 'a' };
    expect(withOriginal(row, old)).toBe(row);
    const cur = c('a', { status: 'offline' });
    const r = withOriginal(row, cur);
    expect(r.original.status).toBe('offline');
    expect(row.original.status).toBe('online');
    expect(r.getId()).toBe('a');
    row.selected = true;
    expect(r.getIsSelected()).toBe(true);
  });
});

describe('FleetRows: events during a load', () => {
  const hb = (id: string, time: string, status?: string) => ({ type: 'collector:heartbeat', collector: id, time, data: status ? { status } : {} }) as never;
  const changed = (id: string, time: string, to: string) => ({ type: 'collector:status-changed', collector: id, time, data: { old: 'online', new: to } }) as never;

  it('applies events at once when no load runs', () => {
    const r = new FleetRows();
    r.begin();
    r.finish([c('a')]);
    expect(r.apply([changed('a', '2026-01-01T00:00:05Z', 'offline')])).toEqual({ changed: true, reload: false, removed: false });
    expect(r.rows.get('a')!.status).toBe('offline');
  });

  it('applies events during a load at once, and replays them in order on its result', () => {
    const r = new FleetRows();
    r.begin();
    r.finish([c('a')]);
    r.begin();
    // Applied now; a collector not there yet asks for no reload while loading.
    expect(r.apply([changed('a', '2026-01-01T00:00:05Z', 'offline'), hb('b', '2026-01-01T00:00:06Z')])).toEqual({ changed: true, reload: false, removed: false });
    expect(r.rows.get('a')!.status).toBe('offline');
    expect(r.apply([changed('a', '2026-01-01T00:00:07Z', 'online')]).changed).toBe(true);
    expect(r.pending).toBe(3);
    // The load's snapshot predates the events: they are replayed on it.
    const res = r.finish([c('a', { status: 'paused' }), c('b', { last_seen: '2026-01-01T00:00:00Z' })]);
    expect(res).toEqual({ membersChanged: true, reload: false });
    expect(r.rows.get('a')!.status).toBe('online'); // the last event wins
    expect(r.rows.get('b')!.last_seen).toBe('2026-01-01T00:00:06Z');
    expect(r.pending).toBe(0);
    // The same collectors again: not a change of members.
    r.begin();
    expect(r.finish([c('b'), c('a')])).toEqual({ membersChanged: false, reload: false });
  });

  it('asks for another load when an event names a collector the result lacks, or too many came', () => {
    const r = new FleetRows(2);
    r.begin();
    r.apply([hb('new-one', '2026-01-01T00:00:05Z')]);
    expect(r.finish([c('a')]).reload).toBe(true);
    r.begin();
    r.apply([hb('a', '2026-01-01T00:00:05Z'), hb('a', '2026-01-01T00:00:06Z'), hb('a', '2026-01-01T00:00:07Z')]);
    expect(r.finish([c('a')]).reload).toBe(true);
  });

  it('drops what it kept when the load is cancelled', () => {
    const r = new FleetRows();
    r.begin();
    r.finish([c('a')]);
    r.begin();
    r.apply([changed('a', '2026-01-01T00:00:05Z', 'offline')]);
    r.cancel();
    expect(r.pending).toBe(0);
    expect(r.rows.get('a')!.status).toBe('offline');
    expect(r.apply([hb('nobody', '2026-01-01T00:00:06Z')]).reload).toBe(true);
  });

  it('compares key sets', () => {
    expect(sameKeys(new Map([['a', 1], ['b', 2]]), new Map([['b', 0], ['a', 0]]))).toBe(true);
    expect(sameKeys(new Map([['a', 1]]), new Map([['b', 1]]))).toBe(false);
    expect(sameKeys(new Map([['a', 1]]), new Map([['a', 1], ['b', 1]]))).toBe(false);
  });
});
