// Bulk operations (seed 7): choose collectors (the fleet's selection, every
// collector matching its filter, or a label selector), an action, preview it
// with the server's dry run, then run it now or schedule it; an operation's
// items then arrive live (command:updated events, and a poll).
import { Alert, Anchor, Badge, Button, Checkbox, Code, Group, Loader, Paper, Progress, Select, Stack, Table, TagsInput, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { ApiError, get, qs, request } from '../api';
import { useAuth } from '../auth';
import {
  BULK_ACTIONS, bulkActionLabel, buildBulkRequest, emptyForm, isLive, isTerminal, localDateTime, mergeItems, tally,
  type BulkAction, type BulkForm, type BulkResult, type BulkTarget, type ItemView,
} from '../bulkState';
import { matchesLocal, parseQuery, serializeQuery, serverParams, type FleetQuery } from '../fleetState';
import { formatNumber, formatTime } from '../format';
import type { Collector, CollectorList, Command } from '../types';

const errText = (e: unknown) => (e instanceof ApiError ? e.full : String(e));

/** The fleet list's way into a bulk operation: its selection, or everything its filter matches. */
export function BulkLinks({ selectedIds, matching, query }: { selectedIds: string[]; matching: number; query: URLSearchParams }) {
  const { isViewerOnly } = useAuth();
  if (isViewerOnly) return null;
  const sel = new URLSearchParams();
  selectedIds.forEach((id) => sel.append('id', id));
  const all = new URLSearchParams(query);
  all.set('match', 'all');
  return (
    <>
      {selectedIds.length > 0 && (
        <Button component={Link} to={`/bulk?${sel.toString()}`} size="compact-xs" variant="light" data-testid="bulk-selected">
          Bulk action on {formatNumber(selectedIds.length)} selected…
        </Button>
      )}
      {matching > 0 && (
        <Button component={Link} to={`/bulk?${all.toString()}`} size="compact-xs" variant="subtle" data-testid="bulk-all">
          Bulk action on all {formatNumber(matching)} matching this filter…
        </Button>
      )}
    </>
  );
}

/** Every collector the fleet filter matches, as the fleet list shows them. */
async function matchingIds(q: FleetQuery, signal: AbortSignal): Promise<string[]> {
  const params = serverParams(q);
  const out: Collector[] = [];
  for (let page = 1; ; page++) {
    const l = await get<CollectorList>(`/collectors${qs({ ...params, limit: 1000, page })}`, signal);
    out.push(...l.data);
    if (page >= (l.total_pages || Math.ceil(l.total / 1000)) || l.data.length === 0) break;
  }
  return out.filter((c) => matchesLocal(c, q)).map((c) => c.id).sort();
}

function describeFilter(q: FleetQuery): string {
  const parts: string[] = [];
  if (q.q) parts.push(`search “${q.q}”`);
  if (q.status.length) parts.push(`status ${q.status.join(' or ')}`);
  for (const k of ['org', 'team', 'job', 'group'] as const) if (q[k]) parts.push(`${k} ${q[k]}`);
  if (q.tag.length) parts.push(`tags ${q.tag.join(', ')}`);
  if (q.label.length) parts.push(`labels ${q.label.join(', ')}`);
  return parts.length ? parts.join('; ') : 'no filter: the whole fleet';
}

function Targets({ sp, target, setSelector }: { sp: URLSearchParams; target: BulkTarget | null; setSelector: (s: string) => void }) {
  const ids = sp.getAll('id');
  if (sp.get('match') === 'all') {
    const q = parseQuery(sp);
    const back = serializeQuery(q).toString();
    return (
      <Text size="sm" data-testid="bulk-target">
        Every collector matching the fleet filter ({describeFilter(q)}):{' '}
        {target?.kind === 'ids' ? <b>{formatNumber(target.ids.length)} collectors</b> : <Loader size="xs" aria-label="Counting" />}.{' '}
        <Anchor underline="always" component={Link} to={`/${back ? '?' + back : ''}`} size="sm">Change the filter</Anchor>
      </Text>
    );
  }
  if (ids.length) {
    return (
      <Text size="sm" data-testid="bulk-target">
        {formatNumber(ids.length)} selected: <span className="mono">{ids.slice(0, 12).join(', ')}{ids.length > 12 ? ` … and ${ids.length - 12} more` : ''}</span>.{' '}
        <Anchor underline="always" component={Link} to="/" size="sm">Change the selection</Anchor>
      </Text>
    );
  }
  return (
    <TextInput label="Label selector" description={<>A PromQL series selector over the collectors’ target labels; or select collectors in the <Link to="/">fleet list</Link>.</>}
      placeholder='{job="simulate", env=~"prod.*"}' value={target?.kind === 'selector' ? target.selector : ''}
      onChange={(e) => setSelector(e.currentTarget.value)} className="mono" w={460} />
  );
}

function ActionParams({ form, set }: { form: BulkForm; set: (p: Partial<BulkForm>) => void }) {
  switch (form.action) {
    case 'stop':
      return <TextInput label="Estimated duration (minutes)" description="When the collectors are expected to resume; empty for unknown" value={form.durationMinutes} onChange={(e) => set({ durationMinutes: e.currentTarget.value })} w={260} inputMode="numeric" />;
    case 'update-group':
      return <TextInput label="Group" description="Empty clears the group" value={form.group} onChange={(e) => set({ group: e.currentTarget.value })} w={260} />;
    case 'update-tags':
      return <TagsInput label="Tags" description="Replaces the collectors’ tags; Enter after each" value={form.tags} onChange={(tags) => set({ tags })} w={360} />;
    case 'update-config':
      return <Textarea label="Configuration (JSON)" description="The collector keys to change, e.g. collection_interval, query_limit" value={form.config} onChange={(e) => set({ config: e.currentTarget.value })} autosize minRows={3} w={460} className="mono" />;
    case 'unregister':
      return (
        <Stack gap="xs">
          <Alert color="red" title="Unregister stops scraping these collectors at once" role="note">
            Registered collectors are archived with their tokens, which stop working; file_sd and static ones are ignored until re-registered.
          </Alert>
          <Checkbox label="Archive their metrics (history, completeness, logs) instead of deleting them now" checked={form.archiveMetrics} onChange={(e) => set({ archiveMetrics: e.currentTarget.checked })} />
          {form.archiveMetrics && <TextInput label="Retention (days)" description="Empty: the server's default" value={form.retentionDays} onChange={(e) => set({ retentionDays: e.currentTarget.value })} w={200} inputMode="numeric" />}
        </Stack>
      );
    default:
      return null;
  }
}

const phaseLook: Record<ItemView['phase'], { color: string; label: string }> = {
  would: { color: 'blue', label: 'would' },
  waiting: { color: 'yellow', label: 'in progress' },
  done: { color: 'teal', label: 'done' },
  failed: { color: 'red', label: 'failed' },
};

export function ItemsTable({ items, caption }: { items: ItemView[]; caption: string }) {
  return (
    <div className="table-scroll">
      <Table striped highlightOnHover stickyHeader aria-label={caption} data-testid="bulk-items">
        <Table.Thead>
          <Table.Tr><Table.Th scope="col">Collector</Table.Th><Table.Th scope="col">Outcome</Table.Th><Table.Th scope="col">Command state</Table.Th><Table.Th scope="col">Message</Table.Th></Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((it) => (
            <Table.Tr key={it.collector_id} data-testid={`item-${it.collector_id}`} data-phase={it.phase} data-state={it.state ?? ''}>
              <Table.Td><Link className="name-link" to={`/collectors/${encodeURIComponent(it.collector_id)}`}>{it.collector_id}</Link></Table.Td>
              <Table.Td><Badge color={phaseLook[it.phase].color} variant="light">{phaseLook[it.phase].label}</Badge></Table.Td>
              <Table.Td>{it.state ?? '—'}</Table.Td>
              <Table.Td><Text size="sm">{it.error || it.message || '—'}</Text></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

export function BulkPage() {
  const [sp] = useSearchParams();
  const navigate = useNavigate();
  const { isViewerOnly } = useAuth();
  const [form, setForm] = useState<BulkForm>(emptyForm);
  const set = useCallback((p: Partial<BulkForm>) => setForm((f) => ({ ...f, ...p })), []);
  const [target, setTarget] = useState<BulkTarget | null>(null);
  const [targetErr, setTargetErr] = useState('');
  const [preview, setPreview] = useState<BulkResult | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [when, setWhen] = useState<'now' | 'later'>('now');
  const [at, setAt] = useState(() => localDateTime(new Date(Date.now() + 3600_000)));
  const [confirmUnregister, setConfirmUnregister] = useState(false);
  const key = sp.toString();

  useEffect(() => {
    setPreview(null);
    const ids = sp.getAll('id');
    if (sp.get('match') === 'all') {
      setTarget(null);
      const ctl = new AbortController();
      matchingIds(parseQuery(sp), ctl.signal).then((ids) => setTarget({ kind: 'ids', ids }), (e: unknown) => {
        if (!(e instanceof DOMException && e.name === 'AbortError')) setTargetErr(errText(e));
      });
      return () => ctl.abort();
    }
    setTarget(ids.length ? { kind: 'ids', ids } : { kind: 'selector', selector: '' });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  // A change to the form makes the preview stale.
  useEffect(() => { setPreview(null); setConfirmUnregister(false); }, [form, target]);

  const send = async (kind: 'preview' | 'run') => {
    setError('');
    if (!target) return;
    const scheduleAt = kind === 'run' && when === 'later' ? new Date(at) : null;
    const req = buildBulkRequest(form, target, { dryRun: kind === 'preview', scheduleAt });
    if (typeof req === 'string') return setError(req);
    setBusy(true);
    try {
      const { body } = await request<BulkResult>('POST', '/collectors/bulk-action', req);
      if (kind === 'preview') setPreview(body);
      else navigate(`/bulk/${encodeURIComponent(body.id)}`);
    } catch (e) {
      setError(errText(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => { e.preventDefault(); void send('preview'); };
  const previewItems = useMemo(() => (preview ? mergeItems(preview, new Map()) : []), [preview]);
  const pt = tally(previewItems);

  return (
    <Stack gap="md">
      <Title order={1} size="h2">Bulk operations</Title>
      {isViewerOnly ? (
        <Alert color="gray" title="Read only">Your role may not act on collectors: you can follow the operations below, not start one.</Alert>
      ) : (
        <Paper withBorder p="md" component="section" aria-labelledby="bulk-new">
          <form onSubmit={submit} noValidate>
            <Stack gap="sm">
              <Title order={2} size="h4" id="bulk-new">New operation</Title>
              {targetErr ? <Alert color="red" role="alert" title="Cannot list the collectors">{targetErr}</Alert>
                : <Targets sp={sp} target={target} setSelector={(selector) => setTarget({ kind: 'selector', selector })} />}
              <Group align="flex-start" gap="md">
                <Select label="Action" data={BULK_ACTIONS.map((a) => ({ value: a, label: bulkActionLabel[a] }))} value={form.action}
                  onChange={(v) => v && set({ action: v as BulkAction })} allowDeselect={false} w={240} data-testid="bulk-action" />
                <TextInput label="Reason" description="Kept in the audit trail" value={form.reason} onChange={(e) => set({ reason: e.currentTarget.value })} w={320} />
              </Group>
              <ActionParams form={form} set={set} />
              {error && <Alert color="red" role="alert" title="The server refused it" data-testid="bulk-error">{error}</Alert>}
              <Group>
                <Button type="submit" loading={busy && !preview} disabled={!target} data-testid="bulk-preview">Preview (dry run)</Button>
              </Group>
            </Stack>
          </form>
          {preview && (
            <Stack gap="sm" mt="md" component="section" aria-labelledby="bulk-preview-title">
              <Title order={3} size="h5" id="bulk-preview-title">Preview: {bulkActionLabel[form.action]} — {pt.would} would run, {pt.failed} would fail</Title>
              <ItemsTable items={previewItems} caption="What would happen to each collector" />
              <Group align="flex-end" gap="md">
                <Select label="When" data={[{ value: 'now', label: 'Now' }, { value: 'later', label: 'At a date and time' }]} value={when}
                  onChange={(v) => setWhen((v as 'now' | 'later') ?? 'now')} allowDeselect={false} w={200} data-testid="bulk-when" />
                {when === 'later' && <TextInput type="datetime-local" label="Run at (your local time)" value={at} onChange={(e) => setAt(e.currentTarget.value)} w={240} data-testid="bulk-at" />}
                {form.action === 'unregister' && (
                  <Checkbox label={`Yes, unregister ${pt.would} collectors`} checked={confirmUnregister} onChange={(e) => setConfirmUnregister(e.currentTarget.checked)} />
                )}
                <Button color={form.action === 'unregister' ? 'red' : undefined} onClick={() => void send('run')} loading={busy}
                  disabled={pt.would === 0 || (form.action === 'unregister' && !confirmUnregister)} data-testid="bulk-run">
                  {when === 'now' ? `Execute on ${pt.would} now` : `Schedule for ${pt.would}`}
                </Button>
              </Group>
            </Stack>
          )}
        </Paper>
      )}
      <OperationsList />
    </Stack>
  );
}

function stateColor(s: string) {
  return s === 'done' ? 'teal' : s === 'failed' ? 'red' : s === 'cancelled' ? 'gray' : s === 'scheduled' ? 'indigo' : 'yellow';
}

function OperationsList() {
  const { isViewerOnly } = useAuth();
  const [ops, setOps] = useState<BulkResult[] | null>(null);
  const [error, setError] = useState('');
  const [msg, setMsg] = useState('');
  const load = useCallback(() => {
    get<{ data: BulkResult[] }>('/bulk-actions').then((l) => { setOps(l.data); setError(''); }, (e: unknown) => setError(errText(e)));
  }, []);
  useEffect(() => { load(); const t = setInterval(load, 5000); return () => clearInterval(t); }, [load]);
  const cancel = async (id: string) => {
    setMsg('');
    try {
      await request('POST', `/bulk-actions/${encodeURIComponent(id)}/cancel`);
      setMsg(`Operation ${id} cancelled.`);
      load();
    } catch (e) {
      setError(errText(e));
    }
  };
  const scheduled = (ops ?? []).filter((o) => o.state === 'scheduled');
  const rest = (ops ?? []).filter((o) => o.state !== 'scheduled');
  const table = (list: BulkResult[], caption: string, withCancel: boolean, testid: string) => (
    <div className="table-scroll">
      <Table striped aria-label={caption} data-testid={testid}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Operation</Table.Th><Table.Th scope="col">Action</Table.Th><Table.Th scope="col">State</Table.Th>
            <Table.Th scope="col">{withCancel ? 'Runs at' : 'Created'}</Table.Th><Table.Th scope="col">By</Table.Th><Table.Th scope="col">Collectors</Table.Th>
            {withCancel && !isViewerOnly && <Table.Th scope="col"><span className="sr-only">Cancel</span></Table.Th>}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {list.map((o) => (
            <Table.Tr key={o.id} data-testid={`op-${o.id}`}>
              <Table.Td><Link className="name-link mono" to={`/bulk/${encodeURIComponent(o.id)}`}>{o.id}</Link></Table.Td>
              <Table.Td>{bulkActionLabel[o.action as BulkAction] ?? o.action}</Table.Td>
              <Table.Td><Badge color={stateColor(o.state)} variant="light">{o.state}</Badge></Table.Td>
              <Table.Td>{formatTime(withCancel ? o.schedule_at : o.created_at)}</Table.Td>
              <Table.Td>{o.created_by}</Table.Td>
              <Table.Td>{o.total ? `${o.succeeded}/${o.total} ok, ${o.failed} failed` : (o.request?.collector_ids?.length ?? o.request?.selector ?? '—')}</Table.Td>
              {withCancel && !isViewerOnly && <Table.Td><Button size="compact-xs" color="red" variant="light" onClick={() => void cancel(o.id)} aria-label={`Cancel operation ${o.id}`}>Cancel</Button></Table.Td>}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
  return (
    <Stack gap="sm" component="section" aria-labelledby="bulk-ops">
      <Title order={2} size="h4" id="bulk-ops">Scheduled operations</Title>
      {error && <Alert color="red" role="alert">{error}</Alert>}
      {msg && <Text size="sm" role="status">{msg}</Text>}
      {ops == null ? <Loader size="sm" aria-label="Loading" /> : scheduled.length ? table(scheduled, 'Scheduled operations', true, 'bulk-scheduled') : <Text size="sm" c="dimmed">None scheduled.</Text>}
      <Title order={2} size="h4">Recent operations</Title>
      {ops != null && (rest.length ? table(rest.slice(0, 50), 'Recent operations', false, 'bulk-recent') : <Text size="sm" c="dimmed">None yet.</Text>)}
    </Stack>
  );
}

/** One operation, its items arriving live. */
export function BulkOperationPage() {
  const { id = '' } = useParams();
  const { live, isViewerOnly } = useAuth();
  const [res, setRes] = useState<BulkResult | null>(null);
  const [cmds, setCmds] = useState(new Map<string, Pick<Command, 'id' | 'state' | 'error'>>());
  const [error, setError] = useState('');
  const items = useMemo(() => (res ? mergeItems(res, cmds) : []), [res, cmds]);
  const liveOp = res ? isLive(res, items) : true;

  const load = useCallback(async () => {
    try {
      const r = await get<BulkResult>(`/bulk-actions/${encodeURIComponent(id)}`);
      setRes(r);
      if (r.state !== 'scheduled' && r.state !== 'cancelled') {
        const l = await get<{ data: Command[] }>(`/commands${qs({ bulk_id: id, limit: 1000 })}`);
        setCmds(new Map(l.data.map((c) => [c.id, c])));
      }
      setError('');
    } catch (e) {
      setError(errText(e));
    }
  }, [id]);

  useEffect(() => { void load(); }, [load]);
  // A poll while anything may change, for when the socket is down or an event was missed.
  useEffect(() => {
    if (!liveOp) return;
    const t = setInterval(() => void load(), 2000);
    return () => clearInterval(t);
  }, [liveOp, load]);
  useEffect(() => {
    if (!live) return;
    return live.onBatch((events) => {
      const upd = events.filter((e) => e.type === 'command:updated' && (e.data as Command | undefined)?.bulk_id === id).map((e) => e.data as Command);
      if (!upd.length) return;
      setCmds((m) => {
        const n = new Map(m);
        for (const c of upd) {
          const cur = n.get(c.id);
          if (!cur || !isTerminal(cur.state)) n.set(c.id, c);
        }
        return n;
      });
    });
  }, [live, id]);

  const cancel = async () => {
    try {
      setRes(await (await request<BulkResult>('POST', `/bulk-actions/${encodeURIComponent(id)}/cancel`)).body);
    } catch (e) {
      setError(errText(e));
    }
  };

  const t = tally(items);
  return (
    <Stack gap="md">
      <Text size="sm"><Link to="/bulk">← Bulk operations</Link></Text>
      <Title order={1} size="h2">Bulk operation <span className="mono">{id}</span></Title>
      {error && <Alert color="red" role="alert" title="Cannot read the operation">{error}</Alert>}
      {!res ? (!error && <Loader aria-label="Loading" />) : (
        <>
          <Paper withBorder p="md">
            <Group gap="xl" wrap="wrap">
              <Text size="sm"><b>Action:</b> {bulkActionLabel[res.action as BulkAction] ?? res.action}</Text>
              <Text size="sm"><b>State:</b> <Badge color={stateColor(res.state)} variant="light" data-testid="op-state">{res.state}</Badge></Text>
              <Text size="sm"><b>By:</b> {res.created_by}</Text>
              <Text size="sm"><b>Created:</b> {formatTime(res.created_at)}</Text>
              {res.schedule_at && <Text size="sm"><b>Scheduled for:</b> {formatTime(res.schedule_at)}</Text>}
              {res.finished_at && <Text size="sm"><b>Finished:</b> {formatTime(res.finished_at)}</Text>}
              {res.request?.reason && <Text size="sm"><b>Reason:</b> {res.request.reason}</Text>}
              {res.request?.selector && <Text size="sm"><b>Selector:</b> <Code>{res.request.selector}</Code></Text>}
            </Group>
            {res.error && <Alert color="red" mt="sm">{res.error}</Alert>}
            {res.state === 'scheduled' && !isViewerOnly && (
              <Button mt="sm" color="red" variant="light" onClick={() => void cancel()} data-testid="op-cancel">Cancel this operation</Button>
            )}
          </Paper>
          {items.length > 0 && (
            <Stack gap={4} aria-live="polite">
              <Text size="sm" data-testid="op-tally">{t.done} done · {t.failed} failed · {t.waiting} in progress · of {t.total}</Text>
              <Progress.Root size="lg">
                <Progress.Section value={(100 * t.done) / t.total} color="teal" aria-label="Done" />
                <Progress.Section value={(100 * t.failed) / t.total} color="red" aria-label="Failed" />
                <Progress.Section value={(100 * t.waiting) / t.total} color="yellow" animated={t.waiting > 0} aria-label="In progress" />
              </Progress.Root>
            </Stack>
          )}
          {items.length > 0 ? <ItemsTable items={items} caption="Each collector's outcome" />
            : <Text size="sm" c="dimmed">{res.state === 'scheduled' ? 'The collectors are chosen when it runs.' : 'No items.'}</Text>}
        </>
      )}
    </Stack>
  );
}
