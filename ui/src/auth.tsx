// Who is logged in, what they may do, and the one live connection of the tab.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useLocation, useNavigate } from 'react-router';
import { ApiError, get, onUnauthenticated, request, setCsrfToken } from './api';
import { Live, type ConnState } from './live';
import type { Binding, Collector, Me } from './types';

export interface AuthState {
  me: Me | null;
  loading: boolean;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  canAct(c: Pick<Collector, 'org' | 'team'>): boolean;
  isViewerOnly: boolean;
  live: Live | null;
}

const AuthContext = createContext<AuthState | null>(null);

export function canActWith(bindings: Binding[] | null | undefined, org: string, team: string): boolean {
  for (const b of bindings ?? []) {
    if (b.role === 'super_admin') return true;
    if (b.role === 'org_admin' && org !== '' && b.org === org) return true;
    if (b.role === 'team_lead' && org !== '' && b.org === org && (!b.team || b.team === team)) return true;
  }
  return false;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState<Live | null>(null);
  const navigate = useNavigate();
  const location = useLocation();
  const locRef = useRef(location);
  locRef.current = location;

  const toLogin = useCallback((why: string) => {
    setMe(null);
    setCsrfToken('');
    const l = locRef.current;
    if (l.pathname === '/login') return;
    const next = l.pathname + l.search;
    navigate(`/login?next=${encodeURIComponent(next)}&why=${encodeURIComponent(why)}`, { replace: true });
  }, [navigate]);

  useEffect(() => onUnauthenticated(() => toLogin('Your session ended or expired: log in again.')), [toLogin]);

  useEffect(() => {
    get<Me>('/me')
      .then((m) => { setCsrfToken(m.csrf_token); setMe(m); })
      .catch((e: unknown) => { if (!(e instanceof ApiError) || e.status !== 401) console.error(e); })
      .finally(() => setLoading(false));
  }, []);

  // One WebSocket while logged in.
  useEffect(() => {
    if (!me) return;
    const l = new Live({ onAuthEnd: (reason) => toLogin(`The server closed the live connection (${reason}): log in again.`) });
    l.start();
    setLive(l);
    return () => { l.stop(); setLive(null); };
  }, [me, toLogin]);

  const login = useCallback(async (username: string, password: string) => {
    const { body } = await request<Me>('POST', '/login', { username, password }, { quiet401: true });
    setCsrfToken(body.csrf_token);
    setMe(body);
  }, []);

  const logout = useCallback(async () => {
    try {
      await request('POST', '/logout', undefined, { quiet401: true });
    } finally {
      setCsrfToken('');
      setMe(null);
      navigate('/login', { replace: true });
    }
  }, [navigate]);

  const value = useMemo<AuthState>(() => ({
    me, loading, login, logout, live,
    canAct: (c) => canActWith(me?.bindings, c.org, c.team),
    isViewerOnly: !(me?.bindings ?? []).some((b) => b.role !== 'viewer'),
  }), [me, loading, login, logout, live]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}

export function useConnState(): ConnState {
  const { live } = useAuth();
  const [s, setS] = useState<ConnState>(live?.state ?? 'connecting');
  useEffect(() => {
    if (!live) return;
    setS(live.state);
    return live.onState(setS);
  }, [live]);
  return s;
}

/** The time now, re-read every interval ms: one timer per component that ages. */
export function useNow(interval = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), interval);
    return () => clearInterval(t);
  }, [interval]);
  return now;
}
