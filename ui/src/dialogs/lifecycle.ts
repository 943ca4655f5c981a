// Shapes and small helpers of registration, unregistration and re-registration.

export interface Registration {
  id: string;
  name: string;
  url: string;
  labels: Record<string, string> | null;
  org: string;
  team?: string;
  thresholds?: Record<string, string>;
  scrape_token?: string;
  scrape_token_sha256?: string;
  agent_config?: string;
  created_at: string;
  note?: string;
}

export interface Archive {
  id: string;
  collector: string;
  name: string;
  provider: string;
  source?: string;
  url?: string;
  labels: Record<string, string> | null;
  org: string;
  team?: string;
  reason: string;
  archived_by: string;
  archived_at: string;
  metrics_archived: boolean;
  metrics_count: number;
  retain_until?: string;
  purged_at?: string;
  still_discovered: boolean;
  reregistered_at?: string;
}

/** The seed's reasons for unregistering; "Other" takes the notes as the reason. */
export const UNREGISTER_REASONS = [
  'Database retired',
  'Migrated to new server',
  'Maintenance/testing',
  'Switching to different collector',
  'Other (specify below)',
] as const;

/** The reason sent: the choice, with the notes after it; the notes alone for "Other". */
export function unregisterReason(choice: string, notes: string): string {
  const n = notes.trim();
  if (!choice || choice.startsWith('Other')) return n;
  return n ? `${choice}: ${n}` : choice;
}

/** Labels typed one per line (or comma-separated) as k=v. */
export function parseLabels(s: string): { labels: Record<string, string>; error?: string } {
  const labels: Record<string, string> = {};
  for (const part of s.split(/[\n,]/)) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf('=');
    if (i <= 0) return { labels, error: `"${p}": write a label as name=value` };
    const k = p.slice(0, i).trim();
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) return { labels, error: `"${k}": a label name has letters, digits and _ and does not start with a digit` };
    labels[k] = p.slice(i + 1).trim();
  }
  return { labels };
}
