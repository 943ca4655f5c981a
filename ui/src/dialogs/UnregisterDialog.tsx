// Unregister (seed 000 §4): DELETE /collectors/{id} with the metrics' disposition,
// the reason from the seed's list or free text, and the name typed to delete now.
import { Alert, Button, Group, List, Modal, NumberInput, Radio, Select, Stack, Text, TextInput, Textarea } from '@mantine/core';
import './dialogs.css';
import { useState, type FormEvent } from 'react';
import { ApiError, enc, get, request } from '../api';
import { formatNumber, formatTime } from '../format';
import { UNREGISTER_REASONS, unregisterReason, type Archive } from './lifecycle';

interface Answer { success: boolean; message: string; archived_metrics_count: number; archive: Archive }

export function UnregisterDialog({ collectorId, provider, onClose }: { collectorId: string; provider: string; onClose: (unregistered: boolean) => void }) {
  const [disposition, setDisposition] = useState<'archive' | 'delete'>('archive');
  const [retention, setRetention] = useState<number | string>(90);
  const [choice, setChoice] = useState<string | null>(null);
  const [notes, setNotes] = useState('');
  const [typed, setTyped] = useState('');
  const [deleteAudit, setDeleteAudit] = useState(false);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState<{ status: number; a: Answer; confirmed?: string } | null>(null);
  const del = disposition === 'delete';
  const reason = unregisterReason(choice ?? '', notes);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError('');
    if (!reason) return setError('Give a reason: pick one or write it in the notes.');
    if (del && typed !== collectorId) return setError(`Type ${collectorId} to confirm deleting its data now.`);
    const body: Record<string, unknown> = { reason, archive_metrics: !del };
    if (!del && retention !== '') body['retention_days'] = Number(retention);
    if (deleteAudit) body['delete_audit'] = true;
    setSending(true);
    try {
      const { status, body: a } = await request<Answer>('DELETE', `/collectors/${enc(collectorId)}`, body);
      setDone({ status, a });
      // The confirmation: the collector now answers 410 unregistered.
      try {
        await get(`/collectors/${enc(collectorId)}`);
        setDone({ status, a, confirmed: 'corral still answers for it; reload to check' });
      } catch (err) {
        if (err instanceof ApiError && err.status === 410) setDone({ status, a, confirmed: `Confirmed: corral no longer scrapes ${collectorId} (GET answers 410 ${err.code}).` });
        else setDone({ status, a, confirmed: err instanceof ApiError ? err.full : String(err) });
      }
    } catch (err) {
      setError(err instanceof ApiError ? `${err.status} ${err.full}` : String(err));
    } finally {
      setSending(false);
    }
  }

  return (
    <Modal opened onClose={() => onClose(!!done)} title={<Text fw={700}>Unregister Collector</Text>} size="lg" closeButtonProps={{ 'aria-label': 'Close' }}>
      {done ? (
        <Stack gap="sm">
          <Alert color="teal" role="status" title={`${done.status} Unregistered`} data-testid="outcome" data-phase="unregistered">
            {done.a.message}{' '}
            {done.a.archive.metrics_archived
              ? `${formatNumber(done.a.archived_metrics_count)} records archived until ${formatTime(done.a.archive.retain_until)}.`
              : 'Its history, buckets and logs were deleted.'}
          </Alert>
          {done.confirmed && <Alert color={done.confirmed.startsWith('Confirmed') ? 'teal' : 'yellow'} role="status" data-testid="confirmed">{done.confirmed}</Alert>}
          <Text size="sm">To bring it back: Fleet → Re-register… (archive <code>{done.a.archive.id}</code>).</Text>
          <Group justify="flex-end"><Button onClick={() => onClose(true)}>Close</Button></Group>
        </Stack>
      ) : (
        <form onSubmit={submit}>
          <Stack gap="sm">
            <Alert color="orange" title={`Unregistering collector ${collectorId}`}>
              <Text size="sm">This will:</Text>
              <List size="sm" spacing={2}>
                <List.Item>Stop scraping it at once{provider === 'registry' ? ' and invalidate its scrape token' : '; discovery may still list it, corral ignores it'}</List.Item>
                <List.Item>Fail its open commands</List.Item>
                <List.Item>{del ? 'Delete its history, completeness buckets and logs now' : 'Archive its history, buckets and logs for the retention below'}</List.Item>
              </List>
              <Text size="sm" mt={4}>To re-register: use "Re-register…" on the fleet page; {provider === 'registry' ? 'a new token is generated and the agent needs its new configuration' : 'it is scraped again as its file lists it'}.</Text>
            </Alert>
            <Radio.Group label="Metrics disposition" value={disposition} onChange={(v) => setDisposition(v as 'archive' | 'delete')}>
              <Stack gap={6} mt={4}>
                <Radio value="archive" label="Archive metrics" description="kept for the retention, restorable on re-register" />
                <Radio value="delete" label="Delete metrics immediately" description="cannot be undone" color="red" />
              </Stack>
            </Radio.Group>
            {!del && <NumberInput label="Retention (days)" min={1} max={3650} value={retention} onChange={setRetention} allowDecimal={false} w={200} />}
            <Select label="Reason for unregistering" placeholder="Pick one" data={[...UNREGISTER_REASONS]} value={choice} onChange={setChoice} allowDeselect comboboxProps={{ withinPortal: true }} />
            <Textarea label="Additional notes" placeholder="Migrating to new RDS instance in us-west-2" value={notes} onChange={(e) => setNotes(e.currentTarget.value)} maxLength={500} autosize minRows={2} />
            <Radio.Group label="Audit rows" value={deleteAudit ? 'delete' : 'keep'} onChange={(v) => setDeleteAudit(v === 'delete')}>
              <Group gap="md" mt={4}>
                <Radio value="keep" label="Keep (recommended)" />
                <Radio value="delete" label={del ? 'Delete with the data' : 'Delete when the retention ends'} />
              </Group>
            </Radio.Group>
            {del && (
              <TextInput label={`Type ${collectorId} to confirm deleting its data now`} value={typed} onChange={(e) => setTyped(e.currentTarget.value)}
                autoComplete="off" error={typed && typed !== collectorId ? 'Does not match the name' : undefined} data-testid="confirm-name" />
            )}
            {error && <Alert color="red" role="alert" title="Not unregistered" data-testid="outcome" data-phase="error">{error}</Alert>}
            <Group justify="flex-end">
              <Button variant="default" onClick={() => onClose(false)}>Cancel</Button>
              <Button type="submit" color="red" loading={sending} disabled={del && typed !== collectorId}>{del ? 'Unregister & Delete' : 'Unregister & Archive'}</Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
