// Re-register (seed 000 §5): the archived collectors, several at once, with a new
// or the archived token and the archived data restored or discarded; each new
// token and agent config shown once.
import { Alert, Button, Checkbox, Group, Loader, Modal, Paper, Radio, ScrollArea, Stack, Text } from '@mantine/core';
import './dialogs.css';
import { useEffect, useState } from 'react';
import { ApiError, get, request } from '../api';
import { useAuth } from '../auth';
import { formatNumber, formatTime } from '../format';
import type { Archive, Registration } from './lifecycle';
import { TokenOnce } from './TokenOnce';

interface Result { archive: Archive; status?: number; message?: string; error?: string; registration?: Registration }

export function ReregisterDialog({ onClose }: { onClose: (changed: boolean) => void }) {
  const { canAct } = useAuth();
  const [list, setList] = useState<Archive[] | null>(null);
  const [loadErr, setLoadErr] = useState('');
  const [selected, setSelected] = useState<string[]>([]);
  const [newToken, setNewToken] = useState(true);
  const [restore, setRestore] = useState(true);
  const [sending, setSending] = useState(false);
  const [results, setResults] = useState<Result[] | null>(null);

  useEffect(() => {
    get<{ data: Archive[] }>('/collectors/archived')
      .then((l) => setList((l.data ?? []).filter((a) => !a.reregistered_at && canAct({ org: a.org, team: a.team ?? '' }))))
      .catch((e: unknown) => setLoadErr(e instanceof ApiError ? e.full : String(e)));
  }, [canAct]);

  async function submit() {
    if (!list) return;
    setSending(true);
    const out: Result[] = [];
    for (const a of list.filter((x) => selected.includes(x.id))) {
      try {
        const { status, body } = await request<{ message: string; registration: Registration }>('POST', '/collectors/re-register', {
          archived_collector_id: a.id, generate_new_token: newToken, restore_metrics: restore,
        });
        out.push({ archive: a, status, message: body.message, registration: body.registration });
      } catch (e) {
        out.push({ archive: a, status: e instanceof ApiError ? e.status : undefined, error: e instanceof ApiError ? e.full : String(e) });
      }
      setResults([...out]);
    }
    setSending(false);
  }

  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <Modal opened onClose={() => onClose(!!results)} title={<Text fw={700}>Re-register Collector</Text>} size="xl" closeButtonProps={{ 'aria-label': 'Close' }}>
      {results ? (
        <Stack gap="sm">
          {results.map((r) => (
            <Paper key={r.archive.id} withBorder p="sm" data-testid={`rereg-result-${r.archive.collector}`}>
              {r.error
                ? <Alert color="red" role="alert" title={`${r.status ?? ''} ${r.archive.collector}: not re-registered`}>{r.error}</Alert>
                : (
                  <Stack gap="xs">
                    <Alert color="teal" role="status" title={`${r.status} ${r.archive.collector} re-registered`}>{r.message}</Alert>
                    <TokenOnce name={r.registration?.name || r.archive.collector} token={r.registration?.scrape_token} agentConfig={r.registration?.agent_config} note={r.registration?.note} />
                  </Stack>
                )}
            </Paper>
          ))}
          {sending && <Loader size="sm" aria-label="Re-registering" />}
          <Group justify="flex-end"><Button onClick={() => onClose(true)} disabled={sending}>Done</Button></Group>
        </Stack>
      ) : (
        <Stack gap="sm">
          <Text>Select previously unregistered collectors to re-register:</Text>
          {loadErr && <Alert color="red" role="alert">{loadErr}</Alert>}
          {!list && !loadErr && <Loader size="sm" aria-label="Loading the archived collectors" />}
          {list && list.length === 0 && <Text size="sm" c="dimmed">No archived collector you may re-register.</Text>}
          {list && list.length > 0 && (
            <ScrollArea.Autosize mah={360} type="auto">
              <Stack gap="xs" role="group" aria-label="Archived collectors">
                {list.map((a) => (
                  <Paper key={a.id} withBorder p="xs" data-testid={`archived-${a.collector}`}>
                    <Checkbox checked={selected.includes(a.id)} onChange={() => toggle(a.id)} label={<Text fw={600}>{a.collector}</Text>}
                      description={
                        <span className="archive-fields">
                          <span>Unregistered: {formatTime(a.archived_at)} by {a.archived_by}</span>
                          <span>Metrics archived: {a.metrics_archived ? `${formatNumber(a.metrics_count)} records${a.retain_until ? `, until ${formatTime(a.retain_until)}` : ''}` : a.purged_at ? `deleted ${formatTime(a.purged_at)}` : 'no (deleted)'}</span>
                          <span>Source: {a.url || a.source || a.provider} ({a.provider}{a.still_discovered ? ', still discovered' : ''})</span>
                          <span>Reason: {a.reason || '—'}</span>
                        </span>
                      } />
                  </Paper>
                ))}
              </Stack>
            </ScrollArea.Autosize>
          )}
          <Paper withBorder p="sm">
            <Stack gap="sm">
              <Radio.Group label="Scrape token (registry collectors)" value={newToken ? 'new' : 'old'} onChange={(v) => setNewToken(v === 'new')}>
                <Stack gap={4} mt={4}>
                  <Radio value="new" label="Generate new token (recommended)" description="shown once; the agent needs the new configuration" />
                  <Radio value="old" label="Use archived token (not recommended)" description="an agent that kept its old configuration works again as it is" />
                </Stack>
              </Radio.Group>
              <Radio.Group label="Archived data" value={restore ? 'restore' : 'fresh'} onChange={(v) => setRestore(v === 'restore')}>
                <Stack gap={4} mt={4}>
                  <Radio value="restore" label="Restore archived metrics" />
                  <Radio value="fresh" label="Start fresh (discard archived metrics)" />
                </Stack>
              </Radio.Group>
            </Stack>
          </Paper>
          <Group justify="space-between">
            <Text size="xs" c="dimmed">You can re-register several collectors at once.</Text>
            <Group>
              <Button variant="default" onClick={() => onClose(false)}>Cancel</Button>
              <Button onClick={() => void submit()} disabled={selected.length === 0} loading={sending}>Re-register Selected{selected.length ? ` (${selected.length})` : ''}</Button>
            </Group>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}
