// Bulk operations: the form turned into the request POST /collectors/bulk-action
// takes, and an operation's items kept up to date from its commands. Pure
// functions, so tested alone.
import type { Command, CommandState } from './types';

export const BULK_ACTIONS = ['restart', 'stop', 'resume', 'collect', 'update-group', 'update-tags', 'update-config', 'unregister'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

export const bulkActionLabel: Record<BulkAction, string> = {
  restart: 'Restart',
  stop: 'Stop (pause)',
  resume: 'Resume',
  collect: 'Collect now',
  'update-group': 'Update group',
  'update-tags': 'Update tags',
  'update-config': 'Update configuration',
  unregister: 'Unregister ⚠',
};

/** What the operation is aimed at: listed ids, or a PromQL selector over the target labels. */
export type BulkTarget = { kind: 'ids'; ids: string[] } | { kind: 'selector'; selector: string };

export interface BulkForm {
  action: BulkAction;
  reason: string;
  durationMinutes: string; // stop
  group: string; // update-group
  tags: string[]; // update-tags
  config: string; // update-config: a JSON object of the collector's keys
  archiveMetrics: boolean; // unregister
  retentionDays: string; // unregister
}

export const emptyForm: BulkForm = {
  action: 'restart', reason: '', durationMinutes: '', group: '', tags: [], config: '{\n  "collection_interval": "30s"\n}',
  archiveMetrics: true, retentionDays: '',
};

export interface BulkRequest {
  action: BulkAction;
  collector_ids?: string[];
  selector?: string;
  params?: Record<string, unknown>;
  reason?: string;
  dry_run?: boolean;
  schedule_at?: string;
}

/** The request of a form, or the message saying what is wrong with it. */
export function buildBulkRequest(form: BulkForm, target: BulkTarget, opts: { dryRun?: boolean; scheduleAt?: Date | null } = {}): BulkRequest | string {
  const req: BulkRequest = { action: form.action };
  if (target.kind === 'ids') {
    if (target.ids.length === 0) return 'Choose at least one collector.';
    req.collector_ids = target.ids;
  } else {
    const s = target.selector.trim();
    if (!s) return 'Give a label selector, e.g. {job="simulate"}.';
    req.selector = s;
  }
  const params: Record<string, unknown> = {};
  switch (form.action) {
    case 'stop':
      if (form.durationMinutes.trim() !== '') {
        const n = Number(form.durationMinutes);
        if (!Number.isInteger(n) || n < 0) return 'The estimated duration is a whole number of minutes.';
        params['estimated_duration_minutes'] = n;
      }
      break;
    case 'update-group':
      params['group'] = form.group.trim();
      break;
    case 'update-tags':
      params['tags'] = form.tags.map((t) => t.trim()).filter(Boolean);
      break;
    case 'update-config': {
      let v: unknown;
      try {
        v = JSON.parse(form.config);
      } catch (e) {
        return `The configuration is not JSON: ${(e as Error).message}`;
      }
      if (!v || typeof v !== 'object' || Array.isArray(v)) return 'The configuration must be a JSON object of the collector’s keys.';
      if (Object.keys(v).length === 0) return 'The configuration changes nothing: give at least one key.';
      Object.assign(params, v);
      break;
    }
    case 'unregister':
      params['archive_metrics'] = form.archiveMetrics;
      if (form.archiveMetrics && form.retentionDays.trim() !== '') {
        const n = Number(form.retentionDays);
        if (!Number.isInteger(n) || n < 1) return 'Retention is a whole number of days, 1 or more.';
        params['retention_days'] = n;
      }
      break;
  }
  if (Object.keys(params).length) req.params = params;
  if (form.reason.trim()) req.reason = form.reason.trim();
  if (opts.dryRun) req.dry_run = true;
  if (opts.scheduleAt) {
    if (Number.isNaN(opts.scheduleAt.getTime())) return 'Give the date and time to run it.';
    if (opts.scheduleAt.getTime() <= Date.now()) return 'The scheduled time must be in the future.';
    req.schedule_at = opts.scheduleAt.toISOString();
  }
  return req;
}

export interface BulkItem {
  collector_id: string;
  status: string; // ok, failed, pending; would in a dry run
  success: boolean;
  command_id?: string;
  state?: string;
  message?: string;
  error?: string;
}

export interface BulkResult {
  id: string;
  action: string;
  state: 'scheduled' | 'running' | 'done' | 'cancelled' | 'failed';
  dry_run?: boolean;
  schedule_at?: string;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  created_by: string;
  total: number;
  succeeded: number;
  failed: number;
  pending: number;
  results: BulkItem[] | null;
  error?: string;
  request?: BulkRequest;
}

const TERMINAL: CommandState[] = ['confirmed', 'failed', 'expired'];
export const isTerminal = (s: string | undefined) => !!s && (TERMINAL as string[]).includes(s);

/** An item of the view: the operation's item with its command's latest state. */
export interface ItemView extends BulkItem { phase: 'would' | 'waiting' | 'done' | 'failed' }

/**
 * The items of an operation, each with the latest state of its command when
 * one is known (from GET /commands?bulk_id= or command:updated events).
 */
export function mergeItems(res: BulkResult, commands: Map<string, Pick<Command, 'id' | 'state' | 'error'>>): ItemView[] {
  return (res.results ?? []).map((it) => {
    const c = it.command_id ? commands.get(it.command_id) : undefined;
    const state = c?.state ?? it.state;
    const error = c?.error || it.error;
    let phase: ItemView['phase'];
    if (it.status === 'would') phase = 'would';
    else if (it.status === 'failed' || state === 'failed' || state === 'expired') phase = 'failed';
    else if (!it.command_id || state === 'confirmed') phase = 'done'; // unregister, group/tags: done when answered
    else phase = 'waiting';
    return { ...it, state, error, phase };
  });
}

export interface Tally { total: number; done: number; failed: number; waiting: number; would: number }

export function tally(items: ItemView[]): Tally {
  const t: Tally = { total: items.length, done: 0, failed: 0, waiting: 0, would: 0 };
  for (const i of items) t[i.phase]++;
  return t;
}

/** Whether the operation may still change: scheduled, running, or items not settled. */
export function isLive(res: BulkResult, items: ItemView[]): boolean {
  return res.state === 'scheduled' || res.state === 'running' || items.some((i) => i.phase === 'waiting');
}

/** The value of an <input type="datetime-local"> for a date, in local time. */
export function localDateTime(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
