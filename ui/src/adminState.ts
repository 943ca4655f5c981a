// What the administration screens offer a user, from its role bindings. The
// server decides regardless; this only hides what it would refuse.
import type { Binding } from './types';

export type Role = Binding['role'];

export interface AdminScope {
  isSuper: boolean;
  /** The orgs the user administers (org_admin). */
  orgs: string[];
  /** Whether the user manages people at all (super or org admin). */
  isAdmin: boolean;
}

export function adminScope(bindings: Binding[] | null | undefined): AdminScope {
  const bs = bindings ?? [];
  const isSuper = bs.some((b) => b.role === 'super_admin');
  const orgs = [...new Set(bs.filter((b) => b.role === 'org_admin' && b.org).map((b) => b.org!))].sort();
  return { isSuper, orgs, isAdmin: isSuper || orgs.length > 0 };
}

/** The roles the user may grant: nobody grants above their own. */
export function grantableRoles(bindings: Binding[] | null | undefined): Role[] {
  const s = adminScope(bindings);
  if (s.isSuper) return ['super_admin', 'org_admin', 'team_lead', 'viewer'];
  if (s.orgs.length) return ['org_admin', 'team_lead', 'viewer'];
  return [];
}

/** "team_lead of acme/red" */
export function bindingText(b: Binding): string {
  if (b.role === 'super_admin') return 'super_admin';
  return `${b.role} of ${b.org ?? '?'}${b.team ? '/' + b.team : ''}`;
}

/** The navigation a user sees: Administration for everyone (its own tokens), the rest by role. */
export function navItems(bindings: Binding[] | null | undefined): { to: string; label: string }[] {
  const items = [
    { to: '/', label: 'Fleet' },
    { to: '/bulk', label: 'Bulk' },
    { to: '/audit', label: 'Audit' },
    { to: '/discovery', label: 'Discovery' },
    { to: '/admin', label: 'Administration' },
  ];
  const bs = bindings ?? [];
  const mayReadAudit = bs.some((b) => b.role !== 'viewer');
  return items.filter((i) => i.to !== '/audit' || mayReadAudit);
}
