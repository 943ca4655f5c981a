// A scrape token the server answered once, and the agent config that goes with it:
// shown in the dialog that got it, never stored, gone when the dialog closes.
import { Alert, Button, Code, CopyButton, Group, Stack, Text, TextInput } from '@mantine/core';
import './dialogs.css';

export function download(name: string, text: string, type = 'application/yaml') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function TokenOnce({ name, token, agentConfig, note }: { name: string; token?: string; agentConfig?: string; note?: string }) {
  return (
    <Stack gap="xs" data-testid={`token-once-${name}`}>
      {token ? (
        <Alert color="orange" title="Scrape token — shown only this once" role="status">
          <Text size="sm" mb={6}>Copy it now: corral keeps only its SHA-256 and cannot show it again. The agent needs it (or the config below) before corral can scrape it.</Text>
          <Group gap="xs" wrap="nowrap" align="flex-end">
            <TextInput label={`Scrape token of ${name}`} value={token} readOnly className="mono" style={{ flex: 1 }} data-testid="scrape-token"
              onFocus={(e) => e.currentTarget.select()} />
            <CopyButton value={token}>
              {({ copied, copy }) => <Button variant="default" onClick={copy}>{copied ? 'Copied token' : 'Copy token'}</Button>}
            </CopyButton>
          </Group>
        </Alert>
      ) : null}
      {note ? <Text size="sm" c="dimmed">{note}</Text> : null}
      {agentConfig ? (
        <Stack gap={4}>
          <Group justify="space-between">
            <Text size="sm" fw={600} id={`agent-config-${name}`}>Agent configuration (corral-agent run --config {name}.yml)</Text>
            <Group gap="xs">
              <CopyButton value={agentConfig}>
                {({ copied, copy }) => <Button size="compact-sm" variant="default" onClick={copy}>{copied ? 'Copied configuration' : 'Copy configuration'}</Button>}
              </CopyButton>
              <Button size="compact-sm" variant="default" onClick={() => download(`${name}.yml`, agentConfig)}>Download {name}.yml</Button>
            </Group>
          </Group>
          <Code block className="metrics-pre" tabIndex={0} aria-labelledby={`agent-config-${name}`} data-testid="agent-config">{agentConfig}</Code>
        </Stack>
      ) : null}
    </Stack>
  );
}
