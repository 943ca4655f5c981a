package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// The people routes share these: what the store must do, who may see and
// manage whom, the checks of names, and the audit rows.

// UserAdmin keeps users; *store.Store is one.
type UserAdmin interface {
	Users(ctx context.Context) ([]store.User, error)
	User(ctx context.Context, id string) (store.User, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
	CreateUser(ctx context.Context, u store.User, bindings ...store.RoleBinding) (store.User, error)
	UpdateUser(ctx context.Context, id string, c store.UserChange) (store.User, error)
	SetUserDisabled(ctx context.Context, id string, at time.Time) error
	DeleteUser(ctx context.Context, id string) ([]string, error)
	SetPassword(ctx context.Context, id, hash string) error
	Tokens(ctx context.Context, userID string) ([]store.APIToken, error)
}

// BindingAdmin keeps role bindings; *store.Store is one.
type BindingAdmin interface {
	Bindings(ctx context.Context, userID string) ([]store.RoleBinding, error)
	AllBindings(ctx context.Context) ([]store.UserBinding, error)
	AddBinding(ctx context.Context, userID string, b store.RoleBinding) error
	RemoveBinding(ctx context.Context, userID string, b store.RoleBinding) error
}

// OrgAdmin keeps orgs and teams; *store.Store is one.
type OrgAdmin interface {
	Orgs(ctx context.Context) ([]store.Org, error)
	Org(ctx context.Context, id string) (store.Org, error)
	CreateOrg(ctx context.Context, o store.Org) error
	RenameOrg(ctx context.Context, id, name string) error
	DeleteOrg(ctx context.Context, id string) error
	Teams(ctx context.Context, org string) ([]store.Team, error)
	Team(ctx context.Context, org, id string) (store.Team, error)
	CreateTeam(ctx context.Context, t store.Team) error
	RenameTeam(ctx context.Context, org, id, name string) error
	DeleteTeam(ctx context.Context, org, id string) error
}

// People is what the people routes need of the store.
type People interface {
	UserAdmin
	BindingAdmin
	OrgAdmin
}

var _ People = (*store.Store)(nil)

// Audit actions of the people routes (package auth has the login and token ones).
const (
	ActUserCreate     = "user-create"
	ActUserUpdate     = "user-update"
	ActUserDisable    = "user-disable"
	ActUserEnable     = "user-enable"
	ActUserDelete     = "user-delete"
	ActPasswordReset  = "user-reset-password"
	ActPasswordChange = "password-change"
	ActRoleBind       = "role-bind"
	ActRoleUnbind     = "role-unbind"
	ActOrgCreate      = "org-create"
	ActOrgUpdate      = "org-update"
	ActOrgDelete      = "org-delete"
	ActTeamCreate     = "team-create"
	ActTeamUpdate     = "team-update"
	ActTeamDelete     = "team-delete"
)

// adminScope is what p administers: everything, or the orgs of its org_admin
// bindings.
type adminScope struct {
	all  bool
	orgs map[string]bool
}

func adminScopeOf(p *auth.Principal) adminScope {
	s := adminScope{all: p.IsSuperAdmin(), orgs: map[string]bool{}}
	for _, b := range p.Bindings {
		if b.Role == auth.OrgAdmin {
			s.orgs[b.Org] = true
		}
	}
	return s
}

func (s adminScope) any() bool { return s.all || len(s.orgs) > 0 }

// covers reports whether the scope may grant or take b: a super admin any
// binding, an org admin those of its org up to its own role.
func (s adminScope) covers(b store.RoleBinding) bool {
	return s.all || (b.Role != store.RoleSuperAdmin && s.orgs[b.Org])
}

// sees reports whether the scope may see a user with bindings bs: one of them
// is in it.
func (s adminScope) sees(bs []store.RoleBinding) bool {
	if s.all {
		return true
	}
	for _, b := range bs {
		if s.orgs[b.Org] {
			return true
		}
	}
	return false
}

// manages reports whether the scope may change, disable, delete or reset the
// password of a user with bindings bs: every binding is one it covers, so that
// an org admin never acts on someone another org (or the whole server) relies on.
func (s adminScope) manages(bs []store.RoleBinding) bool {
	if s.all {
		return true
	}
	if len(bs) == 0 {
		return false
	}
	for _, b := range bs {
		if !s.covers(b) {
			return false
		}
	}
	return true
}

// visibleBindings are the bindings of bs the scope may see.
func (s adminScope) visibleBindings(bs []store.RoleBinding) []wire.Binding {
	out := []wire.Binding{}
	for _, b := range bs {
		if s.all || s.orgs[b.Org] {
			out = append(out, wire.Binding{Role: b.Role, Org: b.Org, Team: b.Team})
		}
	}
	return out
}

func (a *api) people(w http.ResponseWriter) (People, bool) {
	if a.o.People == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "user administration is not configured on this server", nil)
		return nil, false
	}
	return a.o.People, true
}

// administrator is the people store and the caller's admin scope for a route
// that only org and super admins use; anyone else gets 403 with forbidden as
// the message.
func (a *api) administrator(w http.ResponseWriter, r *http.Request, forbidden string) (People, adminScope, bool) {
	pp, ok := a.people(w)
	if !ok {
		return nil, adminScope{}, false
	}
	p, _ := auth.FromContext(r.Context())
	s := adminScopeOf(p)
	if !s.any() {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, forbidden, nil)
		return nil, adminScope{}, false
	}
	return pp, s, true
}

// passwordHash is the hash of the password asked for, or of a made-up one
// when none was given (generated is then that password, to be shown once).
func (a *api) passwordHash(w http.ResponseWriter, given string) (hash, generated string, ok bool) {
	pw := given
	if pw == "" {
		pw = auth.GeneratePassword()
		generated = pw
	} else if err := auth.CheckPasswordRules(pw); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error(), map[string]any{"field": "password"})
		return "", "", false
	}
	hash, err := a.o.Auth.HashPassword(pw)
	if err != nil {
		a.internal(w, "hash password", err)
		return "", "", false
	}
	return hash, generated, true
}

var (
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)
	scopeIDRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

const (
	maxDisplayName = 200
	maxEmail       = 254
)

// checkUsername says what is wrong with a new username, "" when nothing.
func checkUsername(s string) string {
	if !usernameRE.MatchString(s) {
		return "a username has 1 to 64 characters: letters, digits and . _ @ + -, starting with a letter or digit"
	}
	return ""
}

func checkScopeID(what, s string) string {
	if !scopeIDRE.MatchString(s) {
		return "an " + what + " ID has 1 to 63 characters: letters, digits and . _ -, starting with a letter or digit"
	}
	return ""
}

// checkText says what is wrong with a display name or an org or team name.
func checkText(s string, most int) string {
	if len(s) > most {
		return "longer than " + strconv.Itoa(most) + " bytes"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	return ""
}

func checkEmail(s string) string {
	if s == "" {
		return ""
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(s, " \t\r\n<>,;\"") || len(s) > maxEmail || strings.Contains(domain, "@") {
		return "want an address such as ana@example.com"
	}
	return ""
}

// mustJSON encodes the params of an audit row: plain values that cannot fail.
func mustJSON(v map[string]any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return b
}

// peopleError answers an error of the store for the people routes.
func (a *api) peopleError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, store.ErrLastSuperAdmin):
		writeError(w, http.StatusConflict, wire.CodeConflict, store.ErrLastSuperAdmin.Error(), map[string]any{"reason": "last_super_admin"})
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, wire.CodeConflict, err.Error(), map[string]any{"reason": "exists"})
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, wire.CodeNotFound, err.Error(), nil)
	default:
		a.internal(w, what, err)
	}
}

// auditPeople appends one finished row of a people change. Org (and team)
// scope the row, so that an org admin sees the changes in its org.
func (a *api) auditPeople(r *http.Request, action, target, org, team string, params map[string]any) {
	if a.o.Audit == nil {
		return
	}
	p, _ := auth.FromContext(r.Context())
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	now := time.Now()
	e := store.AuditEntry{At: now, FinishedAt: now, Actor: auth.ActorOf(p), Remote: remote, Action: action,
		Target: target, Org: org, Team: team, Params: mustJSON(params), Result: store.ResultOK}
	if _, err := a.o.Audit.AppendAudit(context.WithoutCancel(r.Context()), e); err != nil {
		a.o.Logger.Warn("audit "+action, "target", target, "err", err)
	}
}

// orgOfBindings is the org an audit row about a user with bindings bs is kept
// in: the one org of them the caller administers, or "" (super admins only).
func orgOfBindings(s adminScope, bs []store.RoleBinding) string {
	orgs := map[string]bool{}
	for _, b := range bs {
		if b.Org != "" {
			orgs[b.Org] = true
		}
	}
	if len(orgs) != 1 {
		return ""
	}
	for o := range orgs {
		return o
	}
	return ""
}
