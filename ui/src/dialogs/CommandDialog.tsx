import { Alert, Button, Code, Group, List, Modal, NumberInput, Progress, Stack, Text, TextInput } from '@mantine/core';
import { useState, type FormEvent, type ReactNode } from 'react';
import { formatTime } from '../format';
import { useCommand, type CommandOutcome } from './useCommand';

export type Action = 'stop' | 'resume' | 'restart' | 'collect' | 'backfill' | 'test-connection' | 'update-config' | 'rotate-credentials';

export const actionTitle: Record<Action, string> = {
  stop: 'Stop Collector',
  resume: 'Resume Collector',
  restart: 'Restart Collector',
  collect: 'Collect Now',
  backfill: 'Backfill',
  'test-connection': 'Test Connection',
  'update-config': 'Edit Configuration',
  'rotate-credentials': 'Rotate Credentials',
};

const submitLabel: Record<Action, string> = {
  stop: 'Stop Collector (Send Signal)',
  resume: 'Resume Collector',
  restart: 'Restart Collector',
  collect: 'Collect Now',
  backfill: 'Start Backfill',
  'test-connection': 'Test Connection',
  'update-config': 'Apply Changes',
  'rotate-credentials': 'Rotate Credentials',
};

const confirmedBy: Record<Action, string> = {
  stop: 'a scrape shows the agent paused',
  resume: 'a scrape shows the agent running',
  restart: 'a scrape shows a later process start time',
  collect: 'a scrape shows a later collection',
  backfill: 'the agent reports the backfill done',
  'test-connection': 'the agent answers',
  'update-config': 'a scrape shows the config generation the agent answered',
  'rotate-credentials': 'the agent answers',
};

function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function CommandDialog({ action, collectorId, onClose }: { action: Action; collectorId: string; onClose: () => void }) {
  const { outcome, send } = useCommand(collectorId);
  const [reason, setReason] = useState('');
  const [duration, setDuration] = useState<number | string>('');
  const [from, setFrom] = useState(() => localInput(new Date(Date.now() - 3600_000)));
  const [to, setTo] = useState(() => localInput(new Date(Date.now() - 60_000)));
  const [formError, setFormError] = useState('');
  const started = outcome.phase !== 'idle';

  function submit(e: FormEvent) {
    e.preventDefault();
    setFormError('');
    const body: Record<string, unknown> = {};
    if (reason.trim()) body['reason'] = reason.trim();
    if (action === 'stop' && duration !== '') body['estimated_duration_minutes'] = Number(duration);
    if (action === 'backfill') {
      const f = new Date(from);
      const t = new Date(to);
      if (Number.isNaN(f.getTime()) || Number.isNaN(t.getTime())) return setFormError('Give both dates.');
      if (f >= t) return setFormError('"From" must be before "to".');
      body['from'] = f.toISOString();
      body['to'] = t.toISOString();
    }
    void send(action, body);
  }

  let intro: ReactNode = null;
  if (action === 'stop') {
    intro = (
      <>
        <Text>Are you sure you want to <b>stop</b> collector <b>{collectorId}</b>?</Text>
        <div>
          <Text size="sm" fw={600}>This will:</Text>
          <List size="sm" spacing={2}>
            <List.Item>Stop collecting metrics (the agent pauses)</List.Item>
            <List.Item>Keep the collector's registration intact</List.Item>
            <List.Item>Allow resume later; corral keeps it paused until then</List.Item>
            <List.Item>Preserve all collected metrics</List.Item>
          </List>
        </div>
        <div>
          <Text size="sm" fw={600}>Estimated impact:</Text>
          <List size="sm" spacing={2}>
            <List.Item>Dashboards fed by this collector stop updating</List.Item>
            <List.Item>No data loss (stored metrics are kept)</List.Item>
          </List>
        </div>
      </>
    );
  } else if (action === 'resume') intro = <Text>Resume collector <b>{collectorId}</b>: the agent starts collecting again.</Text>;
  else if (action === 'restart') intro = <Text>Restart collector <b>{collectorId}</b>: the agent restarts its process; it is offline for a moment.</Text>;
  else if (action === 'collect') intro = <Text>Ask collector <b>{collectorId}</b> to run a collection now, outside its schedule.</Text>;
  else if (action === 'backfill') intro = <Text>Ask collector <b>{collectorId}</b> to collect again what it missed between two times (at most 366 days apart, in the past).</Text>;
  else intro = <Text>Ask collector <b>{collectorId}</b> to test the connection to its source and answer with the result.</Text>;

  return (
    <Modal opened onClose={onClose} title={<Text fw={700}>{actionTitle[action]}</Text>} size="lg" closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          {intro}
          {action === 'backfill' && (
            <Group grow>
              <TextInput type="datetime-local" label="From" value={from} onChange={(e) => setFrom(e.currentTarget.value)} disabled={started} required />
              <TextInput type="datetime-local" label="To" value={to} onChange={(e) => setTo(e.currentTarget.value)} disabled={started} required />
            </Group>
          )}
          <TextInput label={action === 'stop' ? 'Stop reason (optional)' : 'Reason (optional, in the audit trail)'} placeholder={action === 'stop' ? 'Maintenance window scheduled' : ''}
            value={reason} onChange={(e) => setReason(e.currentTarget.value)} disabled={started} maxLength={500} />
          {action === 'stop' && (
            <NumberInput label="Estimated duration (minutes)" description="corral shows when it expects the collector back" min={1} max={525600}
              value={duration} onChange={setDuration} disabled={started} allowDecimal={false} />
          )}
          {formError && <Alert color="red" role="alert">{formError}</Alert>}
          <OutcomeView outcome={outcome} action={action} />
          {action === 'stop' && !started && <Text size="xs" c="dimmed">ℹ The collector stays stopped until someone resumes it (here, with corralctl or the API).</Text>}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>{started ? 'Close' : 'Cancel'}</Button>
            {!started && <Button type="submit" color={action === 'stop' ? 'red' : undefined}>{submitLabel[action]}</Button>}
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function OutcomeView({ outcome, action }: { outcome: CommandOutcome; action: Action }) {
  const c = outcome.command;
  const id = c ? <Code>{c.id}</Code> : null;
  switch (outcome.phase) {
    case 'idle':
      return null;
    case 'sending':
      return <Alert color="blue" role="status">Sending the command to corral…</Alert>;
    case 'queued':
      return (
        <Alert color="yellow" role="status" data-testid="outcome" data-phase="queued" title={outcome.httpStatus === 202 ? '202 Queued' : 'Queued'}>
          The agent has not acknowledged {id} yet{c?.error ? ` (${c.error})` : ''}: corral retries it until {formatTime(c?.expires_at)}.
          {outcome.message ? ` ${outcome.message}` : ''}
        </Alert>
      );
    case 'acknowledged':
      return (
        <Alert color="blue" role="status" data-testid="outcome" data-phase="acknowledged" title="Acknowledged by the agent">
          {outcome.message || 'The agent accepted the command.'} {id} Waiting until {confirmedBy[action]}…
          {action === 'backfill' && <Progress mt="xs" value={(c?.progress ?? 0) * 100} aria-label="Backfill progress" animated />}
        </Alert>
      );
    case 'confirmed':
      return (
        <Alert color="teal" role="status" data-testid="outcome" data-phase="confirmed" title="Confirmed">
          Confirmed: {confirmedBy[action]} ({id}{c?.finished_at ? `, ${formatTime(c.finished_at)}` : ''}).
          {action === 'backfill' && <Progress mt="xs" value={100} aria-label="Backfill progress" />}
          {c?.result != null && <Code block mt="xs" data-testid="result">{JSON.stringify(c.result, null, 2)}</Code>}
        </Alert>
      );
    case 'failed':
      return (
        <Alert color="red" role="alert" data-testid="outcome" data-phase="failed" title={outcome.httpStatus === 409 ? '409 Refused by the agent' : 'Failed'}>
          {outcome.message || c?.error || 'The command failed.'} {id}
        </Alert>
      );
    case 'expired':
      return (
        <Alert color="red" role="alert" data-testid="outcome" data-phase="expired" title={outcome.httpStatus === 504 ? '504 Expired' : 'Expired'}>
          {outcome.message || c?.error || 'Neither delivered nor confirmed in time.'} {id}
        </Alert>
      );
    case 'error':
      return <Alert color="red" role="alert" data-testid="outcome" data-phase="error" title={outcome.httpStatus ? `Error ${outcome.httpStatus}` : 'Error'}>{outcome.message}</Alert>;
  }
}
