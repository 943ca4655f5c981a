import { describe, expect, it } from 'vitest';
import { agentConfigOf, apiKeyOf, configKeys, diffConfig, parseValue, updateBody } from './configEdit';
import { parseLabels, unregisterReason } from './lifecycle';
import type { CollectorDetail } from '../types';

type D = Pick<CollectorDetail, 'kind' | 'tags' | 'group' | 'desired' | 'collection'>;

function detail(over: Partial<D> = {}): D {
  return {
    kind: 'synthetic',
    tags: ['prod'],
    group: 'eu',
    desired: null,
    collection: { succeeded: 1, failed: 0, mean_duration_seconds: 0.1, last_collection: null, expected_items: 5, expected_interval_seconds: 30, config_generation: 2 },
    ...over,
  };
}

describe('configKeys', () => {
  it('takes the interval from the scrape, tags and group from corral, and the kind’s keys unset', () => {
    const keys = configKeys(detail());
    expect(keys.map((k) => [k.key, k.value, k.source])).toEqual([
      ['collection_interval', '30s', 'scrape'],
      ['rate', '', 'kind'], ['missing_ratio', '', 'kind'], ['error_ratio', '', 'kind'], ['series', '', 'kind'], ['lag', '', 'kind'], ['slow', '', 'kind'],
      ['tags', 'prod', 'server'],
      ['group', 'eu', 'server'],
    ]);
  });
  it('prefers the desired config the agent confirmed, keeps unknown keys, and marks secrets', () => {
    const keys = configKeys(detail({
      kind: 'postgres', tags: null, group: '',
      desired: { config: { interval: '15s', limit: 50, dsn: 'xxxxx', schema: 'public' }, tags: null, updated_by: 'admin', updated_at: '' },
    }));
    expect(keys.map((k) => [k.key, k.value, k.source, !!k.secret])).toEqual([
      ['collection_interval', '15s', 'desired', false],
      ['query_limit', '50', 'desired', false],
      ['dsn', '', 'desired', true],
      ['schema', 'public', 'desired', false],
      ['include_query_text', '', 'kind', false],
      ['tags', '', 'server', false],
      ['group', '', 'server', false],
    ]);
  });
});

describe('configKeys from the agent', () => {
  it('lists every key the agent reports, under the names update-config takes, then corral’s', () => {
    const agent = agentConfigOf({ collector: 'x', config: [
      { key: 'interval', value: '1m0s', doc: 'time between collections' },
      { key: 'expected_items', value: 0 },
      { key: 'digest_limit', value: 100, doc: 'digests' },
      { key: 'slow_log', value: true },
    ] });
    const keys = configKeys(detail({ kind: 'mysql', desired: { config: { password: 'xxxxx', digest_limit: 50 }, tags: null, updated_by: 'a', updated_at: '' } }), agent);
    expect(keys.map((k) => [k.key, k.value, k.source, !!k.secret])).toEqual([
      ['collection_interval', '1m0s', 'agent', false],
      ['expected_items', '0', 'agent', false],
      ['query_limit', '100', 'agent', false],
      ['slow_log', 'true', 'agent', false],
      ['password', '', 'desired', true],
      ['tags', 'prod', 'server', false],
      ['group', 'eu', 'server', false],
    ]);
    expect(keys[0]?.hint).toBe('time between collections');
  });
  it('falls back to what corral knows when the agent lists nothing', () => {
    expect(agentConfigOf({ collector: 'x' })).toBeNull();
    expect(agentConfigOf('not json')).toBeNull();
    expect(agentConfigOf({ config: [{ key: 'rate', value: 1 }, null, { value: 2 }] })).toEqual([{ key: 'rate', value: 1 }]);
    expect(configKeys(detail(), null)).toEqual(configKeys(detail()));
  });
  it('names the query limit per kind', () => {
    expect(apiKeyOf('postgres', 'limit')).toBe('query_limit');
    expect(apiKeyOf('mysql', 'digest_limit')).toBe('query_limit');
    expect(apiKeyOf('synthetic', 'limit')).toBe('limit');
    expect(apiKeyOf('synthetic', 'interval')).toBe('collection_interval');
  });
});

describe('diffConfig and updateBody', () => {
  const keys = configKeys(detail());
  const cases: { name: string; edited: Record<string, string>; changes: [string, string, string][]; body?: Record<string, unknown>; error?: RegExp }[] = [
    { name: 'nothing edited', edited: {}, changes: [], error: /Nothing changes/ },
    { name: 'a value typed back as it was', edited: { collection_interval: ' 30s ' }, changes: [], error: /Nothing changes/ },
    {
      name: 'interval, a number and tags',
      edited: { collection_interval: '10s', rate: '20', tags: 'prod, eu-west ,' },
      changes: [['collection_interval', '30s', '10s'], ['rate', '', '20'], ['tags', 'prod', 'prod, eu-west ,']],
      body: { collection_interval: '10s', rate: 20, tags: ['prod', 'eu-west'], reason: 'tuning' },
    },
    { name: 'a duration stays text', edited: { lag: '5s' }, changes: [['lag', '', '5s']], body: { lag: '5s', reason: 'tuning' } },
    { name: 'a new key', edited: { extra_key: 'true' }, changes: [['extra_key', '', 'true']], body: { extra_key: true, reason: 'tuning' } },
    { name: 'a bad key name', edited: { 'Bad-Key': '1' }, changes: [['Bad-Key', '', '1']], error: /not a config key/ },
    { name: 'a value cleared', edited: { collection_interval: '' }, changes: [['collection_interval', '30s', '']], error: /give a value/ },
    { name: 'the group cleared', edited: { group: '' }, changes: [['group', 'eu', '']], body: { group: '', reason: 'tuning' } },
    { name: 'HTML is a value like any other', edited: { lag: '<img src=x onerror=alert(1)>' }, changes: [['lag', '', '<img src=x onerror=alert(1)>']], body: { lag: '<img src=x onerror=alert(1)>', reason: 'tuning' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const changes = diffConfig(keys, c.edited);
      expect(changes.map((x) => [x.key, x.from, x.to])).toEqual(c.changes);
      const r = updateBody(changes, c.edited, ' tuning ');
      if (c.error) expect(r.error).toMatch(c.error);
      else expect(r.body).toEqual(c.body);
    });
  }
  it('a secret is replaced, never shown', () => {
    const k = configKeys(detail({ kind: 'mysql', desired: { config: { password: 'xxxxx' }, tags: null, updated_by: 'a', updated_at: '' } }));
    expect(diffConfig(k, {})).toEqual([]);
    const ch = diffConfig(k, { password: 's3cret' });
    expect(ch).toEqual([{ key: 'password', from: 'xxxxx', to: 'xxxxx' }]);
    expect(updateBody(ch, { password: 's3cret' }, '').body).toEqual({ password: 's3cret' });
  });
  it('parses values as the agent takes them', () => {
    expect(parseValue('rate', '1.5')).toBe(1.5);
    expect(parseValue('rate', '1e3')).toBe(1000);
    expect(parseValue('x', '[1,2]')).toEqual([1, 2]);
    expect(parseValue('x', '{"a":1}')).toEqual({ a: 1 });
    expect(parseValue('x', '{broken')).toBe('{broken');
    expect(parseValue('group', '42')).toBe('42');
    expect(parseValue('collection_interval', '30')).toBe('30');
  });
});

describe('lifecycle helpers', () => {
  it('reasons from the seed’s list or free text', () => {
    expect(unregisterReason('Database retired', '')).toBe('Database retired');
    expect(unregisterReason('Migrated to new server', ' to us-west-2 ')).toBe('Migrated to new server: to us-west-2');
    expect(unregisterReason('Other (specify below)', 'lab closed')).toBe('lab closed');
    expect(unregisterReason('', '')).toBe('');
  });
  it('labels', () => {
    expect(parseLabels('env=prod\nregion = eu, tier=')).toEqual({ labels: { env: 'prod', region: 'eu', tier: '' } });
    expect(parseLabels('').labels).toEqual({});
    expect(parseLabels('noequals').error).toMatch(/name=value/);
    expect(parseLabels('1x=y').error).toMatch(/label name/);
  });
});
