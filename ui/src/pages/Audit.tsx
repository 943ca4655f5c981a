// The audit trail: every act, newest first, filtered by collector, actor,
// action, result and time (all in the URL), paged, and exported by the server
// as CSV or JSON.
import { Alert, Badge, Button, Group, Loader, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ApiError, get } from '../api';
import { AUDIT_FIELDS, AUDIT_PAGE, actorText, auditExportHref, auditPagePath, paramsText, parseAuditQuery, serializeAuditQuery, showingText, type AuditQuery } from '../auditState';
import { formatTime } from '../format';
import type { AuditRow } from '../types';

interface AuditPage { data: (AuditRow & { target?: string; bulk_id?: string })[]; total: number }

const fieldLabel: Record<(typeof AUDIT_FIELDS)[number], { label: string; placeholder: string }> = {
  collector: { label: 'Collector', placeholder: 'sim-0001' },
  actor: { label: 'Actor', placeholder: 'admin' },
  action: { label: 'Action', placeholder: 'restart, bulk-stop, login…' },
  result: { label: 'Result', placeholder: 'success, failed, pending…' },
  target: { label: 'Target (people)', placeholder: 'ana, org:acme' },
  since: { label: 'Since', placeholder: '1h, 2026-12-01T10:00:00Z' },
  until: { label: 'Until', placeholder: 'now, RFC 3339' },
};

function resultColor(r: string | undefined) {
  if (!r) return 'gray';
  if (/^(success|ok|confirmed|acknowledged|done)$/.test(r)) return 'teal';
  if (/fail|error|expired|denied|refused/.test(r)) return 'red';
  return 'yellow';
}

export function AuditPage() {
  const [sp, setSp] = useSearchParams();
  const q = parseAuditQuery(sp);
  const [draft, setDraft] = useState<AuditQuery>(q);
  const [page, setPage] = useState<AuditPage | null>(null);
  const [error, setError] = useState('');
  const key = sp.toString();

  useEffect(() => setDraft(parseAuditQuery(sp)), [key]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    const ctl = new AbortController();
    setError('');
    get<AuditPage>(auditPagePath(parseAuditQuery(sp)), ctl.signal).then(setPage, (e: unknown) => {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      setPage(null);
      setError(e instanceof ApiError ? e.full : String(e));
    });
    return () => ctl.abort();
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setSp(serializeAuditQuery({ ...draft, page: 1 }));
  };
  const pages = page ? Math.max(1, Math.ceil(page.total / AUDIT_PAGE)) : 1;
  const goto = (p: number) => setSp(serializeAuditQuery({ ...q, page: p }));

  return (
    <Stack gap="md">
      <Title order={1} size="h2">Audit trail</Title>
      <Paper withBorder p="sm" component="section" aria-label="Filters">
        <form onSubmit={apply}>
          <Group gap="xs" align="flex-end" wrap="wrap">
            {AUDIT_FIELDS.map((f) => (
              <TextInput key={f} label={fieldLabel[f].label} placeholder={fieldLabel[f].placeholder} value={draft[f]} name={f}
                onChange={(e) => { const v = e.currentTarget.value; setDraft((d) => ({ ...d, [f]: v })); }} w={f === 'since' ? 190 : f === 'until' || f === 'action' ? 160 : 130} />
            ))}
            <Button type="submit" data-testid="audit-apply">Apply</Button>
            <Button variant="default" onClick={() => setSp(new URLSearchParams())}>Clear</Button>
          </Group>
        </form>
      </Paper>
      <Group justify="space-between">
        <Text size="sm" aria-live="polite" data-testid="audit-showing">{page ? showingText(q.page, page.data.length, page.total) : ''}</Text>
        <Group gap="xs">
          <Button component="a" href={auditExportHref(q, 'csv')} download variant="default" size="compact-sm" data-testid="audit-csv">Export CSV</Button>
          <Button component="a" href={auditExportHref(q, 'json')} download variant="default" size="compact-sm" data-testid="audit-json">Export JSON</Button>
        </Group>
      </Group>
      {error && <Alert color="red" role="alert" title="Cannot read the audit trail" data-testid="audit-error">{error}</Alert>}
      {!page && !error && <Loader aria-label="Loading" />}
      {page && (
        <div className="table-scroll">
          <Table striped highlightOnHover aria-label="Audit rows" data-testid="audit-table">
            <Table.Thead>
              <Table.Tr>
                {['Time', 'Actor', 'Action', 'Collector / target', 'Result', 'Reason', 'Parameters', 'From'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {page.data.map((r) => (
                <Table.Tr key={r.id} data-testid="audit-row" data-action={r.action} data-collector={r.collector ?? ''}>
                  <Table.Td className="nowrap">{formatTime(r.at)}</Table.Td>
                  <Table.Td>{actorText(r)}</Table.Td>
                  <Table.Td className="mono">{r.action}</Table.Td>
                  <Table.Td>
                    {r.collector ? <Link className="name-link" to={`/collectors/${encodeURIComponent(r.collector)}`}>{r.collector}</Link> : (r.target ?? '')}
                    {r.bulk_id && <Text size="xs"><Link to={`/bulk/${encodeURIComponent(r.bulk_id)}`}>bulk {r.bulk_id}</Link></Text>}
                  </Table.Td>
                  <Table.Td><Badge color={resultColor(r.result)} variant="light">{r.result || '—'}</Badge>{r.error && <Text size="xs" className="error-text">{r.error}</Text>}</Table.Td>
                  <Table.Td><Text size="sm">{r.reason}</Text></Table.Td>
                  <Table.Td><Text size="xs" className="mono wrap-anywhere">{paramsText(r.params)}</Text></Table.Td>
                  <Table.Td><Text size="xs">{r.remote}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
      {page && pages > 1 && (
        <Group gap="xs" component="nav" aria-label="Pages">
          <Button size="compact-sm" variant="default" disabled={q.page <= 1} onClick={() => goto(q.page - 1)}>Newer</Button>
          <Text size="sm">Page {q.page} of {pages}</Text>
          <Button size="compact-sm" variant="default" disabled={q.page >= pages} onClick={() => goto(q.page + 1)}>Older</Button>
        </Group>
      )}
    </Stack>
  );
}
