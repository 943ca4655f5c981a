// Rotate credentials: the agent re-reads its source credentials and, for a
// registered collector, takes a new scrape token (the old one works for its grace).
import { Button, Checkbox, Group, List, Modal, Stack, Text, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { OutcomeView } from './CommandDialog';
import { useCommand } from './useCommand';

export function RotateDialog({ collectorId, provider, onClose }: { collectorId: string; provider: string; onClose: () => void }) {
  const { outcome, send } = useCommand(collectorId);
  const registry = provider === 'registry';
  const [scrapeToken, setScrapeToken] = useState(registry);
  const [reason, setReason] = useState('');
  const started = outcome.phase !== 'idle';

  function submit(e: FormEvent) {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    if (registry && scrapeToken) body['scrape_token'] = true;
    if (reason.trim()) body['reason'] = reason.trim();
    void send('rotate-credentials', body);
  }

  return (
    <Modal opened onClose={onClose} title={<Text fw={700}>Rotate Credentials</Text>} size="lg" closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <Text>Rotate the credentials of collector <b>{collectorId}</b>. This will:</Text>
          <List size="sm" spacing={2}>
            <List.Item>Make the agent re-read its source credentials (password files, environment) and reconnect; if that fails nothing changes</List.Item>
            {registry && <List.Item>With a new scrape token: the agent gets its SHA-256 and accepts the old token for 10 more minutes; corral scrapes with the new one from the acknowledgement on. The token never leaves corral.</List.Item>}
          </List>
          {registry
            ? <Checkbox label="Also rotate the scrape token" checked={scrapeToken} onChange={(e) => setScrapeToken(e.currentTarget.checked)} disabled={started} />
            : <Text size="xs" c="dimmed">A {provider || 'discovered'} collector's scrape token is in its discovery config; only a registered one gets a new token from corral.</Text>}
          <TextInput label="Reason (optional, in the audit trail)" value={reason} onChange={(e) => setReason(e.currentTarget.value)} disabled={started} maxLength={500} />
          <OutcomeView outcome={outcome} action="rotate-credentials" />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>{started ? 'Close' : 'Cancel'}</Button>
            {!started && <Button type="submit">Rotate Credentials</Button>}
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
