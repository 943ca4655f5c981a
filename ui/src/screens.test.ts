import { describe, expect, it } from 'vitest';
import { buildBulkRequest, emptyForm, isLive, mergeItems, tally, type BulkResult } from './bulkState';
import { auditExportHref, auditPagePath, paramsText, parseAuditQuery, serializeAuditQuery, showingText } from './auditState';
import { adminScope, bindingText, grantableRoles, navItems } from './adminState';

describe('bulk requests', () => {
  const ids = { kind: 'ids' as const, ids: ['a', 'b'] };
  it('carries the ids, the action params, the reason and the dry run', () => {
    expect(buildBulkRequest({ ...emptyForm, action: 'stop', durationMinutes: '30', reason: ' maintenance ' }, ids, { dryRun: true })).toEqual({
      action: 'stop', collector_ids: ['a', 'b'], params: { estimated_duration_minutes: 30 }, reason: 'maintenance', dry_run: true,
    });
    expect(buildBulkRequest({ ...emptyForm, action: 'update-tags', tags: ['x', ' ', 'y '] }, ids)).toEqual({ action: 'update-tags', collector_ids: ['a', 'b'], params: { tags: ['x', 'y'] } });
    expect(buildBulkRequest({ ...emptyForm, action: 'update-group', group: '' }, ids)).toEqual({ action: 'update-group', collector_ids: ['a', 'b'], params: { group: '' } });
    expect(buildBulkRequest({ ...emptyForm, action: 'unregister', archiveMetrics: true, retentionDays: '7' }, { kind: 'selector', selector: ' {job="x"} ' }))
      .toEqual({ action: 'unregister', selector: '{job="x"}', params: { archive_metrics: true, retention_days: 7 } });
    expect(buildBulkRequest({ ...emptyForm, action: 'update-config', config: '{"collection_interval":"5s"}' }, ids))
      .toEqual({ action: 'update-config', collector_ids: ['a', 'b'], params: { collection_interval: '5s' } });
  });
  it('says what is wrong instead of sending it', () => {
    const cases: [Parameters<typeof buildBulkRequest>, RegExp][] = [
      [[emptyForm, { kind: 'ids', ids: [] }], /at least one/],
      [[emptyForm, { kind: 'selector', selector: ' ' }], /label selector/],
      [[{ ...emptyForm, action: 'stop', durationMinutes: '1.5' }, ids], /whole number/],
      [[{ ...emptyForm, action: 'update-config', config: '{' }, ids], /not JSON/],
      [[{ ...emptyForm, action: 'update-config', config: '[1]' }, ids], /JSON object/],
      [[{ ...emptyForm, action: 'update-config', config: '{}' }, ids], /changes nothing/],
      [[emptyForm, ids, { scheduleAt: new Date(Date.now() - 1000) }], /future/],
      [[emptyForm, ids, { scheduleAt: new Date('nope') }], /date and time/],
    ];
    for (const [args, want] of cases) expect(buildBulkRequest(...args)).toMatch(want);
  });
  it('schedules in UTC', () => {
    const at = new Date(Date.now() + 3600_000);
    expect(buildBulkRequest(emptyForm, ids, { scheduleAt: at })).toMatchObject({ schedule_at: at.toISOString() });
  });
});

describe('bulk items', () => {
  const res: BulkResult = {
    id: 'b1', action: 'restart', state: 'done', created_at: '', created_by: 'admin', total: 4, succeeded: 3, failed: 1, pending: 0,
    results: [
      { collector_id: 'a', status: 'ok', success: true, command_id: 'c1', state: 'acknowledged' },
      { collector_id: 'b', status: 'ok', success: true, command_id: 'c2', state: 'acknowledged' },
      { collector_id: 'c', status: 'failed', success: false, error: 'collector not found' },
      { collector_id: 'd', status: 'ok', success: true },
    ],
  };
  it('take their command’s latest state', () => {
    const items = mergeItems(res, new Map([['c1', { id: 'c1', state: 'confirmed' as const }], ['c2', { id: 'c2', state: 'expired' as const, error: 'no answer' }]]));
    expect(items.map((i) => [i.collector_id, i.phase, i.state])).toEqual([['a', 'done', 'confirmed'], ['b', 'failed', 'expired'], ['c', 'failed', undefined], ['d', 'done', undefined]]);
    expect(items[1]!.error).toBe('no answer');
    expect(tally(items)).toEqual({ total: 4, done: 2, failed: 2, waiting: 0, would: 0 });
    expect(isLive(res, items)).toBe(false);
  });
  it('stay live while a command is not settled', () => {
    const items = mergeItems(res, new Map());
    expect(tally(items).waiting).toBe(2);
    expect(isLive(res, items)).toBe(true);
    expect(isLive({ ...res, state: 'scheduled', results: [] }, [])).toBe(true);
  });
  it('of a dry run are what would happen', () => {
    expect(mergeItems({ ...res, results: [{ collector_id: 'a', status: 'would', success: true, message: 'would restart' }] }, new Map())[0]!.phase).toBe('would');
  });
});

describe('audit URL state and export', () => {
  it('round-trips the filters through the URL', () => {
    const sp = new URLSearchParams('collector=sim-1&actor=admin&action=restart&result=success&since=1h&page=3&junk=1');
    const q = parseAuditQuery(sp);
    expect(q).toMatchObject({ collector: 'sim-1', actor: 'admin', action: 'restart', result: 'success', since: '1h', until: '', page: 3 });
    expect(serializeAuditQuery(q).toString()).toBe('collector=sim-1&actor=admin&action=restart&result=success&since=1h&page=3');
    expect(parseAuditQuery(new URLSearchParams('page=-2')).page).toBe(1);
  });
  it('pages with limit and offset, exports every row with format', () => {
    const q = parseAuditQuery(new URLSearchParams('action=bulk-stop&page=2'));
    expect(auditPagePath(q)).toBe('/audit?action=bulk-stop&limit=100&offset=100');
    expect(auditExportHref(q, 'csv')).toBe('/api/v1/audit?action=bulk-stop&format=csv');
    expect(auditExportHref({ ...q, actor: 'a b&c' }, 'json')).toBe('/api/v1/audit?actor=a+b%26c&action=bulk-stop&format=json');
  });
  it('formats the count and the params', () => {
    expect(showingText(2, 100, 345)).toBe('showing 101–200 of 345');
    expect(showingText(1, 0, 0)).toBe('no matching row');
    expect(paramsText({ reason: 'x', estimated_duration_minutes: 5, password: 'xxxxx' })).toBe('reason=x estimated_duration_minutes=5 password=xxxxx');
    expect(paramsText(null)).toBe('');
  });
});

describe('administration by role', () => {
  it('knows who manages whom', () => {
    expect(adminScope([{ role: 'super_admin' }])).toEqual({ isSuper: true, orgs: [], isAdmin: true });
    expect(adminScope([{ role: 'org_admin', org: 'acme' }, { role: 'viewer', org: 'globex' }])).toEqual({ isSuper: false, orgs: ['acme'], isAdmin: true });
    expect(adminScope([{ role: 'team_lead', org: 'acme', team: 'red' }]).isAdmin).toBe(false);
    expect(grantableRoles([{ role: 'org_admin', org: 'acme' }])).toEqual(['org_admin', 'team_lead', 'viewer']);
    expect(grantableRoles([{ role: 'viewer', org: 'acme' }])).toEqual([]);
    expect(bindingText({ role: 'team_lead', org: 'acme', team: 'red' })).toBe('team_lead of acme/red');
  });
  it('shows a viewer no audit in the navigation', () => {
    expect(navItems([{ role: 'viewer', org: 'default' }]).map((n) => n.label)).toEqual(['Fleet', 'Bulk', 'Discovery', 'Administration']);
    expect(navItems([{ role: 'team_lead', org: 'default' }]).map((n) => n.label)).toContain('Audit');
  });
});
