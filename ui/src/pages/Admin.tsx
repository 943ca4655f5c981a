// Administration: users, orgs and teams, role bindings (super and org admins),
// the caller's own API tokens (anyone), and the server's signing key with a
// rotation's progress per agent (super admins). Every change is the REST call
// it looks like; the server decides and its message is shown.
import { Alert, Badge, Button, CloseButton, Code, CopyButton, Group, Loader, Modal, Paper, PasswordInput, Select, Stack, Table, Tabs, Text, TextInput, Title, Checkbox } from '@mantine/core';
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { Navigate, useNavigate, useParams } from 'react-router';
import { ApiError, get, request } from '../api';
import { useAuth } from '../auth';
import { adminScope, bindingText, grantableRoles, type Role } from '../adminState';
import { formatTime } from '../format';
import type { Binding } from '../types';

const errText = (e: unknown) => (e instanceof ApiError ? e.full : String(e));

interface User { id: string; username: string; display_name: string; email: string; created_at: string; disabled: boolean; bindings: Binding[] | null }
interface Org { id: string; name: string; created_at: string }
interface Team { org: string; id: string; name: string }
interface Token { id: string; name: string; created: string; expires: string | null; last_used: string | null; revoked: string | null; active: boolean }
interface KeyInfo { kid: string; public_key: string; created_at: string; activated_at?: string }
interface Rotation { active: KeyInfo | null; next?: KeyInfo; in_progress: boolean; agents: { collector: string; state: string; command_id?: string; error?: string }[] | null; acknowledged: number; pending: number; missed: number }

const SECTIONS = ['users', 'orgs', 'tokens', 'keys'] as const;
type Section = (typeof SECTIONS)[number];

function useList<T>(path: string | null, pick: (b: unknown) => T[]) {
  const [rows, setRows] = useState<T[] | null>(null);
  const [error, setError] = useState('');
  const reload = useCallback(() => {
    if (!path) return;
    get<unknown>(path).then((b) => { setRows(pick(b)); setError(''); }, (e: unknown) => setError(errText(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path]);
  useEffect(reload, [reload]);
  return { rows, error, reload };
}

const dataOf = <T,>(b: unknown) => ((b as { data: T[] }).data ?? []);

/** A secret the server shows this once, with a copy button. */
function OnceSecret({ label, value }: { label: string; value: string }) {
  return (
    <Alert color="yellow" title={`${label}: shown only this once`} data-testid="secret-once">
      <Group gap="xs" wrap="nowrap">
        <Code className="mono wrap-anywhere" data-testid="secret-value">{value}</Code>
        <CopyButton value={value}>{({ copied, copy }) => <Button size="compact-xs" variant="light" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
      </Group>
      <Text size="xs" mt={4}>Copy it now: corral keeps only a hash and cannot show it again.</Text>
    </Alert>
  );
}

function ErrorNote({ error }: { error: string }) {
  return error ? <Alert color="red" role="alert" title="The server refused it" data-testid="admin-error">{error}</Alert> : null;
}

export function AdminPage() {
  const { section = '' } = useParams();
  const { me } = useAuth();
  const navigate = useNavigate();
  const scope = adminScope(me?.bindings);
  const allowed: Section[] = scope.isAdmin ? (scope.isSuper ? [...SECTIONS] : ['users', 'orgs', 'tokens']) : ['tokens'];
  if (!(SECTIONS as readonly string[]).includes(section)) return <Navigate to={`/admin/${allowed[0]}`} replace />;
  const s = section as Section;
  const label: Record<Section, string> = { users: 'Users and roles', orgs: 'Orgs and teams', tokens: 'My API tokens', keys: 'Server key' };
  return (
    <Stack gap="md">
      <Title order={1} size="h2">Administration</Title>
      <Tabs value={s} onChange={(v) => v && navigate(`/admin/${v}`)} keepMounted={false}>
        <Tabs.List aria-label="Administration sections">
          {SECTIONS.map((x) => <Tabs.Tab key={x} value={x}>{label[x]}</Tabs.Tab>)}
        </Tabs.List>
        {SECTIONS.map((x) => (
          <Tabs.Panel key={x} value={x} pt="md">
            {!allowed.includes(x) ? (
              <Alert color="gray" title="Not for your role" data-testid="admin-forbidden">
                {x === 'keys' ? 'The server key is managed by super admins.' : 'Users, orgs and teams are managed by org admins and super admins.'} Your roles: {(me?.bindings ?? []).map(bindingText).join(', ') || 'none'}.
              </Alert>
            ) : x === 'users' ? <UsersSection /> : x === 'orgs' ? <OrgsSection /> : x === 'tokens' ? <TokensSection /> : <KeysSection />}
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}

function RoleFields({ value, onChange, orgs }: { value: Binding; onChange: (b: Binding) => void; orgs: string[] }) {
  const { me } = useAuth();
  const roles = grantableRoles(me?.bindings);
  return (
    <Group gap="xs" align="flex-end" wrap="wrap">
      <Select label="Role" data={roles} value={value.role} onChange={(v) => v && onChange({ ...value, role: v as Role, ...(v === 'super_admin' ? { org: undefined, team: undefined } : {}) })} allowDeselect={false} w={150} data-testid="role-select" />
      {value.role !== 'super_admin' && (
        <>
          <Select label="Org" data={orgs} value={value.org ?? null} onChange={(v) => onChange({ ...value, org: v ?? undefined })} w={150} searchable data-testid="org-select" />
          {value.role !== 'org_admin' && <TextInput label="Team (optional)" value={value.team ?? ''} onChange={(e) => onChange({ ...value, team: e.currentTarget.value || undefined })} w={150} />}
        </>
      )}
    </Group>
  );
}

function useOrgIds() {
  const { rows } = useList<Org>('/orgs', dataOf<Org>);
  return (rows ?? []).map((o) => o.id);
}

type UserDialog = { kind: 'create' } | { kind: 'edit' | 'bind' | 'reset' | 'delete'; user: User } | null;

function UsersSection() {
  const { me } = useAuth();
  const scope = adminScope(me?.bindings);
  const users = useList<User>('/users', dataOf<User>);
  const orgs = useOrgIds();
  const [dialog, setDialog] = useState<UserDialog>(null);
  const [error, setError] = useState('');
  const [note, setNote] = useState<ReactNode>(null);
  const act = async (fn: () => Promise<unknown>, done?: string) => {
    setError('');
    setNote(null);
    try {
      await fn();
      if (done) setNote(done);
      users.reload();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Text size="sm">{scope.isSuper ? 'Every user.' : `The users with a role in ${scope.orgs.join(', ')}.`}</Text>
        <Button onClick={() => setDialog({ kind: 'create' })} data-testid="user-add">Add user</Button>
      </Group>
      <ErrorNote error={error || users.error} />
      {note && <Text size="sm" role="status">{note}</Text>}
      {!users.rows ? <Loader aria-label="Loading" /> : (
        <div className="table-scroll">
          <Table striped aria-label="Users" data-testid="users">
            <Table.Thead><Table.Tr>{['User', 'Email', 'Roles', 'State', 'Created', 'Actions'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}</Table.Tr></Table.Thead>
            <Table.Tbody>
              {users.rows.map((u) => (
                <Table.Tr key={u.id} data-testid={`user-${u.username}`}>
                  <Table.Td><Text size="sm" fw={600}>{u.username}</Text>{u.display_name && <Text size="xs">{u.display_name}</Text>}</Table.Td>
                  <Table.Td>{u.email}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      {(u.bindings ?? []).map((b) => (
                        <Badge key={bindingText(b)} variant="light" tt="none" rightSection={
                          <CloseButton size="xs" aria-label={`Take ${bindingText(b)} from ${u.username}`}
                            onClick={() => void act(() => request('DELETE', `/users/${encodeURIComponent(u.id)}/bindings?${new URLSearchParams({ role: b.role, ...(b.org ? { org: b.org } : {}), ...(b.team ? { team: b.team } : {}) })}`), `Took ${bindingText(b)} from ${u.username}.`)} />
                        }>{bindingText(b)}</Badge>
                      ))}
                    </Group>
                  </Table.Td>
                  <Table.Td>{u.disabled ? <Badge color="gray">disabled</Badge> : <Badge color="teal" variant="light">active</Badge>}</Table.Td>
                  <Table.Td className="nowrap">{formatTime(u.created_at)}</Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Button size="compact-xs" variant="default" onClick={() => setDialog({ kind: 'edit', user: u })} aria-label={`Edit ${u.username}`}>Edit</Button>
                      <Button size="compact-xs" variant="default" onClick={() => setDialog({ kind: 'bind', user: u })} aria-label={`Bind role for ${u.username}`}>Bind role</Button>
                      <Button size="compact-xs" variant="default" aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.username}`}
                        onClick={() => void act(() => request('POST', `/users/${encodeURIComponent(u.id)}/${u.disabled ? 'enable' : 'disable'}`), `${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`)}>{u.disabled ? 'Enable' : 'Disable'}</Button>
                      <Button size="compact-xs" variant="default" onClick={() => setDialog({ kind: 'reset', user: u })} aria-label={`Reset password of ${u.username}`}>Reset password</Button>
                      <Button size="compact-xs" color="red" variant="light" onClick={() => setDialog({ kind: 'delete', user: u })} aria-label={`Delete ${u.username}`}>Delete</Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
      {dialog?.kind === 'create' && <CreateUserDialog orgs={orgs} onClose={() => { setDialog(null); users.reload(); }} />}
      {dialog?.kind === 'edit' && <EditUserDialog user={dialog.user} onClose={() => { setDialog(null); users.reload(); }} />}
      {dialog?.kind === 'bind' && <BindDialog user={dialog.user} orgs={orgs} onClose={() => { setDialog(null); users.reload(); }} />}
      {dialog?.kind === 'reset' && <ResetDialog user={dialog.user} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'delete' && <DeleteUserDialog user={dialog.user} onClose={() => { setDialog(null); users.reload(); }} />}
    </Stack>
  );
}

function CreateUserDialog({ orgs, onClose }: { orgs: string[]; onClose: () => void }) {
  const { me } = useAuth();
  const scope = adminScope(me?.bindings);
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [binding, setBinding] = useState<Binding>({ role: 'viewer', org: scope.isSuper ? 'default' : scope.orgs[0] });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ user: User; password?: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      const b: Binding = { role: binding.role, ...(binding.org ? { org: binding.org } : {}), ...(binding.team ? { team: binding.team } : {}) };
      const { body } = await request<{ user: User; password?: string }>('POST', '/users', {
        username: username.trim(), display_name: displayName.trim() || undefined, email: email.trim() || undefined,
        password: password || undefined, bindings: [b],
      });
      setCreated(body);
    } catch (err) {
      setError(errText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title="Add user" size="lg">
      {created ? (
        <Stack>
          <Text role="status">User <b>{created.user.username}</b> created with {(created.user.bindings ?? []).map(bindingText).join(', ')}.</Text>
          {created.password ? <OnceSecret label="Password" value={created.password} /> : <Text size="sm">With the password you gave.</Text>}
          <Group justify="flex-end"><Button onClick={onClose}>Done</Button></Group>
        </Stack>
      ) : (
        <form onSubmit={submit}>
          <Stack gap="sm">
            <TextInput label="Username" required value={username} onChange={(e) => setUsername(e.currentTarget.value)} data-autofocus name="new-username" />
            <Group grow>
              <TextInput label="Display name" value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} />
              <TextInput label="Email" type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
            </Group>
            <PasswordInput label="Password" description="Empty: corral makes one up and shows it once" value={password} onChange={(e) => setPassword(e.currentTarget.value)} autoComplete="new-password" name="new-password" />
            <RoleFields value={binding} onChange={setBinding} orgs={orgs} />
            <ErrorNote error={error} />
            <Group justify="flex-end"><Button variant="default" onClick={onClose}>Cancel</Button><Button type="submit" loading={busy} data-testid="user-create">Create user</Button></Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

function EditUserDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const [displayName, setDisplayName] = useState(user.display_name);
  const [email, setEmail] = useState(user.email);
  const [error, setError] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      await request('PATCH', `/users/${encodeURIComponent(user.id)}`, { display_name: displayName.trim(), email: email.trim() });
      onClose();
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={`Edit ${user.username}`}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <TextInput label="Display name" value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} data-autofocus />
          <TextInput label="Email" type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
          <ErrorNote error={error} />
          <Group justify="flex-end"><Button variant="default" onClick={onClose}>Cancel</Button><Button type="submit" data-testid="edit-submit">Save</Button></Group>
        </Stack>
      </form>
    </Modal>
  );
}

function BindDialog({ user, orgs, onClose }: { user: User; orgs: string[]; onClose: () => void }) {
  const { me } = useAuth();
  const scope = adminScope(me?.bindings);
  const [binding, setBinding] = useState<Binding>({ role: 'viewer', org: scope.isSuper ? 'default' : scope.orgs[0] });
  const [error, setError] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      await request('POST', `/users/${encodeURIComponent(user.id)}/bindings`, { role: binding.role, ...(binding.org ? { org: binding.org } : {}), ...(binding.team ? { team: binding.team } : {}) });
      onClose();
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={`Bind a role to ${user.username}`}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <RoleFields value={binding} onChange={setBinding} orgs={orgs} />
          <ErrorNote error={error} />
          <Group justify="flex-end"><Button variant="default" onClick={onClose}>Cancel</Button><Button type="submit" data-testid="bind-submit">Bind</Button></Group>
        </Stack>
      </form>
    </Modal>
  );
}

function ResetDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [done, setDone] = useState<{ password?: string; sessions_ended: number } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      setDone((await request<{ password?: string; sessions_ended: number }>('POST', `/users/${encodeURIComponent(user.id)}/reset-password`, password ? { password } : {})).body);
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={`Reset the password of ${user.username}`}>
      {done ? (
        <Stack>
          <Text role="status">Password reset; {done.sessions_ended} session(s) of {user.username} ended.</Text>
          {done.password && <OnceSecret label="New password" value={done.password} />}
          <Group justify="flex-end"><Button onClick={onClose}>Done</Button></Group>
        </Stack>
      ) : (
        <form onSubmit={submit}>
          <Stack gap="sm">
            <PasswordInput label="New password" description="Empty: corral makes one up and shows it once" value={password} onChange={(e) => setPassword(e.currentTarget.value)} autoComplete="new-password" data-autofocus />
            <ErrorNote error={error} />
            <Group justify="flex-end"><Button variant="default" onClick={onClose}>Cancel</Button><Button type="submit" color="orange" variant="light">Reset password</Button></Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

function DeleteUserDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      await request('DELETE', `/users/${encodeURIComponent(user.id)}`);
      onClose();
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={`Delete ${user.username}`}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <Text size="sm">Deletes the user with its roles, sessions and API tokens. Its audit rows stay.</Text>
          <TextInput label={`Type ${user.username} to confirm`} value={typed} onChange={(e) => setTyped(e.currentTarget.value)} data-autofocus />
          <ErrorNote error={error} />
          <Group justify="flex-end"><Button variant="default" onClick={onClose}>Cancel</Button><Button type="submit" color="red" disabled={typed !== user.username}>Delete user</Button></Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** A name shown with a Rename button that turns into a field; save sends PATCH path {name}. */
function Renamable({ what, name, path, canEdit, onDone }: { what: string; name: string; path: string; canEdit: boolean; onDone: () => void }) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(name);
  const [error, setError] = useState('');
  if (!editing) {
    return (
      <Group gap={6} wrap="nowrap">
        <Text fw={600}>{name}</Text>
        {canEdit && <Button size="compact-xs" variant="subtle" onClick={() => { setValue(name); setError(''); setEditing(true); }} aria-label={`Rename ${what}`}>Rename</Button>}
      </Group>
    );
  }
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      await request('PATCH', path, { name: value.trim() });
      setEditing(false);
      onDone();
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <form onSubmit={(e) => void save(e)}>
      <Group gap={6} align="flex-end" wrap="nowrap">
        <TextInput size="xs" label={`Name of ${what}`} value={value} onChange={(e) => setValue(e.currentTarget.value)} autoFocus
          onKeyDown={(e) => { if (e.key === 'Escape') setEditing(false); }} error={error || undefined} data-testid={`rename-${what}`} />
        <Button type="submit" size="compact-sm" disabled={!value.trim() || value.trim() === name}>Save</Button>
        <Button size="compact-sm" variant="default" onClick={() => setEditing(false)}>Cancel</Button>
      </Group>
    </form>
  );
}

function OrgsSection() {
  const { me } = useAuth();
  const scope = adminScope(me?.bindings);
  const orgs = useList<Org>('/orgs', dataOf<Org>);
  const bindings = useList<Binding & { user_id: string; username: string }>('/bindings', dataOf<Binding & { user_id: string; username: string }>);
  const [teams, setTeams] = useState<Record<string, Team[]>>({});
  const [error, setError] = useState('');
  const [newOrg, setNewOrg] = useState('');
  const [newTeam, setNewTeam] = useState<Record<string, string>>({});
  const loadTeams = useCallback((ids: string[]) => {
    for (const id of ids) get<{ data: Team[] }>(`/orgs/${encodeURIComponent(id)}/teams`).then((l) => setTeams((t) => ({ ...t, [id]: l.data })), (e: unknown) => setError(errText(e)));
  }, []);
  useEffect(() => { if (orgs.rows) loadTeams(orgs.rows.map((o) => o.id)); }, [orgs.rows, loadTeams]);
  const act = async (fn: () => Promise<unknown>) => {
    setError('');
    try {
      await fn();
      orgs.reload();
      bindings.reload();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <Stack gap="md">
      <ErrorNote error={error || orgs.error} />
      {scope.isSuper && (
        <form onSubmit={(e) => { e.preventDefault(); void act(async () => { await request('POST', '/orgs', { id: newOrg.trim() }); setNewOrg(''); }); }}>
          <Group align="flex-end" gap="xs">
            <TextInput label="New org ID" value={newOrg} onChange={(e) => setNewOrg(e.currentTarget.value)} w={200} />
            <Button type="submit" disabled={!newOrg.trim()} data-testid="org-create">Create org</Button>
          </Group>
        </form>
      )}
      {!orgs.rows ? <Loader aria-label="Loading" /> : orgs.rows.map((o) => {
        const mine = scope.isSuper || scope.orgs.includes(o.id);
        return (
          <Paper withBorder p="sm" key={o.id} data-testid={`org-${o.id}`}>
            <Group justify="space-between">
              <Group gap={6}>
                <Renamable what={`org ${o.id}`} name={o.name || o.id} path={`/orgs/${encodeURIComponent(o.id)}`} canEdit={mine} onDone={orgs.reload} />
                <span className="mono">({o.id})</span>
              </Group>
              {scope.isSuper && <Button size="compact-xs" color="red" variant="light" onClick={() => void act(() => request('DELETE', `/orgs/${encodeURIComponent(o.id)}`))} aria-label={`Delete org ${o.id}`}>Delete org</Button>}
            </Group>
            <Group gap={4} mt="xs">
              <Text size="sm">Teams:</Text>
              {(teams[o.id] ?? []).length === 0 && <Text size="sm" c="dimmed">none</Text>}
              {(teams[o.id] ?? []).map((t) => (
                <Badge key={t.id} variant="light" tt="none" title={t.name && t.name !== t.id ? t.name : undefined} rightSection={mine ? <CloseButton size="xs" aria-label={`Delete team ${o.id}/${t.id}`} onClick={() => void act(() => request('DELETE', `/orgs/${encodeURIComponent(o.id)}/teams/${encodeURIComponent(t.id)}`))} /> : undefined}>{t.name && t.name !== t.id ? `${t.name} (${t.id})` : t.id}</Badge>
              ))}
            </Group>
            {mine && (teams[o.id] ?? []).length > 0 && (
              <Stack gap={2} mt="xs">
                {(teams[o.id] ?? []).map((t) => (
                  <Renamable key={t.id} what={`team ${o.id}/${t.id}`} name={t.name || t.id} path={`/orgs/${encodeURIComponent(o.id)}/teams/${encodeURIComponent(t.id)}`} canEdit onDone={() => loadTeams([o.id])} />
                ))}
              </Stack>
            )}
            {mine && (
              <form onSubmit={(e) => { e.preventDefault(); void act(async () => { await request('POST', `/orgs/${encodeURIComponent(o.id)}/teams`, { id: (newTeam[o.id] ?? '').trim() }); setNewTeam((n) => ({ ...n, [o.id]: '' })); loadTeams([o.id]); }); }}>
                <Group align="flex-end" gap="xs" mt="xs">
                  <TextInput label={`New team in ${o.id}`} value={newTeam[o.id] ?? ''} onChange={(e) => { const v = e.currentTarget.value; setNewTeam((n) => ({ ...n, [o.id]: v })); }} w={200} size="xs" />
                  <Button type="submit" size="compact-sm" variant="light" disabled={!(newTeam[o.id] ?? '').trim()}>Create team</Button>
                </Group>
              </form>
            )}
          </Paper>
        );
      })}
      <Title order={2} size="h4">Role bindings</Title>
      {bindings.error ? <Alert color="red">{bindings.error}</Alert> : !bindings.rows ? null : (
        <div className="table-scroll">
          <Table striped aria-label="Role bindings" data-testid="bindings">
            <Table.Thead><Table.Tr>{['User', 'Role', 'Org', 'Team'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}</Table.Tr></Table.Thead>
            <Table.Tbody>
              {bindings.rows.map((b) => (
                <Table.Tr key={`${b.user_id}/${bindingText(b)}`}><Table.Td>{b.username}</Table.Td><Table.Td>{b.role}</Table.Td><Table.Td>{b.org ?? ''}</Table.Td><Table.Td>{b.team ?? ''}</Table.Td></Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
    </Stack>
  );
}

function TokensSection() {
  const tokens = useList<Token>('/tokens', (b) => (b as { tokens: Token[] }).tokens ?? []);
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const [error, setError] = useState('');
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setSecret(null);
    try {
      const n = Number(days);
      const { body } = await request<{ token: Token; secret: string }>('POST', '/tokens', { name: name.trim(), ...(days.trim() ? { expires_in_days: n } : {}) });
      setSecret({ name: body.token.name, secret: body.secret });
      setName('');
      tokens.reload();
    } catch (err) {
      setError(errText(err));
    }
  };
  const revoke = async (t: Token) => {
    setError('');
    try {
      await request('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
      tokens.reload();
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <Stack gap="sm">
      <Text size="sm">Personal API tokens act with your roles, for <Code>corralctl</Code>, scripts and Prometheus’s <Code>http_sd_config</Code>.</Text>
      <form onSubmit={create}>
        <Group align="flex-end" gap="xs">
          <TextInput label="Token name" value={name} onChange={(e) => setName(e.currentTarget.value)} w={240} name="token-name" />
          <TextInput label="Expires in (days)" value={days} onChange={(e) => setDays(e.currentTarget.value)} w={140} inputMode="numeric" />
          <Button type="submit" disabled={!name.trim()} data-testid="token-create">Create token</Button>
        </Group>
      </form>
      <ErrorNote error={error || tokens.error} />
      {secret && <OnceSecret label={`Token “${secret.name}”`} value={secret.secret} />}
      {!tokens.rows ? <Loader aria-label="Loading" /> : (
        <div className="table-scroll">
          <Table striped aria-label="My API tokens" data-testid="tokens">
            <Table.Thead><Table.Tr>{['Name', 'Created', 'Expires', 'Last used', 'State', ''].map((h, i) => <Table.Th key={i} scope="col">{h || <span className="sr-only">Revoke</span>}</Table.Th>)}</Table.Tr></Table.Thead>
            <Table.Tbody>
              {tokens.rows.map((t) => (
                <Table.Tr key={t.id} data-testid={`token-${t.name}`}>
                  <Table.Td>{t.name}</Table.Td>
                  <Table.Td className="nowrap">{formatTime(t.created)}</Table.Td>
                  <Table.Td className="nowrap">{formatTime(t.expires)}</Table.Td>
                  <Table.Td className="nowrap">{t.last_used ? formatTime(t.last_used) : 'never'}</Table.Td>
                  <Table.Td>{t.active ? <Badge color="teal" variant="light">active</Badge> : <Badge color="gray">{t.revoked ? 'revoked' : 'expired'}</Badge>}</Table.Td>
                  <Table.Td>{t.active && <Button size="compact-xs" color="red" variant="light" onClick={() => void revoke(t)} aria-label={`Revoke token ${t.name}`}>Revoke</Button>}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
    </Stack>
  );
}

function KeysSection() {
  const [rot, setRot] = useState<Rotation | null>(null);
  const [error, setError] = useState('');
  const [force, setForce] = useState(false);
  // A rotation ends on its own once every agent acknowledged: say so, since
  // the answer then no longer lists the agents.
  const [finished, setFinished] = useState('');
  const take = useCallback((r: Rotation) => {
    setRot((prev) => {
      if (prev?.in_progress && !r.in_progress && r.active?.kid !== prev.active?.kid) setFinished(r.active?.kid ?? '');
      return r;
    });
  }, []);
  const load = useCallback(() => { get<Rotation>('/keys').then(take, (e: unknown) => setError(errText(e))); }, [take]);
  useEffect(() => { load(); }, [load]);
  useEffect(() => {
    if (!rot?.in_progress) return;
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [rot?.in_progress, load]);
  const post = async (path: string, body?: unknown) => {
    setError('');
    try {
      setFinished('');
      take((await request<Rotation>('POST', path, body)).body);
    } catch (e) {
      setError(errText(e));
    }
  };
  if (!rot) return error ? <ErrorNote error={error} /> : <Loader aria-label="Loading" />;
  const agents = rot.agents ?? [];
  const stateColor = (s: string) => (s === 'acknowledged' ? 'teal' : s === 'missed' ? 'red' : 'yellow');
  return (
    <Stack gap="sm">
      <Paper withBorder p="sm">
        <Text size="sm"><b>Active key:</b> <span className="mono" data-testid="key-active">{rot.active?.kid}</span> (since {formatTime(rot.active?.activated_at ?? rot.active?.created_at)})</Text>
        <Text size="xs" className="mono wrap-anywhere">{rot.active?.public_key}</Text>
        {rot.next && <Text size="sm" mt="xs"><b>Next key:</b> <span className="mono">{rot.next.kid}</span> (made {formatTime(rot.next.created_at)})</Text>}
      </Paper>
      <ErrorNote error={error} />
      {finished && !rot.in_progress && (
        <Alert color="teal" title="Rotation finished" data-testid="key-finished">
          The server now signs with key <span className="mono">{finished}</span>; the agents were told to forget the old one.
        </Alert>
      )}
      <Group>
        <Button onClick={() => void post('/keys/rotate')} data-testid="key-rotate">{rot.in_progress ? 'Send the next key again to those that missed it' : 'Rotate the key'}</Button>
        {rot.in_progress && (
          <>
            <Checkbox label="Force (agents that missed it can no longer be steered)" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} />
            <Button color="orange" variant="light" onClick={() => void post('/keys/rotate/complete', { force })} data-testid="key-complete">Switch to the next key</Button>
          </>
        )}
      </Group>
      {rot.in_progress && (
        <Stack gap="xs" aria-live="polite">
          <Text size="sm" data-testid="key-progress">Rotation: {rot.acknowledged} acknowledged · {rot.pending} pending · {rot.missed} missed</Text>
          <div className="table-scroll">
            <Table striped aria-label="The rotation per agent" data-testid="key-agents">
              <Table.Thead><Table.Tr>{['Collector', 'State', 'Error'].map((h) => <Table.Th key={h} scope="col">{h}</Table.Th>)}</Table.Tr></Table.Thead>
              <Table.Tbody>
                {agents.map((a) => (
                  <Table.Tr key={a.collector} data-testid={`key-agent-${a.collector}`} data-state={a.state}>
                    <Table.Td>{a.collector}</Table.Td><Table.Td><Badge color={stateColor(a.state)} variant="light">{a.state}</Badge></Table.Td><Table.Td><Text size="xs" className="error-text">{a.error}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        </Stack>
      )}
    </Stack>
  );
}
