import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import { useComputedColorScheme } from '@mantine/core';
import type { Bucket } from '../types';

/** Items per interval (actual vs expected) of completeness buckets; gaps where missing. */
export function ItemsChart({ buckets, title }: { buckets: Bucket[]; title: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const scheme = useComputedColorScheme('light');
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const xs = buckets.map((b) => Date.parse(b.start) / 1000);
    const actual = buckets.map((b) => (b.missing ? null : b.actual_items ?? null));
    const expected = buckets.map((b) => (b.missing ? null : b.expected_items ?? null));
    const axis = scheme === 'dark' ? '#c1c2c5' : '#495057';
    const grid = scheme === 'dark' ? '#373a40' : '#e9ecef';
    const plot = new uPlot({
      width: Math.max(300, el.clientWidth),
      height: 200,
      title,
      series: [
        {},
        { label: 'Actual items', stroke: '#1c7ed6', fill: 'rgba(28,126,214,0.15)', width: 2, spanGaps: false },
        { label: 'Expected items', stroke: '#868e96', dash: [6, 4], width: 1, spanGaps: false },
      ],
      axes: [{ stroke: axis, grid: { stroke: grid } }, { stroke: axis, grid: { stroke: grid } }],
    }, [xs, actual, expected], el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => { ro.disconnect(); plot.destroy(); };
  }, [buckets, title, scheme]);
  return <div ref={ref} role="img" aria-label={`${title}: chart of actual and expected items per bucket`} />;
}
