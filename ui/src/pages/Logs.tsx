// The log viewer (seed 000 §6): a collector's pulled agent logs, filtered by level,
// text and time, paged newest first ("showing 1–100 of N"), following live over the
// WebSocket with auto-scroll, exported as CSV or JSON by the server. Messages and
// attributes are React text: never HTML.
import { Alert, Anchor, Badge, Button, Group, Loader, Select, Stack, Switch, Text, TextInput, Title } from '@mantine/core';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { ApiError, get } from '../api';
import { useAuth } from '../auth';
import { formatTime } from '../format';
import { attrsText, exportHref, filterFromSearch, LEVELS, logsPath, matches, mergeRecords, PAGE, showing, type LogFilter, type LogRecord } from './logsQuery';
import '../dialogs/dialogs.css';

const levelColor: Record<string, string> = { DEBUG: 'gray', INFO: 'blue', WARN: 'orange', WARNING: 'orange', ERROR: 'red' };

const ranges = [
  { value: '', label: 'All time' },
  { value: '-15m', label: 'Last 15 minutes' },
  { value: '-1h', label: 'Last hour' },
  { value: '-24h', label: 'Last 24 hours' },
  { value: '-168h', label: 'Last 7 days' },
  { value: 'custom', label: 'Custom range…' },
];

function toLocalInput(s: string): string {
  const t = Date.parse(s);
  if (Number.isNaN(t)) return '';
  const d = new Date(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function LogsPage() {
  const { id = '' } = useParams();
  const { live } = useAuth();
  const [sp, setSp] = useSearchParams();
  const f = useMemo(() => filterFromSearch(sp), [sp]);
  const follow = sp.get('follow') !== '0' && !f.until;
  const [search, setSearch] = useState(f.q);
  const [records, setRecords] = useState<LogRecord[]>([]);
  const [total, setTotal] = useState(0);
  const [fromServer, setFromServer] = useState(0);
  const [liveCount, setLiveCount] = useState(0);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const scroller = useRef<HTMLDivElement>(null);
  const fRef = useRef(f);
  fRef.current = f;
  const custom = sp.get('range') === 'custom' || (!!f.since && !ranges.some((r) => r.value === f.since)) || !!f.until;

  const set = useCallback((patch: Partial<LogFilter> & { follow?: boolean; range?: string }) => {
    setSp((cur) => {
      const n = new URLSearchParams(cur);
      for (const [k, v] of Object.entries(patch)) {
        if (k === 'follow') { if (v) n.delete('follow'); else n.set('follow', '0'); continue; }
        if (v === '' || v == null) n.delete(k); else n.set(k, String(v));
      }
      return n;
    }, { replace: true });
  }, [setSp]);

  // The search box writes the URL after a pause in typing.
  useEffect(() => {
    if (search === f.q) return;
    const t = setTimeout(() => set({ q: search }), 300);
    return () => clearTimeout(t);
  }, [search, f.q, set]);

  // After a reconnect or a resync message the socket may have missed records:
  // the first page again.
  const [resyncs, setResyncs] = useState(0);
  useEffect(() => (live ? live.onResync(() => setResyncs((n) => n + 1)) : undefined), [live]);

  // The first page whenever the filter changes (or after a resync).
  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    setError('');
    get<{ data: LogRecord[]; total: number }>(logsPath(id, f, 0), ac.signal)
      .then((p) => { setRecords(mergeRecords(p.data ?? [], [])); setTotal(p.total); setFromServer((p.data ?? []).length); setLiveCount(0); })
      .catch((e: unknown) => { if (!(e instanceof DOMException)) setError(e instanceof ApiError ? e.full : String(e)); })
      .finally(() => setLoading(false));
    return () => ac.abort();
  }, [id, f, resyncs]);

  async function loadMore() {
    setLoading(true);
    try {
      // Records that arrived live since are newer: they shift the server's offsets.
      const p = await get<{ data: LogRecord[]; total: number }>(logsPath(id, f, fromServer + liveCount));
      setRecords((rs) => mergeRecords(rs, p.data ?? []));
      setFromServer((n) => n + (p.data ?? []).length);
      setTotal(p.total);
      setLiveCount(0);
    } catch (e) {
      setError(e instanceof ApiError ? e.full : String(e));
    } finally {
      setLoading(false);
    }
  }

  // Follow: subscribe to this collector's log events (with everything else the tab
  // gets kept: the empty subscription), and add the records that match.
  useEffect(() => {
    if (!live || !follow) return;
    live.setSubscriptions([{}, { collectors: [id], types: ['collector:log'] }]);
    const off = live.onBatch((events) => {
      const now = Date.now();
      const add: LogRecord[] = [];
      for (const ev of events) {
        if (ev.type !== 'collector:log' || ev.collector !== id || !ev.data) continue;
        const r = ev.data as LogRecord;
        if (matches(r, fRef.current, now)) add.push(r);
      }
      if (!add.length) return;
      setRecords((rs) => mergeRecords(add, rs));
      setTotal((t) => t + add.length);
      setLiveCount((n) => n + add.length);
    });
    return () => { off(); live.setSubscriptions([]); };
  }, [live, follow, id]);

  // Oldest at the top, newest at the bottom; following keeps the bottom in view.
  const rows = useMemo(() => [...records].reverse(), [records]);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (follow && el) el.scrollTop = el.scrollHeight;
  }, [rows, follow]);

  const rangeValue = custom ? 'custom' : f.since;
  return (
    <Stack gap="sm">
      <Anchor component={Link} to={`/collectors/${encodeURIComponent(id)}`}>← Collector {id}</Anchor>
      <Title order={1} size="h2">Collector Logs: {id}</Title>
      <Group gap="sm" align="flex-end" role="search" aria-label="Filter the logs">
        <Select label="Level" w={170} data={[{ value: '', label: 'All levels' }, ...LEVELS.map((l) => ({ value: l, label: `${l.toUpperCase()} and above` }))]}
          value={f.level} onChange={(v) => set({ level: (v ?? '') as LogFilter['level'] })} allowDeselect={false} data-testid="log-level" />
        <TextInput label="Search" type="search" placeholder="message or key=value" w={260} value={search} onChange={(e) => setSearch(e.currentTarget.value)} data-testid="log-search" />
        <Select label="Time range" w={190} data={ranges} value={rangeValue} allowDeselect={false}
          onChange={(v) => (v === 'custom' ? set({ range: 'custom', since: f.since && !f.since.startsWith('-') ? f.since : new Date(Date.now() - 3600_000).toISOString() }) : set({ range: '', since: v ?? '', until: '' }))} />
        {custom && (
          <>
            <TextInput type="datetime-local" label="From" value={toLocalInput(f.since)} onChange={(e) => { const t = new Date(e.currentTarget.value); if (!Number.isNaN(t.getTime())) set({ since: t.toISOString() }); }} />
            <TextInput type="datetime-local" label="To (empty: now)" value={toLocalInput(f.until)} onChange={(e) => { const v = e.currentTarget.value; const t = new Date(v); set({ until: v && !Number.isNaN(t.getTime()) ? t.toISOString() : '' }); }} />
          </>
        )}
        <Switch label="Follow live (auto-scroll)" checked={follow} disabled={!!f.until} onChange={(e) => set({ follow: e.currentTarget.checked })} data-testid="log-follow" mb={8} />
      </Group>
      {error && <Alert color="red" role="alert" title="Cannot load the logs">{error}</Alert>}
      <div ref={scroller} className="log-scroll" tabIndex={0} role="region" aria-label={`Log records of ${id}, oldest first`} data-testid="log-scroll">
        <table className="log-table">
          <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Message</th><th scope="col">Attributes</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.stream}/${r.cursor}`} data-testid="log-row" data-level={r.level}>
                <td className="mono">{formatTime(r.time)}</td>
                <td><Badge size="sm" variant="light" color={levelColor[r.level.toUpperCase()] ?? 'gray'}>{r.level}</Badge></td>
                <td className="log-msg">{r.msg}</td>
                <td className="mono log-attrs">{attrsText(r.attrs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!loading && rows.length === 0 && <Text size="sm" c="dimmed" p="sm">No record matches.</Text>}
      </div>
      <Group justify="space-between">
        <Group gap="sm">
          <Button variant="default" onClick={() => void loadMore()} disabled={loading || records.length >= total}>⬇ Load more</Button>
          <Text size="sm" aria-live="polite" data-testid="log-showing">{showing(records.length, total)}</Text>
          {loading && <Loader size="xs" aria-label="Loading" />}
          {follow && <Badge variant="dot" color="teal">following</Badge>}
        </Group>
        <Group gap="xs">
          <Button component="a" variant="default" href={exportHref(id, f, 'csv')} download={`${id}-logs.csv`} data-testid="export-csv">Export as CSV</Button>
          <Button component="a" variant="default" href={exportHref(id, f, 'json')} download={`${id}-logs.json`} data-testid="export-json">Export as JSON</Button>
        </Group>
      </Group>
      {PAGE < total && <Text size="xs" c="dimmed">Exports carry every matching record (up to 100,000), not only those shown.</Text>}
    </Stack>
  );
}
