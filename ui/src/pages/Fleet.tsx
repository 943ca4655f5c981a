import { Alert, Badge, Button, Checkbox, Group, Menu, MultiSelect, Paper, Select, SimpleGrid, Stack, TagsInput, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { flexRender, getCoreRowModel, useReactTable, type ColumnDef, type Row, type RowSelectionState, type Table } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ApiError, get, qs } from '../api';
import { useAuth, useNow } from '../auth';
import { statusLook } from '../components/badges';
import { RowCompleteness, RowFreshness, RowLastSeen, RowStatus, TableTip } from '../components/rowCells';
import { CommandDialog, type Action } from '../dialogs/CommandDialog';
import { FleetLifecycle as FleetLifecycleButtons } from '../dialogs/FleetLifecycle';
import { RowLifecycleDialog, type RowLifecycle } from '../dialogs/LifecycleActions';
import { BulkLinks } from './Bulk';
import { buildList, FleetRows, parseQuery, serializeQuery, serverParams, summarize, withOriginal, type FleetQuery, type ListItem } from '../fleetState';
import { ageSeconds, formatAge, formatBytes, formatDuration, formatNumber, formatPercent } from '../format';
import type { Collector, CollectorDetail, CollectorList } from '../types';
import { STATUSES } from '../types';

/** Every page of GET /collectors for the query (the API pages at 1000). */
async function fetchAll(q: FleetQuery, signal: AbortSignal): Promise<Collector[]> {
  const params = serverParams(q);
  const first = await get<CollectorList>(`/collectors${qs({ ...params, limit: 1000, page: 1 })}`, signal);
  const pages = Math.max(1, first.total_pages || Math.ceil(first.total / 1000));
  const rest = await Promise.all(
    Array.from({ length: pages - 1 }, (_, i) => get<CollectorList>(`/collectors${qs({ ...params, limit: 1000, page: i + 2 })}`, signal)),
  );
  return [first, ...rest].flatMap((p) => p.data);
}

function useFleetRows(q: FleetQuery) {
  const { live } = useAuth();
  const store = useRef<FleetRows | null>(null);
  if (!store.current) store.current = new FleetRows();
  const [version, setVersion] = useState(0);
  // Bumped when the set of collectors changed (a load, one unregistered), not their fields.
  const members = useRef(0);
  const [error, setError] = useState('');
  const [loaded, setLoaded] = useState(false);
  const [updatedAt, setUpdatedAt] = useState(0);
  const key = serializeQuery({ ...q, sort: 'status', groupBy: '', group: '', tag: [] }).toString();
  const reloadRef = useRef<() => void>(() => {});

  useEffect(() => {
    const rows = store.current!;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | null = null;
    // One load at a time: asking for one while it runs (a resync, an unknown
    // collector in an event, the periodic refresh) loads once more after it.
    let inFlight = false;
    let again = false;
    const load = () => {
      if (inFlight) { again = true; return; }
      inFlight = true;
      rows.begin();
      fetchAll(q, ctl.signal)
        .then((list) => {
          const { membersChanged, reload } = rows.finish(list);
          // The periodic refresh usually brings the same collectors with new
          // figures: only a changed set rebuilds the table's rows (10,000 objects).
          if (membersChanged) members.current++;
          if (reload) again = true;
          setError('');
          setLoaded(true);
          setUpdatedAt(Date.now());
          setVersion((v) => v + 1);
        })
        .catch((e: unknown) => {
          rows.cancel();
          if (e instanceof DOMException && e.name === 'AbortError') return;
          setError(e instanceof ApiError ? e.full : String(e));
        })
        .finally(() => {
          inFlight = false;
          if (again && !ctl.signal.aborted) { again = false; reloadRef.current(); }
        });
    };
    reloadRef.current = () => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; load(); }, 300);
    };
    load();
    const periodic = setInterval(load, 30_000); // CPU, memory, items, completeness are not in the events
    return () => { ctl.abort(); rows.cancel(); clearInterval(periodic); if (timer) clearTimeout(timer); };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(() => {
    if (!live) return;
    // Rows change at once (one batch per animation frame); the sorted, grouped
    // list is rebuilt at most every 250 ms, so a burst of events over 10,000 rows
    // does not re-sort them on every frame.
    let pending: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const bump = () => {
      pending = null;
      last = Date.now();
      setVersion((v) => v + 1);
      setUpdatedAt(last);
    };
    const offBatch = live.onBatch((events) => {
      const { changed, reload, removed } = store.current!.apply(events);
      if (removed) members.current++;
      if (changed && !pending) pending = setTimeout(bump, Math.max(0, 250 - (Date.now() - last)));
      if (reload) reloadRef.current();
    });
    const offResync = live.onResync(() => reloadRef.current());
    return () => { offBatch(); offResync(); if (pending) clearTimeout(pending); };
  }, [live]);

  return { rows: store.current.rows, version, members: members.current, error, loaded, updatedAt };
}

const SummaryStats = memo(function SummaryStats({ rows, version, updatedAt }: { rows: Map<string, Collector>; version: number; updatedAt: number }) {
  const now = useNow(1000);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const s = useMemo(() => summarize(rows.values()), [rows, version]);
  const online = s.byStatus['online'] ?? 0;
  const offline = s.byStatus['offline'] ?? 0;
  return (
    <Paper withBorder p="sm" aria-label="Summary statistics" component="section">
      <SimpleGrid cols={{ base: 2, sm: 5 }} spacing="sm">
        <Stat label="Total collectors" value={formatNumber(s.total)} testid="stat-total" />
        <Stat label="Online ✓" value={formatNumber(online)} color="teal" testid="stat-online" />
        <Stat label="Offline ✗" value={formatNumber(offline)} color="red" testid="stat-offline" />
        <Stat label="Items collected" value={formatNumber(s.items)} testid="stat-items" />
        <Stat label="Last updated" value={updatedAt ? `${formatAge(ageSeconds(new Date(updatedAt).toISOString(), now))} ago` : '—'} testid="stat-updated" />
      </SimpleGrid>
      <Group gap={6} mt="xs" aria-label="Count per status">
        {STATUSES.filter((st) => s.byStatus[st]).map((st) => (
          <Badge key={st} color={statusLook[st].color} variant="light" data-testid={`count-${st}`}>{statusLook[st].label}: {s.byStatus[st]}</Badge>
        ))}
      </Group>
    </Paper>
  );
});

function Stat({ label, value, color, testid }: { label: string; value: string; color?: string; testid: string }) {
  return (
    <div>
      <Text size="xs" c="dimmed">{label}</Text>
      <Text size="xl" fw={700} c={color} data-testid={testid}>{value}</Text>
    </div>
  );
}

// Memoised: Mantine's inputs cost a render, and the page renders up to 4 times a
// second under live events.
const Filters = memo(function Filters({ q, setQuery }: { q: FleetQuery; setQuery: (p: Partial<FleetQuery>) => void }) {
  const [text, setText] = useState(q.q);
  useEffect(() => setText(q.q), [q.q]);
  useEffect(() => {
    if (text === q.q) return;
    const t = setTimeout(() => setQuery({ q: text }), 250);
    return () => clearTimeout(t);
  }, [text, q.q, setQuery]);
  return (
    <Stack gap="xs" component="section" aria-label="Search and filters">
      <Group gap="xs" align="flex-end" wrap="wrap">
        <TextInput label="Search" placeholder="Search collectors…" value={text} onChange={(e) => setText(e.currentTarget.value)} w={240} type="search" />
        <MultiSelect label="Status" placeholder={q.status.length ? '' : 'Any'} data={STATUSES.map((s) => ({ value: s, label: statusLook[s].label }))}
          value={q.status} onChange={(v) => setQuery({ status: v as FleetQuery['status'] })} w={220} clearable />
        <FilterText label="Org" value={q.org} onChange={(org) => setQuery({ org })} />
        <FilterText label="Team" value={q.team} onChange={(team) => setQuery({ team })} />
        <FilterText label="Job" value={q.job} onChange={(job) => setQuery({ job })} />
        <FilterText label="Group" value={q.group} onChange={(group) => setQuery({ group })} />
        <TagsInput label="Tags" placeholder="tag, Enter" value={q.tag} onChange={(tag) => setQuery({ tag })} w={180} />
        <TagsInput label="Label matchers" placeholder='env=prod, team!~a.*' value={q.label} onChange={(label) => setQuery({ label })} w={220} />
        <Select label="Group by" data={[{ value: '', label: 'None' }, { value: 'status', label: 'Status' }, { value: 'job', label: 'Job' }, { value: 'team', label: 'Team' }, { value: 'group', label: 'Group' }]}
          value={q.groupBy} onChange={(v) => setQuery({ groupBy: (v ?? '') as FleetQuery['groupBy'] })} w={120} allowDeselect={false} />
      </Group>
    </Stack>
  );
});

function FilterText({ label, value, onChange }: { label: string; value: string; onChange: (v: string) => void }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  return (
    <TextInput label={label} value={v} w={110} onChange={(e) => setV(e.currentTarget.value)}
      onBlur={() => v !== value && onChange(v.trim())} onKeyDown={(e) => { if (e.key === 'Enter') onChange(v.trim()); }} />
  );
}

const SORTABLE: Record<string, string> = {
  id: 'id', status: 'status', last_seen: 'last_seen', freshness: 'freshness', completeness: 'completeness_1h',
  group: 'group', items: 'items', cpu: 'cpu', memory: 'memory',
};

interface RowCtx {
  canAct: (c: Collector) => boolean;
  openDialog: (a: Action, id: string) => void;
  openLifecycle: (kind: RowLifecycle, c: Collector) => void;
  expanded: Set<string>;
  toggleExpand: (id: string) => void;
}

const numeric = new Set(['items']);

// Fixed column widths (the name takes the rest): with table-layout: fixed the
// browser lays out the rows in view alone, not every column again for each row
// that scrolls in, and columns do not change width as rows come and go.
const COL_WIDTH: Record<string, number | undefined> = {
  select: 40, status: 130, last_seen: 112, freshness: 172, completeness: 168, group: 150, items: 84, cpu: 72, memory: 96, actions: 92,
};

// The row cells are plain elements (components/rowCells.tsx): see there why.
function columns(): ColumnDef<Collector>[] {
  return [
    {
      id: 'select', size: 40,
      header: ({ table }) => (
        <Checkbox aria-label="Select all shown" checked={table.getIsAllRowsSelected()} indeterminate={table.getIsSomeRowsSelected()}
          onChange={table.getToggleAllRowsSelectedHandler()} />
      ),
      cell: ({ row }) => <input type="checkbox" className="row-check" aria-label={`Select ${row.original.id}`} checked={row.getIsSelected()} onChange={row.getToggleSelectedHandler()} />,
    },
    {
      id: 'id', header: 'Name',
      cell: ({ row, table }) => {
        const ctx = table.options.meta as RowCtx;
        const open = ctx.expanded.has(row.original.id);
        return (
          <span className="row-name">
            <button type="button" className="row-icon" aria-expanded={open} aria-label={`${open ? 'Collapse' : 'Expand'} ${row.original.id}`} onClick={() => ctx.toggleExpand(row.original.id)}>
              <span aria-hidden="true">{open ? '▾' : '▸'}</span>
            </button>
            <Link className="name-link" to={`/collectors/${encodeURIComponent(row.original.id)}`}>{row.original.id}</Link>
          </span>
        );
      },
    },
    { id: 'status', header: 'Status', cell: ({ row }) => <RowStatus status={row.original.status} reason={row.original.reason} /> },
    { id: 'last_seen', header: 'Last seen', cell: ({ row }) => <RowLastSeen lastSeen={row.original.last_seen} /> },
    { id: 'freshness', header: 'Freshness', cell: ({ row }) => <RowFreshness freshness={row.original.freshness_seconds} status={row.original.status} /> },
    {
      id: 'completeness', header: 'Complete 1h / 24h',
      cell: ({ row }) => <span className="row-name"><RowCompleteness value={row.original.completeness_1h} label="1h" /><RowCompleteness value={row.original.completeness_24h} label="24h" /></span>,
    },
    { id: 'group', header: 'Group / team', cell: ({ row }) => <>{row.original.group || '—'}{row.original.team ? ` / ${row.original.team}` : ''}</> },
    { id: 'items', header: 'Items', cell: ({ row }) => formatNumber(row.original.items_collected) },
    { id: 'cpu', header: 'CPU', cell: ({ row }) => formatPercent(row.original.cpu) },
    { id: 'memory', header: 'Memory', cell: ({ row }) => formatBytes(row.original.memory_bytes) },
    {
      id: 'actions', header: () => <VisuallyHidden>Actions</VisuallyHidden>,
      cell: ({ row, table }) => <RowMenu c={row.original} ctx={table.options.meta as RowCtx} />,
    },
  ];
}

/**
 * A row's actions menu: a plain button until first used, then Mantine's Menu
 * (opened at once), so the 60 rows in view do not each mount a Menu.
 */
function RowMenu({ c, ctx }: { c: Collector; ctx: RowCtx }) {
  const [mounted, setMounted] = useState(false);
  const [opened, setOpened] = useState(false);
  const button = (onClick?: () => void) => (
    <button type="button" className="row-menu" aria-label={`Menu for ${c.id}`} aria-haspopup="menu" onClick={onClick}>
      <span aria-hidden="true">▾&nbsp;</span>Menu
    </button>
  );
  if (!mounted) return button(() => { setMounted(true); setOpened(true); });
  const act = ctx.canAct(c);
  return (
    <Menu position="bottom-end" withinPortal opened={opened} onChange={setOpened} withInitialFocusPlaceholder={false}>
      <Menu.Target>{button()}</Menu.Target>
      <Menu.Dropdown>
        <Menu.Item component={Link} to={`/collectors/${encodeURIComponent(c.id)}`}>View details</Menu.Item>
        {act && (
          <>
            <Menu.Divider role="separator" />
            {c.status === 'paused'
              ? <Menu.Item onClick={() => ctx.openDialog('resume', c.id)}>Resume</Menu.Item>
              : <Menu.Item onClick={() => ctx.openDialog('stop', c.id)}>Stop</Menu.Item>}
            <Menu.Item onClick={() => ctx.openDialog('restart', c.id)}>Restart</Menu.Item>
            <Menu.Item onClick={() => ctx.openDialog('collect', c.id)}>Collect now</Menu.Item>
            <Menu.Item onClick={() => ctx.openDialog('test-connection', c.id)}>Test connection</Menu.Item>
            <Menu.Item onClick={() => ctx.openDialog('backfill', c.id)}>Backfill…</Menu.Item>
          </>
        )}
        <Menu.Divider role="separator" />
        <Menu.Item component={Link} to={`/collectors/${encodeURIComponent(c.id)}/logs`}>View Logs</Menu.Item>
        {act && (
          <>
            <Menu.Item onClick={() => ctx.openLifecycle('config', c)}>Edit Configuration…</Menu.Item>
            <Menu.Item onClick={() => ctx.openLifecycle('rotate', c)}>Rotate Credentials…</Menu.Item>
            <Menu.Item color="red.9" onClick={() => ctx.openLifecycle('unregister', c)}>Unregister…</Menu.Item>
          </>
        )}
      </Menu.Dropdown>
    </Menu>
  );
}

function ExpandedRow({ id }: { id: string }) {
  const [d, setD] = useState<CollectorDetail | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    get<CollectorDetail>(`/collectors/${encodeURIComponent(id)}`).then(setD).catch((e: unknown) => setErr(e instanceof ApiError ? e.full : String(e)));
  }, [id]);
  if (err) return <Text c="red" size="sm">{err}</Text>;
  if (!d) return <Text size="sm" c="dimmed">Loading…</Text>;
  const c = d.collection;
  const success = c.succeeded + c.failed > 0 ? c.succeeded / (c.succeeded + c.failed) : null;
  return (
    <Group gap="xl" data-testid={`expanded-${id}`}>
      <Text size="sm"><b>Host:</b> {d.instance || d.url}</Text>
      <Text size="sm"><b>Uptime:</b> {d.uptime_seconds != null ? formatAge(d.uptime_seconds) : '—'} · success {formatPercent(success)}</Text>
      <Text size="sm"><b>Last heartbeat:</b> {d.last_seen ? `${formatAge(ageSeconds(d.last_seen, Date.now()))} ago` : 'never'}</Text>
      <Text size="sm"><b>Avg collection time:</b> {formatDuration(c.mean_duration_seconds)}</Text>
      <Text size="sm"><b>Last error:</b> {d.last_error || d.collection_error || 'none'}</Text>
    </Group>
  );
}

/**
 * One collector's row, rendered again only when its collector, selection or
 * expansion changed — not on every scroll frame, nor to age its last-seen badge
 * (that badge ticks on its own).
 */
const FleetRow = memo(function FleetRow({ row, c, index, measure, selected }: {
  row: Row<Collector>; c: Collector; index: number; measure: (el: Element | null) => void; selected: boolean; expanded: boolean; meta: RowCtx;
}) {
  // The table's row may hold an older copy of the collector (see members in
  // FleetPage): the cells render c, the current one.
  const current = withOriginal(row, c);
  return (
    <tr ref={measure} data-index={index} className={selected ? 'selected' : undefined} data-testid={`row-${c.id}`} data-status={c.status}>
      {row.getVisibleCells().map((cell) => {
        const ctx = cell.getContext();
        return <td key={cell.id} className={numeric.has(cell.column.id) ? 'num' : undefined}>{flexRender(cell.column.columnDef.cell, current === row ? ctx : { ...ctx, row: current })}</td>;
      })}
    </tr>
  );
});

// The page's header and bulk links, rendered again only when their props change.
const FleetLifecycle = memo(FleetLifecycleButtons);
const BulkLinksMemo = memo(BulkLinks);

type VItem = ListItem | { kind: 'detail'; id: string };

const itemKey = (it: VItem) => (it.kind === 'row' ? it.row.id : it.kind === 'group' ? `g:${it.key}` : `d:${it.id}`);

/**
 * The scrolled, virtualised table. Its own component, so that a scroll step
 * (the virtualiser renders the component that holds it, synchronously) renders
 * the rows coming into view and not the filters, the summary and the rest of
 * the page.
 */
const FleetTable = memo(function FleetTable({ vitems, table, byId, selection, expanded, meta, sort, sortBy, shown, loaded }: {
  vitems: VItem[]; table: Table<Collector>; byId: Record<string, Row<Collector>>; selection: RowSelectionState; expanded: Set<string>;
  meta: RowCtx; sort: string; sortBy: (col: string) => void; shown: number; loaded: boolean;
}) {
  void selection; // a change of selection renders the header's and rows' checkboxes again
  const scrollRef = useRef<HTMLDivElement>(null);
  // Stable callbacks: the virtualizer recomputes every item's measurement (all
  // 10,000) when they change. They change only when the sequence of items does
  // (a re-sort, a filter, a row expanded), not when live events change fields.
  const itemsRef = useRef(vitems);
  itemsRef.current = vitems;
  const layout = useMemo(() => vitems.map(itemKey).join('\n'), [vitems]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const estimateSize = useCallback((i: number) => (itemsRef.current[i]?.kind === 'detail' ? 64 : 41), [layout]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const getItemKey = useCallback((i: number) => itemKey(itemsRef.current[i]!), [layout]);
  const getScrollElement = useCallback(() => scrollRef.current, []);
  const virt = useVirtualizer({ count: vitems.length, getScrollElement, estimateSize, overscan: 10, getItemKey });
  const vr = virt.getVirtualItems();
  const padTop = vr.length ? vr[0]!.start : 0;
  const padBottom = vr.length ? virt.getTotalSize() - vr[vr.length - 1]!.end : 0;
  const headers = table.getHeaderGroups()[0]!.headers;
  const ariaSort = (col: string): 'ascending' | 'descending' | 'none' => {
    const key = SORTABLE[col];
    if (!key) return 'none';
    return sort === key ? 'ascending' : sort === `-${key}` ? 'descending' : 'none';
  };
  return (
    <div ref={scrollRef} className="fleet-scroll" style={{ height: 'calc(100vh - 330px)', minHeight: 320 }} data-testid="fleet-scroll" tabIndex={-1}>
      <table className="fleet-table" aria-label="Collectors" aria-rowcount={shown + 1}>
        <colgroup>{headers.map((h) => <col key={h.id} style={{ width: COL_WIDTH[h.id] }} />)}</colgroup>
        <thead>
          <tr>
            {headers.map((h) => (
              <th key={h.id} scope="col" aria-sort={SORTABLE[h.id] ? ariaSort(h.id) : undefined}>
                {SORTABLE[h.id] ? (
                  <button type="button" className="sort-button" onClick={() => sortBy(h.id)} data-testid={`sort-${h.id}`}>
                    {flexRender(h.column.columnDef.header, h.getContext())}
                    <span aria-hidden="true">{ariaSort(h.id) === 'ascending' ? '▲' : ariaSort(h.id) === 'descending' ? '▼' : '↕'}</span>
                  </button>
                ) : flexRender(h.column.columnDef.header, h.getContext())}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {padTop > 0 && <tr aria-hidden="true"><td colSpan={headers.length} style={{ height: padTop, padding: 0, border: 0 }} /></tr>}
          {vr.map((v) => {
            const it = vitems[v.index]!;
            if (it.kind === 'group') {
              return (
                <tr key={v.key} ref={virt.measureElement} data-index={v.index} className="group-row">
                  <td colSpan={headers.length}>{it.key} ({it.count})</td>
                </tr>
              );
            }
            if (it.kind === 'detail') {
              return (
                <tr key={v.key} ref={virt.measureElement} data-index={v.index} className="expanded-row">
                  <td colSpan={headers.length}><ExpandedRow id={it.id} /></td>
                </tr>
              );
            }
            const row = byId[it.row.id];
            if (!row) return null;
            return <FleetRow key={v.key} row={row} c={it.row} index={v.index} measure={virt.measureElement} selected={row.getIsSelected()} expanded={expanded.has(it.row.id)} meta={meta} />;
          })}
          {padBottom > 0 && <tr aria-hidden="true"><td colSpan={headers.length} style={{ height: padBottom, padding: 0, border: 0 }} /></tr>}
        </tbody>
      </table>
      {loaded && shown === 0 && <Text p="md" c="dimmed">No collector matches these filters.</Text>}
      <TableTip container={scrollRef} />
    </div>
  );
});

export function FleetPage() {
  const [sp, setSp] = useSearchParams();
  const q = useMemo(() => parseQuery(sp), [sp]);
  const setQuery = useCallback((p: Partial<FleetQuery>) => {
    setSp((cur) => serializeQuery({ ...parseQuery(cur), ...p }), { replace: false });
  }, [setSp]);
  const { rows, version, members, error, loaded, updatedAt } = useFleetRows(q);
  const { canAct } = useAuth();
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<{ action: Action; id: string } | null>(null);
  const [lifecycle, setLifecycle] = useState<{ kind: RowLifecycle; c: Collector } | null>(null);

  // eslint-disable-next-line react-hooks/exhaustive-deps
  const list = useMemo(() => buildList([...rows.values()], q), [rows, version, q]);
  const data = useMemo(() => list.flatMap((i) => (i.kind === 'row' ? [i.row] : [])), [list]);
  // The table's rows follow who is shown, not their fields or order: live events
  // then patch the list without TanStack rebuilding a row object per collector
  // (10,000 of them, several times a second in a storm of events). Rows are
  // displayed in the list's order and render the collector the list holds.
  const tagKey = q.tag.join('\n');
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const tableData = useMemo(() => data, [members, q.group, tagKey]);
  const vitems = useMemo<VItem[]>(() => list.flatMap((i) => (i.kind === 'row' && expanded.has(i.row.id) ? [i, { kind: 'detail', id: i.row.id } as VItem] : [i])), [list, expanded]);

  const cols = useMemo(columns, []);
  const meta = useMemo<RowCtx>(() => ({
    canAct, expanded,
    openDialog: (action, id) => setDialog({ action, id }),
    openLifecycle: (kind, c) => setLifecycle({ kind, c }),
    toggleExpand: (id) => setExpanded((s) => { const n = new Set(s); if (n.has(id)) n.delete(id); else n.add(id); return n; }),
  }), [canAct, expanded]);
  const table = useReactTable({
    data: tableData, columns: cols, getRowId: (r) => r.id, getCoreRowModel: getCoreRowModel(),
    state: { rowSelection: selection }, onRowSelectionChange: setSelection, enableRowSelection: true, meta,
  });
  const byId = table.getRowModel().rowsById;
  const selectedIds = useMemo(() => Object.keys(selection).filter((k) => selection[k]), [selection]);

  const sortBy = useCallback((col: string) => {
    const key = SORTABLE[col];
    if (!key) return;
    // From the URL as it is now, so two quick clicks toggle twice.
    setSp((cur) => {
      const c = parseQuery(cur);
      return serializeQuery({ ...c, sort: c.sort === key ? `-${key}` : key });
    });
  }, [setSp]);

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Title order={1} size="h2">Collectors</Title>
        <FleetLifecycle />
      </Group>
      <Filters q={q} setQuery={setQuery} />
      <SummaryStats rows={rows} version={version} updatedAt={updatedAt} />
      {error && <Alert color="red" role="alert" title="Cannot load the collectors">{error}</Alert>}
      <Group gap="sm" aria-live="polite">
        <Text size="sm" data-testid="shown">{formatNumber(data.length)} shown</Text>
        <Text size="sm" data-testid="selected">Selected: {selectedIds.length}</Text>
        {selectedIds.length > 0 && <Button size="compact-xs" variant="subtle" onClick={() => setSelection({})}>Clear selection</Button>}
        <BulkLinksMemo selectedIds={selectedIds} matching={data.length} query={sp} />
      </Group>
      <FleetTable vitems={vitems} table={table} byId={byId} selection={selection} expanded={expanded} meta={meta}
        sort={q.sort} sortBy={sortBy} shown={data.length} loaded={loaded} />
      {dialog && <CommandDialog action={dialog.action} collectorId={dialog.id} onClose={() => setDialog(null)} />}
      {lifecycle && <RowLifecycleDialog kind={lifecycle.kind} collector={lifecycle.c} onClose={() => setLifecycle(null)} />}
    </Stack>
  );
}
