// Register new collector (seed 003): POST /collectors/register, then the scrape
// token and the agent config, shown once.
import { Alert, Button, Group, Modal, SimpleGrid, Stack, Text, TextInput, Textarea } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ApiError, request } from '../api';
import { parseLabels, type Registration } from './lifecycle';
import { TokenOnce } from './TokenOnce';

export function RegisterDialog({ onClose }: { onClose: (registered?: string) => void }) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('http://');
  const [labels, setLabels] = useState('');
  const [org, setOrg] = useState('');
  const [team, setTeam] = useState('');
  const [offlineAfter, setOfflineAfter] = useState('');
  const [staleAfter, setStaleAfter] = useState('');
  const [error, setError] = useState('');
  const [sending, setSending] = useState(false);
  const [done, setDone] = useState<(Registration & { message?: string; status: number }) | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError('');
    const l = parseLabels(labels);
    if (l.error) return setError(l.error);
    const thresholds: Record<string, string> = {};
    if (offlineAfter.trim()) thresholds['offline_after'] = offlineAfter.trim();
    if (staleAfter.trim()) thresholds['stale_after'] = staleAfter.trim();
    const body: Record<string, unknown> = { name: name.trim(), url: url.trim() };
    if (Object.keys(l.labels).length) body['labels'] = l.labels;
    if (org.trim()) body['org'] = org.trim();
    if (team.trim()) body['team'] = team.trim();
    if (Object.keys(thresholds).length) body['thresholds'] = thresholds;
    setSending(true);
    try {
      const { status, body: r } = await request<Registration & { message: string }>('POST', '/collectors/register', body);
      setDone({ ...r, status });
    } catch (err) {
      setError(err instanceof ApiError ? `${err.status} ${err.full}` : String(err));
    } finally {
      setSending(false);
    }
  }

  return (
    <Modal opened onClose={() => onClose(done?.id)} title={<Text fw={700}>Register New Collector</Text>} size="lg" closeButtonProps={{ 'aria-label': 'Close' }}>
      {done ? (
        <Stack gap="sm">
          <Alert color="teal" role="status" title={`${done.status} Registered`} data-testid="outcome" data-phase="registered">
            {done.message || 'Registered.'} corral scrapes <b>{done.id}</b> at {done.url} from its next discovery round. <Link to={`/collectors/${encodeURIComponent(done.id)}`} onClick={() => onClose(done.id)}>Open the collector</Link>
          </Alert>
          <TokenOnce name={done.name || done.id} token={done.scrape_token} agentConfig={done.agent_config} note={done.note} />
          <Group justify="flex-end"><Button onClick={() => onClose(done.id)}>Done — I copied the token</Button></Group>
        </Stack>
      ) : (
        <form onSubmit={submit}>
          <Stack gap="sm">
            <Text size="sm">The collector becomes a target of the scrape configs with <code>registry: true</code>. corral answers a scrape token for it once, and a corral-agent configuration to start it with.</Text>
            <TextInput label="Name" description="1–128 of letters, digits, . _ - ; the collector's identity" value={name} onChange={(e) => setName(e.currentTarget.value)} required data-autofocus />
            <TextInput label="Agent URL" description="where corral scrapes /metrics, e.g. http://db-1:9491" value={url} onChange={(e) => setUrl(e.currentTarget.value)} required />
            <SimpleGrid cols={2}>
              <TextInput label="Org" placeholder="the server's default org" value={org} onChange={(e) => setOrg(e.currentTarget.value)} />
              <TextInput label="Team" value={team} onChange={(e) => setTeam(e.currentTarget.value)} />
            </SimpleGrid>
            <Textarea label="Labels" description="one name=value per line" placeholder={'env=prod\nregion=eu-west-1'} autosize minRows={2} value={labels} onChange={(e) => setLabels(e.currentTarget.value)} />
            <SimpleGrid cols={2}>
              <TextInput label="Offline after" placeholder="e.g. 2m (default: the server's)" value={offlineAfter} onChange={(e) => setOfflineAfter(e.currentTarget.value)} />
              <TextInput label="Stale after" placeholder="e.g. 15m" value={staleAfter} onChange={(e) => setStaleAfter(e.currentTarget.value)} />
            </SimpleGrid>
            {error && <Alert color="red" role="alert" title="Not registered" data-testid="outcome" data-phase="error">{error}</Alert>}
            <Group justify="flex-end">
              <Button variant="default" onClick={() => onClose()}>Cancel</Button>
              <Button type="submit" loading={sending}>Register Collector</Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
