// The API's shapes the UI reads (api/wire in Go).

export type Status =
  | 'offline' | 'error' | 'stale' | 'incomplete' | 'slow'
  | 'paused' | 'waiting' | 'online' | 'unknown' | 'archived';

// Worst first, as the server orders them (fleet.Statuses).
export const STATUSES: Status[] = [
  'offline', 'error', 'stale', 'incomplete', 'slow', 'paused', 'waiting', 'online', 'unknown', 'archived',
];

export interface Collector {
  id: string;
  status: Status;
  reason: string;
  status_since: string | null;
  job: string;
  instance: string;
  org: string;
  team: string;
  labels: Record<string, string> | null;
  provider: string;
  up: boolean;
  last_seen: string | null;
  freshness_seconds: number | null;
  completeness_1h: number | null;
  completeness_24h: number | null;
  cpu: number | null;
  memory_bytes: number | null;
  items_collected: number | null;
  tags: string[] | null;
  group: string;
}

export interface Thresholds {
  offline_after_seconds: number;
  stale_after_seconds: number;
  slow_scrape_seconds: number;
  slow_collection_seconds: number;
  incomplete_below: number;
}

export interface Desired {
  run_state?: string;
  reason?: string;
  resume_expected?: string;
  config?: Record<string, unknown>;
  config_generation?: number;
  tags: string[] | null;
  group?: string;
  updated_by: string;
  updated_at: string;
}

export interface CollectorDetail extends Collector {
  kind: string;
  version: string;
  url: string;
  source: string;
  scrape_job: string;
  first_seen: string | null;
  last_scrape: string | null;
  scrape_duration_seconds: number;
  samples: number;
  agent_state: string;
  last_item: string | null;
  uptime_seconds: number | null;
  restarts: number;
  last_error: string;
  last_error_reason: string;
  consecutive_failures: number;
  collection_error: string;
  collection: {
    succeeded: number;
    failed: number;
    mean_duration_seconds: number;
    last_collection: string | null;
    expected_items: number;
    expected_interval_seconds: number;
    config_generation: number | null;
  };
  thresholds: Thresholds | null;
  desired: Desired | null;
}

export interface CollectorList {
  data: Collector[];
  page: number;
  limit: number;
  total: number;
  total_pages: number;
  summary: { total: number; by_status: Record<string, number>; items_collected: number };
}

export interface Change { kind: string; from: string; to: string; reason: string; at: string }

export interface Bucket {
  start: string;
  missing?: boolean;
  expected_items?: number;
  actual_items?: number;
  completeness?: number;
  active_seconds?: number;
  scrapes_ok?: number;
  scrapes_total?: number;
  availability?: number;
}

export interface Completeness { id: string; window: string; from: string; to: string; data: Bucket[]; missing: number }

export interface Actor { kind: string; name: string; user_id?: string }

export type CommandState = 'pending' | 'sent' | 'acknowledged' | 'confirmed' | 'failed' | 'expired';

export interface Command {
  id: string;
  collector: string;
  command: string;
  args?: unknown;
  state: CommandState;
  attempts: number;
  error?: string;
  result?: unknown;
  progress?: number;
  reason?: string;
  actor: Actor;
  bulk_id?: string;
  created_at: string;
  sent_at?: string;
  acknowledged_at?: string;
  finished_at?: string;
  next_attempt_at?: string;
  expires_at: string;
}

export interface CommandResponse { success: boolean; message: string; command?: Command; desired?: Desired }

export interface AuditRow {
  id: number | string;
  at: string;
  finished_at?: string;
  actor: Actor;
  remote?: string;
  action: string;
  collector?: string;
  reason?: string;
  params?: unknown;
  result?: string;
  error?: string;
  command_id?: string;
}

export interface Binding { role: 'super_admin' | 'org_admin' | 'team_lead' | 'viewer'; org?: string; team?: string }

export interface Me {
  user: { id: string; username: string };
  bindings: Binding[] | null;
  via: string;
  csrf_token?: string;
  expires?: string;
}

export interface LiveEvent {
  type: string;
  collector?: string;
  reason?: string;
  time: string;
  data?: unknown;
}
