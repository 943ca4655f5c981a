import { Badge, Tooltip, VisuallyHidden } from '@mantine/core';
import type { Status } from '../types';
import { ageSeconds, completenessLevel, formatAge, formatPercent, lastSeenLevel, levelColor } from '../format';

export const statusLook: Record<Status, { color: string; icon: string; label: string }> = {
  online: { color: 'teal', icon: '✓', label: 'Online' },
  slow: { color: 'yellow', icon: '⚠', label: 'Slow' },
  incomplete: { color: 'orange', icon: '◐', label: 'Incomplete' },
  stale: { color: 'orange', icon: '⏱', label: 'Stale' },
  error: { color: 'red', icon: '!', label: 'Error' },
  offline: { color: 'red', icon: '✗', label: 'Offline' },
  paused: { color: 'gray', icon: '❚❚', label: 'Paused' },
  waiting: { color: 'indigo', icon: '◷', label: 'Waiting' },
  unknown: { color: 'gray', icon: '?', label: 'Unknown' },
  archived: { color: 'dark', icon: '▣', label: 'Archived' },
};

/** Colour, icon and text; the reason on hover and keyboard focus. */
export function StatusBadge({ status, reason }: { status: Status; reason?: string }) {
  const look = statusLook[status] ?? statusLook.unknown;
  const badge = (
    <Badge color={look.color} variant="light" tabIndex={reason ? 0 : undefined}
      leftSection={<span aria-hidden="true">{look.icon}</span>} data-status={status}>
      {look.label}{reason ? <VisuallyHidden> — {reason}</VisuallyHidden> : null}
    </Badge>
  );
  return reason ? <Tooltip label={reason} multiline maw={360} events={{ hover: true, focus: true, touch: true }}>{badge}</Tooltip> : badge;
}

export function LastSeenBadge({ lastSeen, now, offlineAfter }: { lastSeen: string | null; now: number; offlineAfter?: number }) {
  const age = ageSeconds(lastSeen, now);
  const level = lastSeenLevel(age, offlineAfter);
  return (
    <Badge color={levelColor[level]} variant="outline" data-level={level}>
      <VisuallyHidden>Last seen </VisuallyHidden>{age == null ? 'never' : `${formatAge(age)} ago`}
    </Badge>
  );
}

export function FreshnessBadge({ freshness, status }: { freshness: number | null; status: Status }) {
  if (freshness == null) return <Badge color="gray" variant="outline">—<VisuallyHidden> no freshness known</VisuallyHidden></Badge>;
  const stale = status === 'stale';
  return (
    <Badge color={stale ? 'orange' : 'teal'} variant="light">
      {stale ? `Stale · ${formatAge(freshness)}` : `Up to date · ${formatAge(freshness)}`}
    </Badge>
  );
}

export function CompletenessText({ value, label }: { value: number | null; label: string }) {
  const level = completenessLevel(value);
  return (
    <Badge color={levelColor[level]} variant="light" data-level={level}>
      <VisuallyHidden>Completeness {label}: </VisuallyHidden>{formatPercent(value)}
    </Badge>
  );
}
