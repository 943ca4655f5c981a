import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { useRef, type ReactNode } from 'react';
import { fireEvent } from '@testing-library/react';
import { RowStatus, RowLastSeen, TableTip } from './components/rowCells';
import { LastSeenBadge, StatusBadge, FreshnessBadge } from './components/badges';
import { canActWith } from './auth';
import { safeNext } from './pages/Login';

const wrap = (n: ReactNode) => render(<MantineProvider>{n}</MantineProvider>);
afterEach(cleanup);

describe('badges', () => {
  it('status has colour, icon and text, and the reason for screen readers', () => {
    wrap(<StatusBadge status="offline" reason="no successful scrape for 45s" />);
    const b = screen.getByText('Offline').closest('[data-status]') as HTMLElement;
    expect(b.textContent).toContain('no successful scrape for 45s');
    expect(b.textContent).toContain('✗');
    expect(b.getAttribute('data-status')).toBe('offline');
    expect(b.tabIndex).toBe(0);
  });
  it('last seen ages into amber and red', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const { rerender } = wrap(<LastSeenBadge lastSeen="2026-01-01T00:00:58Z" now={now} offlineAfter={30} />);
    expect(screen.getByText('2 s ago', { exact: false }).closest('[data-level]')!.getAttribute('data-level')).toBe('ok');
    rerender(<MantineProvider><LastSeenBadge lastSeen="2026-01-01T00:00:40Z" now={now} offlineAfter={30} /></MantineProvider>);
    expect(screen.getByText('20 s ago', { exact: false }).closest('[data-level]')!.getAttribute('data-level')).toBe('warn');
    rerender(<MantineProvider><LastSeenBadge lastSeen="2026-01-01T00:00:00Z" now={now} offlineAfter={30} /></MantineProvider>);
    expect(screen.getByText('1 min ago', { exact: false }).closest('[data-level]')!.getAttribute('data-level')).toBe('bad');
  });
  it('freshness says up to date or stale with the age', () => {
    wrap(<><FreshnessBadge freshness={4} status="online" /><FreshnessBadge freshness={400} status="stale" /></>);
    expect(screen.getByText('Up to date · 4 s')).toBeTruthy();
    expect(screen.getByText('Stale · 6 min')).toBeTruthy();
  });
  it('a collector name with HTML renders as text', () => {
    const name = '<img src=x onerror=alert(1)>';
    const { container } = wrap(<StatusBadge status="online" reason={name} />);
    expect(container.querySelector('img')).toBeNull();
    expect(container.textContent).toContain(name);
  });
});

describe('fleet table cells', () => {
  function Table({ reason }: { reason: string }) {
    const ref = useRef<HTMLDivElement>(null);
    return <div ref={ref}><RowStatus status="error" reason={reason} /><TableTip container={ref} /></div>;
  }
  it('status: colour, icon, text; the reason as text and in the one tooltip on focus, gone on Escape', () => {
    const reason = 'scrape failed: <b>connection refused</b>';
    const { container } = wrap(<Table reason={reason} />);
    const b = container.querySelector('[data-status]') as HTMLElement;
    expect(b.className).toContain('rb-red');
    expect(b.textContent).toContain('!');
    expect(b.textContent).toContain(reason);
    expect(container.querySelector('b')).toBeNull();
    expect(b.tabIndex).toBe(0);
    expect(screen.queryByTestId('table-tip')).toBeNull();
    fireEvent.focusIn(b);
    expect(screen.getByTestId('table-tip').textContent).toBe(reason);
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByTestId('table-tip')).toBeNull();
    fireEvent.pointerOver(b);
    expect(screen.getByTestId('table-tip').textContent).toBe(reason);
    fireEvent.pointerOut(b);
    expect(screen.queryByTestId('table-tip')).toBeNull();
  });
  it('last seen ages on the shared clock', () => {
    const { container } = wrap(<RowLastSeen lastSeen={new Date(Date.now() - 45_000).toISOString()} offlineAfter={30} />);
    const b = container.querySelector('[data-level]') as HTMLElement;
    expect(b.getAttribute('data-level')).toBe('bad');
    expect(b.textContent).toMatch(/4[5-6] s ago/);
  });
});

describe('roles and redirects', () => {
  it('acts only where a binding lets it, as the server does', () => {
    expect(canActWith([{ role: 'super_admin' }], 'x', '')).toBe(true);
    expect(canActWith([{ role: 'viewer', org: 'default' }], 'default', '')).toBe(false);
    expect(canActWith([{ role: 'org_admin', org: 'a' }], 'b', '')).toBe(false);
    expect(canActWith([{ role: 'team_lead', org: 'a', team: 'red' }], 'a', 'red')).toBe(true);
    expect(canActWith([{ role: 'team_lead', org: 'a', team: 'red' }], 'a', 'blue')).toBe(false);
    expect(canActWith(null, 'a', '')).toBe(false);
  });
  it('goes back only to a path of this site after login', () => {
    expect(safeNext('/collectors/a?x=1')).toBe('/collectors/a?x=1');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/\\evil')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});
