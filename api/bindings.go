package api

import (
	"net/http"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// The role binding routes: GET /bindings (every binding the caller
// administers), GET/POST /users/{id}/bindings, DELETE /users/{id}/bindings
// with role, org and team as query parameters. A super admin grants and takes
// any role; an org admin those of its org up to org_admin; nobody changes its
// own roles except to give one up, so that nobody raises its own role.

func describe(b store.RoleBinding) string {
	switch {
	case b.Team != "":
		return b.Role + " in team " + b.Org + "/" + b.Team
	case b.Org != "":
		return b.Role + " in org " + b.Org
	}
	return b.Role
}

// listBindings serves GET /api/v1/bindings.
func (a *api) listBindings(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r, "org") {
		return
	}
	pp, s, ok := a.administrator(w, r, "role bindings are for org_admin and super_admin; GET /api/v1/me shows your own")
	if !ok {
		return
	}
	all, err := pp.AllBindings(r.Context())
	if err != nil {
		a.internal(w, "list role bindings", err)
		return
	}
	us, err := pp.Users(r.Context())
	if err != nil {
		a.internal(w, "list users", err)
		return
	}
	names := make(map[string]string, len(us))
	for _, u := range us {
		names[u.ID] = u.Username
	}
	org := r.URL.Query().Get("org")
	out := wire.List[wire.UserBinding]{Data: []wire.UserBinding{}}
	for _, b := range all {
		if (s.all || s.orgs[b.Org]) && (org == "" || b.Org == org) {
			out.Data = append(out.Data, wire.UserBinding{UserID: b.UserID, Username: names[b.UserID],
				Binding: wire.Binding{Role: b.Role, Org: b.Org, Team: b.Team}})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// userBindings serves GET /api/v1/users/{id}/bindings.
func (a *api) userBindings(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r) {
		return
	}
	u, bs, s, ok := a.target(w, r, false)
	if !ok {
		return
	}
	p, _ := auth.FromContext(r.Context())
	writeJSON(w, http.StatusOK, wire.List[wire.Binding]{Data: viewFor(p, s, u, bs).Bindings})
}

// checkGrant answers 400 or 403 unless the caller may grant or take b from u.
func checkGrant(w http.ResponseWriter, p *auth.Principal, s adminScope, u store.User, b store.RoleBinding, grant bool) bool {
	if err := store.ValidateBinding(b); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error(), map[string]any{"field": "role"})
		return false
	}
	if grant && u.ID == p.UserID && !s.all {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "nobody can raise their own role: ask another administrator", nil)
		return false
	}
	if !s.covers(b) {
		verb := "take"
		if grant {
			verb = "grant"
		}
		writeError(w, http.StatusForbidden, wire.CodeForbidden,
			"you may not "+verb+" "+describe(b)+": nobody grants a role above their own or outside the orgs they administer", nil)
		return false
	}
	return true
}

// bind serves POST /api/v1/users/{id}/bindings {role, org, team}. The user need
// not be in the caller's orgs yet: an org admin adds someone by its username.
func (a *api) bind(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.Binding
	if !decodeStrict(w, body, &req) {
		return
	}
	pp, s, ok := a.administrator(w, r, "granting roles is for org_admin and super_admin")
	if !ok {
		return
	}
	p, _ := auth.FromContext(r.Context())
	b := store.RoleBinding{Role: req.Role, Org: req.Org, Team: req.Team}
	// Checked before the user is looked up, so that the answer says nothing of
	// users to someone who may not grant this binding anyway.
	if err := store.ValidateBinding(b); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error(), map[string]any{"field": "role"})
		return
	}
	if !s.covers(b) {
		checkGrant(w, p, s, store.User{}, b, true)
		return
	}
	u, err := resolveUser(r, pp)
	if err != nil {
		a.peopleError(w, "find user", err)
		return
	}
	if !checkGrant(w, p, s, u, b, true) {
		return
	}
	if err := pp.AddBinding(r.Context(), u.ID, b); err != nil {
		a.peopleError(w, "grant role", err)
		return
	}
	a.auditPeople(r, ActRoleBind, u.Username, b.Org, b.Team, map[string]any{"user_id": u.ID, "role": b.Role, "org": b.Org, "team": b.Team})
	a.o.Auth.ForgetUser(u.ID)
	writeJSON(w, http.StatusCreated, req)
}

// unbind serves DELETE /api/v1/users/{id}/bindings?role=…&org=…&team=….
func (a *api) unbind(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r, "role", "org", "team") {
		return
	}
	u, _, s, ok := a.target(w, r, false)
	if !ok {
		return
	}
	qs := r.URL.Query()
	b := store.RoleBinding{Role: qs.Get("role"), Org: qs.Get("org"), Team: qs.Get("team")}
	p, _ := auth.FromContext(r.Context())
	if !checkGrant(w, p, s, u, b, false) {
		return
	}
	if err := a.o.People.RemoveBinding(r.Context(), u.ID, b); err != nil {
		a.peopleError(w, "take role", err)
		return
	}
	a.auditPeople(r, ActRoleUnbind, u.Username, b.Org, b.Team, map[string]any{"user_id": u.ID, "role": b.Role, "org": b.Org, "team": b.Team})
	a.o.Auth.ForgetUser(u.ID)
	w.WriteHeader(http.StatusNoContent)
}

// resolveUser finds the user of {id}: an ID or a username.
func resolveUser(r *http.Request, pp People) (store.User, error) {
	id := r.PathValue("id")
	u, err := pp.User(r.Context(), id)
	if err != nil {
		var err2 error
		if u, err2 = pp.UserByUsername(r.Context(), id); err2 == nil {
			return u, nil
		}
	}
	return u, err
}
