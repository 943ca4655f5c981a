// The Edit configuration dialog's logic: the collector's keys as the API knows
// them, what an edit changes, and the update-config body it sends.
import type { CollectorDetail } from '../types';

export interface ConfigKey {
  /** The name update-config takes (collection_interval, query_limit, tags, group, or a collector key). */
  key: string;
  /** The value now, as text ('' when the API does not know it). */
  value: string;
  /** Where the value comes from, shown beside it. */
  source: 'agent' | 'scrape' | 'desired' | 'server' | 'kind';
  hint?: string;
  /** Redacted by the server (a secret): it can be replaced, never shown. */
  secret?: boolean;
}

export interface ConfigChange { key: string; from: string; to: string }

// Keys a kind's collector takes at run time (exporter/<kind> ApplyConfig): the
// fallback when the agent's /healthz does not list its config (it is down, or an
// older agent), offered even when the API has no value for them.
export const kindKeys: Record<string, { key: string; hint: string }[]> = {
  synthetic: [
    { key: 'rate', hint: 'items per collection' },
    { key: 'missing_ratio', hint: '0–1, share of items left out' },
    { key: 'error_ratio', hint: '0–1, share of collections that fail' },
    { key: 'series', hint: 'number of series' },
    { key: 'lag', hint: 'duration, e.g. "5s"' },
    { key: 'slow', hint: 'duration added to each collection' },
  ],
  postgres: [{ key: 'query_limit', hint: 'statements per collection, 1–10000' }, { key: 'include_query_text', hint: 'true or false' }],
  mysql: [{ key: 'query_limit', hint: 'statement digests per collection, 1–10000' }, { key: 'slow_log', hint: 'true or false' }, { key: 'slow_log_batch', hint: '1–100000' }],
};

/** One key of the agent's current config, as its /healthz lists it. */
export interface AgentConfigKey { key: string; value: unknown; doc?: string }

/** The name update-config takes for an agent's key: the seed's names for the interval and the query limit. */
export function apiKeyOf(kind: string, key: string): string {
  if (key === 'interval') return 'collection_interval';
  if ((kind === 'postgres' && key === 'limit') || (kind === 'mysql' && key === 'digest_limit')) return 'query_limit';
  return key;
}

/** The config list of an agent's /healthz body, or null when it has none. */
export function agentConfigOf(body: unknown): AgentConfigKey[] | null {
  if (!body || typeof body !== 'object') return null;
  const cfg = (body as { config?: unknown }).config;
  if (!Array.isArray(cfg)) return null;
  return cfg.filter((k): k is AgentConfigKey => !!k && typeof k === 'object' && typeof (k as AgentConfigKey).key === 'string');
}

const REDACTED = 'xxxxx';

function text(v: unknown): string {
  if (v == null) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/**
 * The keys of a collector. With the agent's own list (its /healthz): every key it
 * takes, as set now; else the interval from the scrape, the desired config the agent
 * confirmed and its kind's known keys. Tags and group come from corral; secrets in
 * the desired config are kept, masked.
 */
export function configKeys(d: Pick<CollectorDetail, 'kind' | 'tags' | 'group' | 'desired' | 'collection'>, agent?: AgentConfigKey[] | null): ConfigKey[] {
  const cfg = { ...(d.desired?.config ?? {}) };
  const out: ConfigKey[] = [];
  if (agent && agent.length > 0) {
    for (const k of agent) out.push({ key: apiKeyOf(d.kind, k.key), value: text(k.value), source: 'agent', hint: k.doc });
    for (const k of Object.keys(cfg).sort()) {
      if (text(cfg[k]) === REDACTED && !out.some((x) => x.key === k)) out.push({ key: k, value: '', source: 'desired', secret: true });
    }
    out.push({ key: 'tags', value: (d.tags ?? []).join(', '), source: 'server', hint: 'comma-separated; kept by corral' });
    out.push({ key: 'group', value: d.group ?? '', source: 'server', hint: 'kept by corral' });
    return out;
  }
  const interval = cfg['interval'] ?? cfg['collection_interval'];
  delete cfg['interval'];
  delete cfg['collection_interval'];
  const secs = d.collection.expected_interval_seconds;
  out.push(interval != null
    ? { key: 'collection_interval', value: text(interval), source: 'desired', hint: 'duration, 1s–24h' }
    : { key: 'collection_interval', value: secs ? `${secs}s` : '', source: 'scrape', hint: 'duration, 1s–24h' });
  const limit = cfg['limit'] ?? cfg['query_limit'];
  delete cfg['limit'];
  delete cfg['query_limit'];
  if (limit != null) out.push({ key: 'query_limit', value: text(limit), source: 'desired', hint: 'statements per collection, 1–10000' });
  for (const k of Object.keys(cfg).sort()) {
    const v = text(cfg[k]);
    const known = kindKeys[d.kind]?.find((x) => x.key === k);
    out.push({ key: k, value: v === REDACTED ? '' : v, source: 'desired', secret: v === REDACTED, hint: known?.hint });
  }
  for (const k of kindKeys[d.kind] ?? []) {
    if (!out.some((x) => x.key === k.key)) out.push({ key: k.key, value: '', source: 'kind', hint: k.hint });
  }
  out.push({ key: 'tags', value: (d.tags ?? []).join(', '), source: 'server', hint: 'comma-separated; kept by corral' });
  out.push({ key: 'group', value: d.group ?? '', source: 'server', hint: 'kept by corral' });
  return out;
}

/** The keys whose value the edit changed, in the order of the keys; a secret counts as changed when a value was typed. */
export function diffConfig(keys: ConfigKey[], edited: Record<string, string>): ConfigChange[] {
  const changes: ConfigChange[] = [];
  for (const k of keys) {
    const to = (edited[k.key] ?? k.value).trim();
    if (k.secret) {
      if (to !== '') changes.push({ key: k.key, from: REDACTED, to: REDACTED });
      continue;
    }
    if (to !== k.value.trim()) changes.push({ key: k.key, from: k.value.trim(), to });
  }
  for (const [key, v] of Object.entries(edited)) {
    if (keys.some((k) => k.key === key)) continue;
    if (v.trim() !== '') changes.push({ key, from: '', to: v.trim() });
  }
  return changes;
}

const keyRe = /^[a-z][a-z0-9_]*$/;

/** A value as the agent takes it: JSON when it reads as a number, boolean, list or object, else the text. */
export function parseValue(key: string, v: string): unknown {
  if (key === 'collection_interval' || key === 'group') return v;
  if (key === 'tags') return v.split(',').map((t) => t.trim()).filter(Boolean);
  if (/^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null|\[.*\]|\{.*\})$/s.test(v)) {
    try { return JSON.parse(v) as unknown; } catch { /* the text */ }
  }
  return v;
}

/** The update-config body of the changes, or the first problem with them. */
export function updateBody(changes: ConfigChange[], edited: Record<string, string>, reason: string): { body?: Record<string, unknown>; error?: string } {
  if (changes.length === 0) return { error: 'Nothing changes: edit a value first.' };
  const body: Record<string, unknown> = {};
  for (const c of changes) {
    if (!keyRe.test(c.key)) return { error: `"${c.key}" is not a config key (lower_snake_case).` };
    if (c.to === '' && c.key !== 'tags' && c.key !== 'group') return { error: `${c.key}: give a value (a key cannot be removed, only changed).` };
    body[c.key] = parseValue(c.key, (edited[c.key] ?? c.to).trim());
  }
  if (reason.trim()) body['reason'] = reason.trim();
  return { body };
}
