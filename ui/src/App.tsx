import { AppShell, Badge, Button, Group, Loader, Text, Tooltip } from '@mantine/core';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { AuthProvider, useAuth, useConnState } from './auth';
import { LoginPage } from './pages/Login';
import { FleetPage } from './pages/Fleet';
import { DetailPage } from './pages/Detail';
import { LogsPage } from './pages/Logs';
import { BulkOperationPage, BulkPage } from './pages/Bulk';
import { AuditPage } from './pages/Audit';
import { DiscoveryPage } from './pages/Discovery';
import { AdminPage } from './pages/Admin';
import { navItems } from './adminState';
import type { ReactNode } from 'react';

export function App() {
  return (
    <AuthProvider>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/" element={<Shell><FleetPage /></Shell>} />
        <Route path="/collectors/:id" element={<Shell><DetailPage /></Shell>} />
        <Route path="/collectors/:id/logs" element={<Shell><LogsPage /></Shell>} />
        <Route path="/bulk" element={<Shell><BulkPage /></Shell>} />
        <Route path="/bulk/:id" element={<Shell><BulkOperationPage /></Shell>} />
        <Route path="/audit" element={<Shell><AuditPage /></Shell>} />
        <Route path="/discovery" element={<Shell><DiscoveryPage /></Shell>} />
        <Route path="/admin" element={<Shell><AdminPage /></Shell>} />
        <Route path="/admin/:section" element={<Shell><AdminPage /></Shell>} />
        <Route path="*" element={<Shell><NotFound /></Shell>} />
      </Routes>
    </AuthProvider>
  );
}

function NotFound() {
  return <Text>No such page. <Link to="/">Back to the fleet</Link></Text>;
}

const connLabel = { connecting: 'Connecting…', open: 'Live', reconnecting: 'Reconnecting…', closed: 'Disconnected' } as const;
const connColor = { connecting: 'gray', open: 'teal', reconnecting: 'orange', closed: 'red' } as const;

export function ConnIndicator() {
  const s = useConnState();
  return (
    <Tooltip label={s === 'open' ? 'Updates arrive live over the WebSocket' : 'Live updates are paused; the page reloads the list when the connection is back'}>
      <Badge color={connColor[s]} variant="dot" size="lg" role="status" aria-live="polite" data-testid="conn">{connLabel[s]}</Badge>
    </Tooltip>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const { me, loading, logout } = useAuth();
  const location = useLocation();
  if (loading) return <Group justify="center" mt="xl"><Loader aria-label="Loading" /></Group>;
  if (!me) return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  const roles = (me.bindings ?? []).map((b) => b.role.replace('_', ' ') + (b.org ? ` (${b.org}${b.team ? '/' + b.team : ''})` : '')).join(', ') || 'no role';
  return (
    <AppShell header={{ height: 52 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="lg" wrap="nowrap">
            <Text component={Link} to="/" fw={700} size="lg" c="inherit" td="none">corral</Text>
            <nav aria-label="Main">
              <Group gap="sm">
                {navItems(me.bindings).map((n) => {
                  const here = n.to === '/' ? location.pathname === '/' || location.pathname.startsWith('/collectors/') : location.pathname.startsWith(n.to);
                  return <Button key={n.to} component={Link} to={n.to} variant={here ? 'light' : 'subtle'} size="compact-sm" aria-current={here ? 'page' : undefined}>{n.label}</Button>;
                })}
              </Group>
            </nav>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <ConnIndicator />
            <Text size="sm" data-testid="whoami">{me.user.username} · {roles}</Text>
            <Button variant="default" size="compact-sm" onClick={() => void logout()}>Log out</Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        <main>{children}</main>
      </AppShell.Main>
    </AppShell>
  );
}
