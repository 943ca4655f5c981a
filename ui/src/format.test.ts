import { describe, expect, it } from 'vitest';
import { ageSeconds, completenessLevel, formatAge, formatAgo, formatBytes, formatNumber, formatPercent, lastSeenLevel } from './format';

describe('format', () => {
  it('ages', () => {
    expect(formatAge(0)).toBe('0 s');
    expect(formatAge(59.4)).toBe('59 s');
    expect(formatAge(60)).toBe('1 min');
    expect(formatAge(3600 + 120)).toBe('1 h 2 min');
    expect(formatAge(86400 * 36 + 3600)).toBe('36 d 1 h');
    expect(formatAge(null)).toBe('—');
    expect(formatAge(-5)).toBe('0 s');
  });
  it('ago from a time', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    expect(ageSeconds('2026-01-01T00:00:30Z', now)).toBe(30);
    expect(formatAgo('2026-01-01T00:00:58Z', now)).toBe('2 s ago');
    expect(formatAgo(null, now)).toBe('never');
    expect(ageSeconds('not a time', now)).toBeNull();
  });
  it('numbers, bytes, percentages', () => {
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(34 * 1024 * 1024)).toBe('34 MiB');
    expect(formatBytes(1.5 * 1024)).toBe('1.5 KiB');
    expect(formatPercent(0.998)).toBe('99.8%');
    expect(formatPercent(0.9998)).toBe('99.98%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(null)).toBe('—');
  });
  it('last-seen turns amber then red against the offline threshold', () => {
    expect(lastSeenLevel(2, 30)).toBe('ok');
    expect(lastSeenLevel(20, 30)).toBe('warn');
    expect(lastSeenLevel(30, 30)).toBe('bad');
    expect(lastSeenLevel(null)).toBe('none');
  });
  it('completeness levels', () => {
    expect(completenessLevel(1)).toBe('ok');
    expect(completenessLevel(0.95)).toBe('warn');
    expect(completenessLevel(0.5)).toBe('bad');
    expect(completenessLevel(null)).toBe('none');
  });
});
