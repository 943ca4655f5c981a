// The fleet table's cells, in plain elements styled like Mantine's badges
// (app.css, .rb). A Mantine Badge, Checkbox or Menu costs tens of hooks and
// style computations; with 60 rows mounted at a time and rows replaced on every
// scroll step, those made the page's long tasks. The detail pages keep Mantine's
// components (badges.tsx).
import { useEffect, useState, useSyncExternalStore, type ReactNode, type RefObject } from 'react';
import { createPortal } from 'react-dom';
import type { Status } from '../types';
import { ageSeconds, completenessLevel, formatAge, formatPercent, lastSeenLevel, levelColor } from '../format';
import { statusLook } from './badges';

// One clock for every ageing badge of the table, ticking once a second while
// something listens: the rows themselves do not render again to age.
const tickers = new Set<() => void>();
let tickTimer: ReturnType<typeof setInterval> | null = null;
let tickNow = Date.now();
function subscribeTick(cb: () => void): () => void {
  tickers.add(cb);
  if (!tickTimer) {
    tickNow = Date.now();
    tickTimer = setInterval(() => { tickNow = Date.now(); tickers.forEach((t) => t()); }, 1000);
  }
  return () => {
    tickers.delete(cb);
    if (!tickers.size && tickTimer) { clearInterval(tickTimer); tickTimer = null; }
  };
}
/** Date.now(), refreshed once a second, shared by every caller. */
export function useTick(): number {
  return useSyncExternalStore(subscribeTick, () => tickNow);
}

export function RowBadge({ color, variant = 'light', children, ...rest }: {
  color: string; variant?: 'light' | 'outline'; children: ReactNode;
} & Record<`data-${string}`, string | undefined> & { tabIndex?: number }) {
  return <span className={`rb rb-${variant} rb-${color}`} {...rest}>{children}</span>;
}

/**
 * Colour, icon and text; the reason is in the badge's text for screen readers
 * and in data-tip, which the table's one tooltip shows on hover and focus.
 */
export function RowStatus({ status, reason }: { status: Status; reason?: string }) {
  const look = statusLook[status] ?? statusLook.unknown;
  return (
    <RowBadge color={look.color} data-status={status} data-tip={reason || undefined} tabIndex={reason ? 0 : undefined}>
      <span aria-hidden="true">{look.icon}</span>{look.label}{reason ? <span className="sr-only"> — {reason}</span> : null}
    </RowBadge>
  );
}

export function RowLastSeen({ lastSeen, offlineAfter }: { lastSeen: string | null; offlineAfter?: number }) {
  const now = useTick();
  const age = ageSeconds(lastSeen, now);
  const level = lastSeenLevel(age, offlineAfter);
  return (
    <RowBadge color={levelColor[level]} variant="outline" data-level={level}>
      <span className="sr-only">Last seen </span>{age == null ? 'never' : `${formatAge(age)} ago`}
    </RowBadge>
  );
}

export function RowFreshness({ freshness, status }: { freshness: number | null; status: Status }) {
  if (freshness == null) return <RowBadge color="gray" variant="outline">—<span className="sr-only"> no freshness known</span></RowBadge>;
  const stale = status === 'stale';
  return <RowBadge color={stale ? 'orange' : 'teal'}>{stale ? `Stale · ${formatAge(freshness)}` : `Up to date · ${formatAge(freshness)}`}</RowBadge>;
}

export function RowCompleteness({ value, label }: { value: number | null; label: string }) {
  const level = completenessLevel(value);
  return (
    <RowBadge color={levelColor[level]} data-level={level}>
      <span className="sr-only">Completeness {label}: </span>{formatPercent(value)}
    </RowBadge>
  );
}

/**
 * The one tooltip of a table: shows the data-tip of the element under the
 * pointer or with the focus, below it (above near the window's bottom); Escape
 * or scrolling hides it. One listener on the container instead of a Mantine
 * Tooltip per row. The text is also in the element itself for screen readers.
 */
export function TableTip({ container }: { container: RefObject<HTMLElement | null> }) {
  const [tip, setTip] = useState<{ text: string; x: number; y: number; above: boolean } | null>(null);
  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const tipOf = (e: Event) => {
      const t = e.target instanceof Element ? e.target.closest<HTMLElement>('[data-tip]') : null;
      return t && el.contains(t) ? t : null;
    };
    const show = (e: Event) => {
      const t = tipOf(e);
      if (!t) return;
      const r = t.getBoundingClientRect();
      const above = r.bottom + 60 > window.innerHeight;
      setTip({ text: t.dataset['tip'] ?? '', x: r.left, y: above ? r.top - 6 : r.bottom + 6, above });
    };
    const hide = (e: Event) => { if (tipOf(e)) setTip(null); };
    const clear = () => setTip(null);
    const esc = (e: KeyboardEvent) => { if (e.key === 'Escape') setTip(null); };
    el.addEventListener('pointerover', show);
    el.addEventListener('focusin', show);
    el.addEventListener('pointerout', hide);
    el.addEventListener('focusout', hide);
    el.addEventListener('scroll', clear, { passive: true });
    document.addEventListener('keydown', esc);
    return () => {
      el.removeEventListener('pointerover', show);
      el.removeEventListener('focusin', show);
      el.removeEventListener('pointerout', hide);
      el.removeEventListener('focusout', hide);
      el.removeEventListener('scroll', clear);
      document.removeEventListener('keydown', esc);
    };
  }, [container]);
  if (!tip || !tip.text) return null;
  return createPortal(
    <div className="table-tip" aria-hidden="true" data-testid="table-tip"
      style={{ left: tip.x, top: tip.y, transform: tip.above ? 'translateY(-100%)' : undefined }}>{tip.text}</div>,
    document.body,
  );
}
