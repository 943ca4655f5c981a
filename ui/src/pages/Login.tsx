import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { Navigate, useSearchParams } from 'react-router';
import { ApiError } from '../api';
import { useAuth } from '../auth';

/** Only a path of this site: never an absolute URL a link could smuggle in. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}

export function LoginPage() {
  const { me, login } = useAuth();
  const [sp] = useSearchParams();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [waitUntil, setWaitUntil] = useState(0);
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState(false);
  const why = sp.get('why');

  useEffect(() => {
    if (waitUntil <= Date.now()) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [waitUntil]);

  if (me) return <Navigate to={safeNext(sp.get('next'))} replace />;
  const wait = Math.max(0, Math.ceil((waitUntil - now) / 1000));

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await login(username, password);
    } catch (err) {
      if (err instanceof ApiError) {
        const retry = Number(err.details['retry_after_seconds'] ?? 0);
        if ((err.status === 429 || err.status === 503) && retry > 0) {
          setWaitUntil(Date.now() + retry * 1000);
          setNow(Date.now());
          setError(`${err.message}: try again in ${retry} s.`);
        } else {
          setError(err.full);
        }
      } else {
        setError(String(err));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={380} component="main">
        <form onSubmit={submit} aria-labelledby="login-title">
          <Stack>
            <Title order={1} size="h2" id="login-title">corral</Title>
            <Text size="sm" c="dimmed">Log in to manage the fleet.</Text>
            {why && !error && <Alert color="yellow" role="status">{why}</Alert>}
            {error && <Alert color="red" role="alert" data-testid="login-error">{error}{wait > 0 ? ` (${wait} s left)` : ''}</Alert>}
            <TextInput label="Username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.currentTarget.value)} autoFocus />
            <PasswordInput label="Password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
            <Button type="submit" loading={busy} disabled={wait > 0}>{wait > 0 ? `Wait ${wait} s` : 'Log in'}</Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
