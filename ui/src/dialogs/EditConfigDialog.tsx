// Edit configuration: the collector's keys as the API knows them, edited, a
// preview of what changes, then update-config and its confirmation by a scrape.
import { Alert, Button, Code, Group, Modal, Stack, Table, Text, TextInput } from '@mantine/core';
import './dialogs.css';
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { ApiError, enc, get } from '../api';
import type { CollectorDetail } from '../types';
import { OutcomeView } from './CommandDialog';
import { agentConfigOf, configKeys, diffConfig, updateBody, type AgentConfigKey } from './configEdit';
import { useCommand } from './useCommand';

const sourceLabel = { agent: 'set on the agent now', scrape: 'from the last scrape', desired: 'confirmed by the agent', server: 'kept by corral', kind: 'not set through corral yet' } as const;

export function EditConfigDialog({ detail, onClose }: { detail: CollectorDetail; onClose: () => void }) {
  // The agent's own list of its keys, as set now (its /healthz, through corral).
  const [agent, setAgent] = useState<{ keys?: AgentConfigKey[] | null; error?: string; loading: boolean }>({ loading: true });
  useEffect(() => {
    const ctl = new AbortController();
    get<{ status: number; json: boolean; body: unknown }>(`/collectors/${enc(detail.id)}/health`, ctl.signal)
      .then((h) => {
        const keys = h.json ? agentConfigOf(h.body) : null;
        setAgent({ keys, loading: false, error: keys ? undefined : `the agent's /healthz (HTTP ${h.status}) lists no config` });
      })
      .catch((e: unknown) => {
        if (!ctl.signal.aborted) setAgent({ loading: false, error: e instanceof ApiError ? e.full : String(e) });
      });
    return () => ctl.abort();
  }, [detail.id]);
  const keys = useMemo(() => configKeys(detail, agent.keys), [detail, agent.keys]);
  const [edited, setEdited] = useState<Record<string, string>>({});
  const [newKey, setNewKey] = useState('');
  const [reason, setReason] = useState('');
  const [formError, setFormError] = useState('');
  const [preview, setPreview] = useState(false);
  const { outcome, send } = useCommand(detail.id);
  const started = outcome.phase !== 'idle';
  const changes = diffConfig(keys, edited);
  const extra = Object.keys(edited).filter((k) => !keys.some((x) => x.key === k));

  function submit(e: FormEvent) {
    e.preventDefault();
    setFormError('');
    const { body, error } = updateBody(changes, edited, reason);
    if (error || !body) return setFormError(error ?? 'Nothing to send.');
    if (!preview) return setPreview(true);
    void send('update-config', body);
  }

  function addKey() {
    const k = newKey.trim();
    if (!/^[a-z][a-z0-9_]*$/.test(k)) return setFormError(`"${k}" is not a config key (lower_snake_case).`);
    if (keys.some((x) => x.key === k) || k in edited) return setFormError(`${k} is already listed.`);
    setFormError('');
    setEdited((x) => ({ ...x, [k]: '' }));
    setNewKey('');
  }

  const serverOnly = outcome.phase === 'acknowledged' && !outcome.command;
  return (
    <Modal opened onClose={onClose} title={<Text fw={700}>Edit Configuration: {detail.id}</Text>} size="xl" closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          {agent.loading && <Text size="sm" c="dimmed" role="status">Asking the agent for its current config…</Text>}
          {!agent.loading && agent.error && <Alert color="yellow" title="Keys as corral knows them">The agent did not list its config ({agent.error}); the values below may be out of date.</Alert>}
          <Text size="sm">The {detail.kind || 'collector'}'s keys{agent.keys ? ', as the agent reports them now' : ' as corral knows them'}. The agent validates the whole change before applying any of it; secrets show as <Code>xxxxx</Code> and can only be replaced.</Text>
          {!preview ? (
            <Table verticalSpacing={4} aria-label="Configuration keys">
              <Table.Thead><Table.Tr><Table.Th>Key</Table.Th><Table.Th>Value</Table.Th><Table.Th>Now</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {keys.map((k) => (
                  <Table.Tr key={k.key}>
                    <Table.Td className="mono">{k.key}</Table.Td>
                    <Table.Td>
                      <TextInput aria-label={k.key} size="xs" value={edited[k.key] ?? k.value} placeholder={k.secret ? 'xxxxx (type to replace)' : k.hint}
                        onChange={(e) => { const v = e.currentTarget.value; setEdited((x) => ({ ...x, [k.key]: v })); }} data-testid={`cfg-${k.key}`} />
                    </Table.Td>
                    <Table.Td><Text size="xs" c="dimmed">{k.secret ? 'secret' : k.value || '—'} · {sourceLabel[k.source]}</Text></Table.Td>
                  </Table.Tr>
                ))}
                {extra.map((k) => (
                  <Table.Tr key={k}>
                    <Table.Td className="mono">{k}</Table.Td>
                    <Table.Td><TextInput aria-label={k} size="xs" value={edited[k]} onChange={(e) => { const v = e.currentTarget.value; setEdited((x) => ({ ...x, [k]: v })); }} data-testid={`cfg-${k}`} /></Table.Td>
                    <Table.Td><Text size="xs" c="dimmed">new key</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          ) : (
            <div>
              <Text size="sm" fw={600} mb={4}>Preview: what changes</Text>
              <Table verticalSpacing={4} aria-label="Changes" data-testid="config-diff">
                <Table.Thead><Table.Tr><Table.Th>Key</Table.Th><Table.Th>Old</Table.Th><Table.Th>New</Table.Th></Table.Tr></Table.Thead>
                <Table.Tbody>
                  {changes.map((c) => (
                    <Table.Tr key={c.key}>
                      <Table.Td className="mono">{c.key}</Table.Td>
                      <Table.Td className="mono diff-old"><span className="visually-hidden">old: </span>{c.from ? <s>{c.from}</s> : '(not set)'}</Table.Td>
                      <Table.Td className="mono diff-new"><span className="visually-hidden">new: </span>{c.to || '(empty)'}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          )}
          {!preview && (
            <Group gap="xs" align="flex-end">
              <TextInput label="Add a key" size="xs" placeholder="lower_snake_case" value={newKey} onChange={(e) => setNewKey(e.currentTarget.value)}
                onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); addKey(); } }} />
              <Button size="xs" variant="default" onClick={addKey}>Add</Button>
            </Group>
          )}
          <TextInput label="Reason (optional, in the audit trail)" value={reason} onChange={(e) => setReason(e.currentTarget.value)} disabled={started} maxLength={500} />
          {formError && <Alert color="red" role="alert">{formError}</Alert>}
          {serverOnly
            ? <Alert color="teal" role="status" data-testid="outcome" data-phase="confirmed" title="Saved">{outcome.message || 'Tags and group are kept by corral; nothing was sent to the agent.'}</Alert>
            : <OutcomeView outcome={outcome} action="update-config" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>{started ? 'Close' : 'Cancel'}</Button>
            {preview && !started && <Button variant="default" onClick={() => setPreview(false)}>Back to editing</Button>}
            {!started && <Button type="submit" disabled={changes.length === 0}>{preview ? `Apply ${changes.length} change${changes.length === 1 ? '' : 's'}` : 'Preview changes'}</Button>}
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
