package auth

import (
	"context"

	"github.com/corral-dev/corral/store"
)

// Role is what a user may do, within the scope of its [Binding].
type Role string

// The roles. A user with no binding sees nothing.
const (
	// SuperAdmin may read, act on and administer everything.
	SuperAdmin Role = store.RoleSuperAdmin
	// OrgAdmin may read, act on and administer everything in its org.
	OrgAdmin Role = store.RoleOrgAdmin
	// TeamLead may read and act on the collectors of its org (a binding without
	// a team) or of its team.
	TeamLead Role = store.RoleTeamLead
	// Viewer may read the collectors of its org (a binding without a team) or of
	// its team.
	Viewer Role = store.RoleViewer
)

// Binding grants a role in a scope: no org for SuperAdmin, an org for OrgAdmin,
// an org and optionally one team of it for TeamLead and Viewer.
type Binding struct {
	Role Role   `json:"role"`
	Org  string `json:"org,omitempty"`
	Team string `json:"team,omitempty"`
}

// Principal is who made a request, as the [Authenticator.Middleware] found it.
type Principal struct {
	UserID   string
	Username string
	// Via is how the request authenticated: "session" (cookie) or "token"
	// (Authorization: Bearer).
	Via string
	// TokenID is the ID of the API token used, when Via is "token".
	TokenID string
	// SessionID is the ID of the session (the store's, a hash of the cookie:
	// never the secret), when Via is "session".
	SessionID string
	Bindings  []Binding
}

// How a request authenticated, in [Principal.Via].
const (
	ViaSession = "session"
	ViaToken   = "token"
)

// CanRead reports whether p may see a collector of org and team (team "" for a
// collector of the org without a team).
func (p *Principal) CanRead(org, team string) bool {
	return p.allows(org, team, func(r Role) bool { return true })
}

// CanAct reports whether p may act on (command, change) a collector of org and
// team: as CanRead, without the Viewer bindings.
func (p *Principal) CanAct(org, team string) bool {
	return p.allows(org, team, func(r Role) bool { return r != Viewer })
}

// CanAdmin reports whether p may administer org: its users, teams and roles.
func (p *Principal) CanAdmin(org string) bool {
	if p == nil {
		return false
	}
	for _, b := range p.Bindings {
		if b.Role == SuperAdmin || (b.Role == OrgAdmin && org != "" && b.Org == org) {
			return true
		}
	}
	return false
}

// IsSuperAdmin reports whether p has the SuperAdmin role.
func (p *Principal) IsSuperAdmin() bool {
	if p == nil {
		return false
	}
	for _, b := range p.Bindings {
		if b.Role == SuperAdmin {
			return true
		}
	}
	return false
}

// allows reports whether a binding whose role passes role covers org and team.
func (p *Principal) allows(org, team string, role func(Role) bool) bool {
	if p == nil {
		return false
	}
	for _, b := range p.Bindings {
		if !role(b.Role) {
			continue
		}
		switch b.Role {
		case SuperAdmin:
			return true
		case OrgAdmin:
			if org != "" && b.Org == org {
				return true
			}
		case TeamLead, Viewer:
			if org != "" && b.Org == org && (b.Team == "" || b.Team == team) {
				return true
			}
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
