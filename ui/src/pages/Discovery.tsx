// Service discovery, as Prometheus's /targets and /service-discovery pages show
// it: the active targets, the dropped ones with their reason, each file_sd file
// with its targets, last good read and current error, and the collector
// identities found more than once.
import { Alert, Badge, Code, Group, Loader, Paper, SegmentedControl, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ApiError, get } from '../api';
import { useNow } from '../auth';
import { StatusBadge } from '../components/badges';
import { formatAgo, formatTime } from '../format';
import type { Status } from '../types';

interface ActiveTarget {
  discoveredLabels?: Record<string, string>;
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: 'up' | 'down' | 'unknown';
  collector: string;
  status: Status;
  reason: string;
}
interface DroppedTarget { discoveredLabels: Record<string, string>; scrapePool: string; collector?: string; reason: string; archived_collector_id?: string }
interface SDFile { file: string; targets: number; last_good_read: string | null; error: string; error_since: string | null; dropped: { group: number; target: string; reason: string }[] }
interface ConflictSide { scrapePool: string; provider: string; source: string; scrapeUrl: string; labels: Record<string, string> }
interface Conflict { collector: string; reason: string; kept: ConflictSide; dropped: ConflictSide }

const errText = (e: unknown) => (e instanceof ApiError ? e.full : String(e));

function Labels({ labels }: { labels: Record<string, string> | undefined }) {
  const keys = Object.keys(labels ?? {}).sort();
  return (
    <Group gap={4} wrap="wrap">
      {keys.map((k) => <Badge key={k} variant="outline" color="gray" size="sm" tt="none" className="label-badge">{k}=&quot;{labels![k]}&quot;</Badge>)}
    </Group>
  );
}

const healthColor = { up: 'teal', down: 'red', unknown: 'gray' } as const;

function useLoad<T>(path: string, every = 5000) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  const load = useCallback(() => {
    get<T>(path).then((d) => { setData(d); setError(''); }, (e: unknown) => setError(errText(e)));
  }, [path]);
  useEffect(() => { load(); const t = setInterval(load, every); return () => clearInterval(t); }, [load, every]);
  return { data, error };
}

export function DiscoveryPage() {
  const [sp, setSp] = useSearchParams();
  const show = (sp.get('show') ?? 'any') as 'any' | 'active' | 'dropped';
  const pool = sp.get('pool') ?? '';
  const search = sp.get('q') ?? '';
  const setParam = (k: string, v: string) => setSp((cur) => { const n = new URLSearchParams(cur); if (v) n.set(k, v); else n.delete(k); return n; }, { replace: true });
  const now = useNow(5000);
  const targets = useLoad<{ data: { activeTargets: ActiveTarget[]; droppedTargets: DroppedTarget[] } }>('/targets');
  const files = useLoad<{ data: SDFile[] }>('/sd-files');
  const conflicts = useLoad<{ data: Conflict[] }>('/conflicts');

  const active = targets.data?.data.activeTargets ?? [];
  const dropped = targets.data?.data.droppedTargets ?? [];
  const pools = useMemo(() => [...new Set([...active, ...dropped].map((t) => t.scrapePool))].sort(), [active, dropped]);
  const match = (pl: string, labels: Record<string, string> | undefined, extra = '') =>
    (!pool || pl === pool) && (!search || `${extra} ${Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}`.toLowerCase().includes(search.toLowerCase()));
  const activeShown = active.filter((t) => match(t.scrapePool, t.discoveredLabels ?? t.labels, `${t.collector} ${t.scrapeUrl}`)).sort((a, b) => (a.scrapePool + a.collector < b.scrapePool + b.collector ? -1 : 1));
  const droppedShown = dropped.filter((t) => match(t.scrapePool, t.discoveredLabels, `${t.collector ?? ''} ${t.reason}`));
  const byFile = useMemo(() => {
    const m = new Map<string, ActiveTarget[]>();
    for (const t of active) {
      const f = t.discoveredLabels?.['__meta_filepath'];
      if (!f) continue;
      if (!m.has(f)) m.set(f, []);
      m.get(f)!.push(t);
    }
    return m;
  }, [active]);

  return (
    <Stack gap="md">
      <Title order={1} size="h2">Service discovery</Title>
      <Group gap="sm" align="flex-end" component="section" aria-label="Filters">
        <SegmentedControl value={show} onChange={(v) => setParam('show', v === 'any' ? '' : v)} aria-label="Which targets"
          data={[{ value: 'any', label: 'All' }, { value: 'active', label: `Active (${active.length})` }, { value: 'dropped', label: `Dropped (${dropped.length})` }]} />
        <TextInput label="Scrape pool" placeholder="any" value={pool} onChange={(e) => setParam('pool', e.currentTarget.value)} w={160} list="pools" />
        <datalist id="pools">{pools.map((p) => <option key={p} value={p} />)}</datalist>
        <TextInput label="Search labels" type="search" value={search} onChange={(e) => setParam('q', e.currentTarget.value)} w={240} />
      </Group>
      {targets.error && <Alert color="red" role="alert" title="Cannot read the targets">{targets.error}</Alert>}
      {!targets.data && !targets.error && <Loader aria-label="Loading" />}

      {show !== 'dropped' && targets.data && (
        <section aria-labelledby="active-title">
          <Title order={2} size="h4" id="active-title" mb="xs">Active targets ({activeShown.length})</Title>
          <div className="table-scroll">
            <Table striped aria-label="Active targets" data-testid="active-targets">
              <Table.Thead><Table.Tr>{['Collector', 'Pool', 'Endpoint', 'Health', 'Status', 'Labels', 'Last scrape', 'Error'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}</Table.Tr></Table.Thead>
              <Table.Tbody>
                {activeShown.map((t) => (
                  <Table.Tr key={t.scrapePool + '\0' + t.collector}>
                    <Table.Td><Link className="name-link" to={`/collectors/${encodeURIComponent(t.collector)}`}>{t.collector}</Link></Table.Td>
                    <Table.Td>{t.scrapePool}</Table.Td>
                    <Table.Td className="mono">{t.scrapeUrl}</Table.Td>
                    <Table.Td><Badge color={healthColor[t.health]} variant="light">{t.health}</Badge></Table.Td>
                    <Table.Td><StatusBadge status={t.status} reason={t.reason} /></Table.Td>
                    <Table.Td><Labels labels={t.labels} /></Table.Td>
                    <Table.Td className="nowrap">{t.lastScrape && !t.lastScrape.startsWith('0001') ? `${formatAgo(t.lastScrape, now)} (${(t.lastScrapeDuration * 1000).toFixed(0)} ms)` : 'never'}</Table.Td>
                    <Table.Td><Text size="xs" className="error-text">{t.lastError}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        </section>
      )}

      {show !== 'active' && targets.data && (
        <section aria-labelledby="dropped-title">
          <Title order={2} size="h4" id="dropped-title" mb="xs">Dropped targets ({droppedShown.length})</Title>
          {droppedShown.length === 0 ? <Text size="sm" c="dimmed">None: every discovered target is scraped.</Text> : (
            <div className="table-scroll">
              <Table striped aria-label="Dropped targets" data-testid="dropped-targets">
                <Table.Thead><Table.Tr>{['Pool', 'Discovered labels', 'Why it is not scraped'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}</Table.Tr></Table.Thead>
                <Table.Tbody>
                  {droppedShown.map((t, i) => (
                    <Table.Tr key={i} data-testid="dropped-row">
                      <Table.Td>{t.scrapePool}</Table.Td>
                      <Table.Td><Labels labels={t.discoveredLabels} /></Table.Td>
                      <Table.Td><Text size="sm">{t.reason}</Text>{t.archived_collector_id && <Text size="xs">Archive <span className="mono">{t.archived_collector_id}</span></Text>}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          )}
        </section>
      )}

      <section aria-labelledby="files-title">
        <Title order={2} size="h4" id="files-title" mb="xs">file_sd files</Title>
        {files.error ? <Alert color="gray" title="Not shown" data-testid="files-error">{files.error}</Alert> : !files.data ? <Loader size="sm" aria-label="Loading" /> : files.data.data.length === 0 ? <Text size="sm" c="dimmed">No file_sd file.</Text> : (
          <Stack gap="sm">
            {files.data.data.map((f) => {
              const ts = byFile.get(f.file) ?? [];
              return (
                <Paper withBorder p="sm" key={f.file} data-testid="sd-file" data-file={f.file} data-error={f.error ? 'yes' : 'no'}>
                  <Group justify="space-between" wrap="wrap">
                    <Text fw={600} className="mono">{f.file}</Text>
                    <Group gap="xs">
                      <Badge color={f.error ? 'red' : 'teal'} variant="light">{f.error ? 'error' : 'ok'}</Badge>
                      <Text size="sm">{f.targets} targets</Text>
                      <Text size="sm">last good read: {f.last_good_read ? `${formatAgo(f.last_good_read, now)}` : 'never'}</Text>
                    </Group>
                  </Group>
                  {f.error && (
                    <Alert color="red" mt="xs" title={`Current error${f.error_since ? ` since ${formatTime(f.error_since)}` : ''}`} data-testid="sd-file-error">
                      <Text size="sm" className="wrap-anywhere">{f.error}</Text>
                      {f.last_good_read ? <Text size="xs">The targets of the last good read are kept.</Text> : null}
                    </Alert>
                  )}
                  {ts.length > 0 && (
                    <Text size="sm" mt="xs">Scraped: {ts.map((t, i) => (
                      <span key={t.collector}>{i ? ', ' : ''}<Link className="name-link" to={`/collectors/${encodeURIComponent(t.collector)}`}>{t.collector}</Link> <span className="mono">({t.scrapeUrl})</span></span>
                    ))}</Text>
                  )}
                  {f.dropped.length > 0 && (
                    <Stack gap={2} mt="xs">
                      <Text size="sm" fw={600}>Dropped from this file:</Text>
                      {f.dropped.map((d, i) => <Text size="sm" key={i} data-testid="sd-file-dropped">group {d.group}: <Code>{d.target}</Code> — {d.reason}</Text>)}
                    </Stack>
                  )}
                </Paper>
              );
            })}
          </Stack>
        )}
      </section>

      <section aria-labelledby="conflicts-title">
        <Title order={2} size="h4" id="conflicts-title" mb="xs">Conflicts</Title>
        {conflicts.error ? <Alert color="red" role="alert">{conflicts.error}</Alert> : !conflicts.data ? null : conflicts.data.data.length === 0 ? <Text size="sm" c="dimmed">None: every collector identity is discovered once.</Text> : (
          <div className="table-scroll">
            <Table striped aria-label="Conflicts" data-testid="conflicts">
              <Table.Thead><Table.Tr>{['Collector', 'Scraped', 'Not scraped', 'Why'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}</Table.Tr></Table.Thead>
              <Table.Tbody>
                {conflicts.data.data.map((c, i) => (
                  <Table.Tr key={i}>
                    <Table.Td>{c.collector}</Table.Td>
                    <Table.Td><Text size="sm">{c.kept.scrapePool} · {c.kept.provider}</Text><Text size="xs" className="mono">{c.kept.source} {c.kept.scrapeUrl}</Text></Table.Td>
                    <Table.Td><Text size="sm">{c.dropped.scrapePool} · {c.dropped.provider}</Text><Text size="xs" className="mono">{c.dropped.source} {c.dropped.scrapeUrl}</Text></Table.Td>
                    <Table.Td><Text size="sm">{c.reason}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        )}
      </section>
    </Stack>
  );
}
