import { Alert, Anchor, Badge, Button, Card, Code, Group, Loader, Progress, SegmentedControl, SimpleGrid, Stack, Table, Text, Title, Tooltip } from '@mantine/core';
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { ApiError, enc, get, getText } from '../api';
import { useAuth, useNow } from '../auth';
import { CompletenessText, FreshnessBadge, LastSeenBadge, StatusBadge } from '../components/badges';
import { ItemsChart } from '../components/ItemsChart';
import { CommandDialog, type Action } from '../dialogs/CommandDialog';
import { LifecycleActions } from '../dialogs/LifecycleActions';
import { ageSeconds, completenessLevel, formatAge, formatBytes, formatDuration, formatNumber, formatPercent, formatTime, levelColor } from '../format';
import type { AuditRow, Change, Collector, CollectorDetail, Command, Completeness } from '../types';

function Section({ title, children, testid }: { title: string; children: ReactNode; testid?: string }) {
  return (
    <Card withBorder component="section" aria-label={title} data-testid={testid}>
      <Title order={2} size="h4" mb="xs">{title}</Title>
      {children}
    </Card>
  );
}

function KV({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <Table withRowBorders={false} verticalSpacing={2}>
      <Table.Tbody>
        {rows.map(([k, v]) => (
          <Table.Tr key={k}><Table.Th w={200} fw={500} c="dimmed">{k}</Table.Th><Table.Td>{v}</Table.Td></Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function Bar({ value, label }: { value: number | null; label: string }) {
  return (
    <Group gap="sm" wrap="nowrap">
      <Progress value={(value ?? 0) * 100} w={220} aria-label={label} color={levelColor[completenessLevel(value)]} />
      <Text size="sm">{formatPercent(value)}</Text>
    </Group>
  );
}

export function DetailPage() {
  const { id = '' } = useParams();
  const { canAct, live } = useAuth();
  const now = useNow(1000);
  const [d, setD] = useState<CollectorDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [history, setHistory] = useState<Change[]>([]);
  const [window, setWindow] = useState<'1h' | '24h'>('1h');
  const [comp, setComp] = useState<Completeness | null>(null);
  const [commands, setCommands] = useState<Command[]>([]);
  const [audit, setAudit] = useState<AuditRow[] | null>(null);
  const [auditErr, setAuditErr] = useState('');
  const [metrics, setMetrics] = useState('');
  const [health, setHealth] = useState<{ text: string; error?: string } | null>(null);
  const [dialog, setDialog] = useState<Action | null>(null);

  const loadDetail = useCallback(() => {
    get<CollectorDetail>(`/collectors/${enc(id)}`).then((x) => { setD(x); setError(null); }).catch((e: unknown) => setError(e instanceof ApiError ? e : new ApiError(0, 'x', String(e))));
    get<{ data: Change[] }>(`/collectors/${enc(id)}/history?limit=50`).then((h) => setHistory(h.data ?? [])).catch(() => {});
    get<{ data: Command[] }>(`/commands?collector=${enc(id)}&limit=20`).then((c) => setCommands(c.data ?? [])).catch(() => {});
  }, [id]);

  useEffect(() => {
    loadDetail();
    get<{ data: AuditRow[] }>(`/audit?collector=${enc(id)}&limit=20`).then((a) => setAudit(a.data ?? [])).catch((e: unknown) => setAuditErr(e instanceof ApiError ? e.full : String(e)));
    getText(`/collectors/${enc(id)}/metrics`).then(setMetrics).catch((e: unknown) => setMetrics(`# ${e instanceof ApiError ? e.full : String(e)}`));
    const t = setInterval(loadDetail, 15_000);
    return () => clearInterval(t);
  }, [id, loadDetail]);

  useEffect(() => {
    const range = window === '1h' ? '-24h' : '-30d';
    get<Completeness>(`/collectors/${enc(id)}/completeness?window=${window}&from=${range === '-30d' ? '-720h' : range}`).then(setComp).catch(() => setComp(null));
  }, [id, window]);

  // Live: this collector's events patch the header; commands update in place.
  useEffect(() => {
    if (!live) return;
    return live.onBatch((events) => {
      let reload = false;
      for (const ev of events) {
        if (ev.type === 'command:updated') {
          const c = ev.data as Command;
          if (c.collector !== id) continue;
          setCommands((cs) => { const i = cs.findIndex((x) => x.id === c.id); if (i < 0) return [c, ...cs]; const n = [...cs]; n[i] = c; return n; });
          continue;
        }
        if (ev.collector !== id) continue;
        const data = (ev.data ?? {}) as Record<string, unknown>;
        if (ev.type === 'collector:heartbeat') {
          setD((x) => x && { ...x, last_seen: ev.time, status: (data['status'] as Collector['status']) ?? x.status, freshness_seconds: (data['freshness_seconds'] as number) ?? x.freshness_seconds });
        } else if (ev.type === 'collector:status-changed') {
          setD((x) => x && { ...x, status: data['new'] as Collector['status'], reason: String(data['reason'] ?? ''), status_since: ev.time });
          reload = true;
        } else if (ev.type.startsWith('collector:')) reload = true;
      }
      if (reload) loadDetail();
    });
  }, [live, id, loadDetail]);

  async function fetchHealth() {
    setHealth({ text: 'Asking the agent…' });
    try {
      const h = await get<{ status: number; url: string; json: boolean; body: unknown }>(`/collectors/${enc(id)}/health`);
      setHealth({ text: `GET ${h.url} → HTTP ${h.status}\n\n${h.json ? JSON.stringify(h.body, null, 2) : String(h.body)}` });
    } catch (e) {
      setHealth({ text: '', error: e instanceof ApiError ? e.full : String(e) });
    }
  }

  // Unregistered while open (say, from this page's dialog): keep the last state
  // under a banner, so that the dialog showing the server's answer stays.
  if (error && (!d || error.status !== 410)) {
    return (
      <Stack>
        <Anchor component={Link} to="/">← Fleet</Anchor>
        <Alert color="red" role="alert" title={error.status === 404 ? 'No such collector' : error.status === 410 ? 'Unregistered' : 'Cannot load the collector'}>{error.full}</Alert>
      </Stack>
    );
  }
  if (!d) return <Group justify="center"><Loader aria-label="Loading the collector" /></Group>;
  const act = canAct(d);
  const c = d.collection;
  const success = c.succeeded + c.failed > 0 ? c.succeeded / (c.succeeded + c.failed) : null;
  const lastBuckets = comp?.data ?? [];
  const avail = lastBuckets.filter((b) => !b.missing && b.availability != null);
  const availability = avail.length ? avail.reduce((s, b) => s + (b.availability ?? 0), 0) / avail.length : null;

  return (
    <Stack gap="md">
      <Anchor component={Link} to="/">← Fleet</Anchor>
      {error && <Alert color="red" role="alert" title="Unregistered">{error.full}</Alert>}
      <Group justify="space-between" align="flex-start">
        <Stack gap={4}>
          <Title order={1} size="h2">Collector: {d.id}</Title>
          <Group gap="sm">
            <StatusBadge status={d.status} reason={d.reason} />
            <Text size="sm">{d.reason}</Text>
          </Group>
          <Text size="sm">Last heartbeat: <LastSeenBadge lastSeen={d.last_seen} now={now} offlineAfter={d.thresholds?.offline_after_seconds} /></Text>
          <Text size="sm">Registered (first seen): {formatTime(d.first_seen)}{d.first_seen ? ` (${formatAge(ageSeconds(d.first_seen, now))} ago)` : ''}</Text>
          {d.desired?.run_state === 'paused' && (
            <Text size="sm" c="dimmed">Kept paused by {d.desired.updated_by}{d.desired.reason ? `: ${d.desired.reason}` : ''}{d.desired.resume_expected ? `; expected back ${formatTime(d.desired.resume_expected)}` : ''}</Text>
          )}
        </Stack>
        <Stack gap="xs" align="flex-end">
        {act && (
          <Group gap="xs" aria-label="Actions">
            <Button variant="default" onClick={() => setDialog('test-connection')}>Test Connection</Button>
            <Button variant="default" onClick={() => setDialog('restart')}>Restart Collector</Button>
            {d.status === 'paused' || d.desired?.run_state === 'paused'
              ? <Button onClick={() => setDialog('resume')}>Resume Collector</Button>
              : <Button color="red" variant="light" onClick={() => setDialog('stop')}>Stop Collector</Button>}
            <Button variant="default" onClick={() => setDialog('collect')}>Collect Now</Button>
            <Button variant="default" onClick={() => setDialog('backfill')}>Backfill…</Button>
          </Group>
        )}
        <LifecycleActions detail={d} canAct={act} onChange={loadDetail} />
        </Stack>
      </Group>

      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Section title="Connection information">
          <KV rows={[
            ['Kind', d.kind || '—'], ['Version', d.version || '—'], ['URL', <Text key="u" size="sm" className="mono">{d.url || '—'}</Text>],
            ['Source', d.source], ['Job', d.job], ['Org / team', `${d.org || '—'} / ${d.team || '—'}`], ['Group', d.group || '—'],
            ['Tags', (d.tags ?? []).length ? <Group key="t" gap={4}>{(d.tags ?? []).map((t) => <Badge key={t} variant="outline">{t}</Badge>)}</Group> : '—'],
            ['Labels', <Group key="l" gap={4}>{Object.entries(d.labels ?? {}).map(([k, v]) => <Code key={k}>{k}={v}</Code>)}</Group>],
          ]} />
        </Section>
        <Section title="Performance">
          <KV rows={[
            ['Uptime', d.uptime_seconds != null ? formatAge(d.uptime_seconds) : '—'],
            ['Availability', <Bar key="a" value={availability} label="Availability" />],
            ['CPU', formatPercent(d.cpu)], ['Memory', formatBytes(d.memory_bytes)], ['Restarts', String(d.restarts)],
            ['Scrape duration', formatDuration(d.scrape_duration_seconds)], ['Samples per scrape', formatNumber(d.samples)],
          ]} />
        </Section>
        <Section title="Collection statistics">
          <KV rows={[
            ['Items collected', formatNumber(d.items_collected)], ['Collection interval', formatDuration(c.expected_interval_seconds || null)],
            ['Avg collection time', formatDuration(c.mean_duration_seconds)], ['Last collection', c.last_collection ? `${formatAge(ageSeconds(c.last_collection, now))} ago` : '—'],
            ['Success rate', formatPercent(success, 2)], ['Freshness', <FreshnessBadge key="f" freshness={d.freshness_seconds} status={d.status} />],
            ['Completeness 1h / 24h', <Group key="c" gap={4}><CompletenessText value={d.completeness_1h} label="1h" /><CompletenessText value={d.completeness_24h} label="24h" /></Group>],
            ['Last error', d.last_error || d.collection_error || 'none'],
          ]} />
        </Section>
        <Section title="Status history" testid="history">
          {history.length === 0 ? <Text size="sm" c="dimmed">No change recorded yet.</Text> : (
            <Stack gap={4} className="timeline" aria-label="Status changes, newest first">
              {history.slice(0, 20).map((h, i) => (
                <Text key={i} size="sm">
                  <span className="mono">{formatTime(h.at)}</span>{' '}
                  {h.kind === 'reconcile' ? <Badge size="xs" color="grape" variant="light">reconcile</Badge> : null}{' '}
                  {h.from || '—'} → <b>{h.to}</b>{h.reason ? ` — ${h.reason}` : ''}
                </Text>
              ))}
            </Stack>
          )}
        </Section>
      </SimpleGrid>

      <Section title="Completeness and freshness" testid="completeness">
        <Group mb="xs">
          <SegmentedControl value={window} onChange={(v) => setWindow(v as '1h' | '24h')} data={[{ value: '1h', label: 'Hourly (24 h)' }, { value: '24h', label: 'Daily (30 d)' }]} aria-label="Bucket size" />
          {comp && <Text size="sm">{comp.missing} missing bucket{comp.missing === 1 ? '' : 's'}</Text>}
        </Group>
        {comp && comp.data.length > 0 ? (
          <>
            <div className="bucket-grid" aria-label="Buckets, oldest first">
              {comp.data.map((b) => {
                const lvl = b.missing ? 'bad' : completenessLevel(b.completeness);
                const label = b.missing ? `${formatTime(b.start)}: gap, no data` : `${formatTime(b.start)}: ${formatNumber(b.actual_items)} of ${formatNumber(b.expected_items)} items (${formatPercent(b.completeness)}), availability ${formatPercent(b.availability)}`;
                return (
                  <Tooltip key={b.start} label={label}>
                    <div className="bucket" role="img" tabIndex={0} aria-label={label} style={{ background: b.missing ? 'repeating-linear-gradient(45deg, var(--mantine-color-red-6) 0 3px, transparent 3px 6px)' : `var(--mantine-color-${levelColor[lvl]}-6)` }} />
                  </Tooltip>
                );
              })}
            </div>
            <ItemsChart buckets={comp.data} title={window === '1h' ? 'Items per hour' : 'Items per day'} />
          </>
        ) : <Text size="sm" c="dimmed">No buckets yet.</Text>}
      </Section>

      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Section title="Commands" testid="commands">
          {commands.length === 0 ? <Text size="sm" c="dimmed">No command sent to this collector.</Text> : (
            <Table verticalSpacing={4}>
              <Table.Thead><Table.Tr><Table.Th>Created</Table.Th><Table.Th>Command</Table.Th><Table.Th>State</Table.Th><Table.Th>By</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {commands.map((cm) => (
                  <Table.Tr key={cm.id}>
                    <Table.Td className="mono">{formatTime(cm.created_at)}</Table.Td>
                    <Table.Td>{cm.command}{cm.command === 'backfill' && cm.progress != null && <Progress value={cm.progress * 100} mt={4} aria-label="Backfill progress" />}</Table.Td>
                    <Table.Td><Badge variant="light" color={cm.state === 'confirmed' ? 'teal' : cm.state === 'failed' || cm.state === 'expired' ? 'red' : 'blue'}>{cm.state}</Badge>{cm.error ? <Text size="xs" c="red">{cm.error}</Text> : null}</Table.Td>
                    <Table.Td>{cm.actor.name}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Section>
        <Section title="Audit" testid="audit">
          {auditErr ? <Text size="sm" c="dimmed">{auditErr}</Text> : !audit?.length ? <Text size="sm" c="dimmed">No audit row.</Text> : (
            <Table verticalSpacing={4}>
              <Table.Thead><Table.Tr><Table.Th>At</Table.Th><Table.Th>Actor</Table.Th><Table.Th>Action</Table.Th><Table.Th>Result</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {audit.map((a) => (
                  <Table.Tr key={String(a.id)}>
                    <Table.Td className="mono">{formatTime(a.at)}</Table.Td><Table.Td>{a.actor.name}</Table.Td>
                    <Table.Td>{a.action}{a.reason ? ` — ${a.reason}` : ''}</Table.Td><Table.Td>{a.result || '—'}{a.error ? `: ${a.error}` : ''}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Section>
      </SimpleGrid>

      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Section title="Latest scraped metrics" testid="metrics">
          <Code block className="metrics-pre" tabIndex={0} aria-label="Latest scraped metrics, text format">{metrics ? metrics.split('\n').slice(0, 400).join('\n') : 'Loading…'}</Code>
        </Section>
        <Section title="Agent health (/healthz)" testid="health">
          <Group mb="xs"><Button size="xs" variant="default" onClick={() => void fetchHealth()}>Fetch /healthz now</Button></Group>
          {health?.error && <Alert color="red" role="alert">{health.error}</Alert>}
          {health?.text && <Code block className="metrics-pre" data-testid="health-body" tabIndex={0} aria-label="The agent's /healthz answer">{health.text}</Code>}
        </Section>
      </SimpleGrid>
      {dialog && <CommandDialog action={dialog} collectorId={d.id} onClose={() => { setDialog(null); loadDetail(); }} />}
    </Stack>
  );
}

