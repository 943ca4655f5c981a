package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// The user routes: GET/POST /users, GET/PATCH/DELETE /users/{id},
// POST /users/{id}/disable|enable|reset-password, POST /me/password. {id} is a
// user's ID or its username. A super admin manages everyone; an org admin sees
// the users bound in its orgs and manages those bound only there; anyone else
// sees only itself. A user out of the caller's sight answers 404, as one that
// does not exist.

func viewUser(u store.User, bindings []wire.Binding) wire.User {
	out := wire.User{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email,
		CreatedAt: u.CreatedAt.UTC(), Disabled: u.Disabled(), Bindings: bindings}
	if u.Disabled() {
		t := u.DisabledAt.UTC()
		out.DisabledAt = &t
	}
	if out.Bindings == nil {
		out.Bindings = []wire.Binding{}
	}
	return out
}

// listUsers serves GET /api/v1/users (org_admin and super_admin).
func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r) {
		return
	}
	pp, s, ok := a.administrator(w, r, "listing users is for org_admin and super_admin; GET /api/v1/me shows yourself")
	if !ok {
		return
	}
	us, err := pp.Users(r.Context())
	if err != nil {
		a.internal(w, "list users", err)
		return
	}
	all, err := pp.AllBindings(r.Context())
	if err != nil {
		a.internal(w, "list role bindings", err)
		return
	}
	by := map[string][]store.RoleBinding{}
	for _, b := range all {
		by[b.UserID] = append(by[b.UserID], b.RoleBinding)
	}
	out := wire.List[wire.User]{Data: []wire.User{}}
	for _, u := range us {
		if s.sees(by[u.ID]) {
			out.Data = append(out.Data, viewUser(u, s.visibleBindings(by[u.ID])))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// target is the user of {id} with its bindings, if the caller may see it (404
// otherwise); manage also requires that the caller manages it (403).
func (a *api) target(w http.ResponseWriter, r *http.Request, manage bool) (store.User, []store.RoleBinding, adminScope, bool) {
	pp, ok := a.people(w)
	if !ok {
		return store.User{}, nil, adminScope{}, false
	}
	p, _ := auth.FromContext(r.Context())
	s := adminScopeOf(p)
	id := r.PathValue("id")
	u, err := pp.User(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u, err = pp.UserByUsername(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "user not found", nil)
		return store.User{}, nil, s, false
	}
	if err != nil {
		a.internal(w, "read user", err)
		return store.User{}, nil, s, false
	}
	bs, err := pp.Bindings(r.Context(), u.ID)
	if err != nil {
		a.internal(w, "read role bindings", err)
		return store.User{}, nil, s, false
	}
	self := u.ID == p.UserID
	if !self && !s.sees(bs) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "user not found", nil)
		return store.User{}, nil, s, false
	}
	if manage && !s.manages(bs) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden,
			"you may not manage this user: it has roles outside the orgs you administer", nil)
		return store.User{}, nil, s, false
	}
	return u, bs, s, true
}

// viewFor shows u to the caller: a user sees all of its own bindings.
func viewFor(p *auth.Principal, s adminScope, u store.User, bs []store.RoleBinding) wire.User {
	if u.ID == p.UserID {
		s.all = true
	}
	return viewUser(u, s.visibleBindings(bs))
}

// getUser serves GET /api/v1/users/{id}.
func (a *api) getUser(w http.ResponseWriter, r *http.Request) {
	u, bs, s, ok := a.target(w, r, false)
	if !ok {
		return
	}
	p, _ := auth.FromContext(r.Context())
	writeJSON(w, http.StatusOK, viewFor(p, s, u, bs))
}

// createUser serves POST /api/v1/users.
func (a *api) createUser(w http.ResponseWriter, r *http.Request) {
	pp, s, ok := a.administrator(w, r, "creating users is for org_admin and super_admin")
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.UserCreate
	if !decodeStrict(w, body, &req) {
		return
	}
	if msg := checkUsername(req.Username); msg != "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "username: "+msg, map[string]any{"field": "username"})
		return
	}
	if !a.checkProfile(w, &req.DisplayName, &req.Email) {
		return
	}
	bs := make([]store.RoleBinding, len(req.Bindings))
	for i, b := range req.Bindings {
		bs[i] = store.RoleBinding{Role: b.Role, Org: b.Org, Team: b.Team}
		if err := store.ValidateBinding(bs[i]); err != nil {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "bindings: "+err.Error(), map[string]any{"field": "bindings"})
			return
		}
		if !s.covers(bs[i]) {
			writeError(w, http.StatusForbidden, wire.CodeForbidden,
				"you may not grant "+describe(bs[i])+": nobody grants a role above their own or outside the orgs they administer", nil)
			return
		}
	}
	if !s.all && len(bs) == 0 {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest,
			"bindings: an org admin creates users with at least one role in its org", map[string]any{"field": "bindings"})
		return
	}
	hash, generated, ok := a.passwordHash(w, req.Password)
	if !ok {
		return
	}
	u, err := pp.CreateUser(r.Context(), store.User{Username: req.Username, PasswordHash: hash,
		DisplayName: req.DisplayName, Email: req.Email}, bs...)
	if err != nil {
		a.peopleError(w, "create user", err)
		return
	}
	a.auditPeople(r, ActUserCreate, u.Username, orgOfBindings(s, bs), "",
		map[string]any{"user_id": u.ID, "bindings": req.Bindings, "password_generated": generated != ""})
	writeJSON(w, http.StatusCreated, wire.UserCreated{User: viewUser(u, s.visibleBindings(bs)), Password: generated})
}

// checkProfile checks a display name and an email, answering 400 if one is wrong.
func (a *api) checkProfile(w http.ResponseWriter, name, email *string) bool {
	if name != nil {
		if msg := checkText(*name, maxDisplayName); msg != "" {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "display_name: "+msg, map[string]any{"field": "display_name"})
			return false
		}
	}
	if email != nil {
		if msg := checkEmail(*email); msg != "" {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "email: "+msg, map[string]any{"field": "email"})
			return false
		}
	}
	return true
}

// updateUser serves PATCH /api/v1/users/{id}: a user may change its own
// display name and email; disabled is for those who manage it.
func (a *api) updateUser(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.UserChange
	if !decodeStrict(w, body, &req) {
		return
	}
	p, _ := auth.FromContext(r.Context())
	u, bs, s, ok := a.target(w, r, false)
	if !ok {
		return
	}
	if (u.ID != p.UserID || req.Disabled != nil) && !s.manages(bs) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "you may not manage this user", nil)
		return
	}
	if req.DisplayName == nil && req.Email == nil && req.Disabled == nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "nothing to change: give display_name, email or disabled", nil)
		return
	}
	if !a.checkProfile(w, req.DisplayName, req.Email) {
		return
	}
	if req.DisplayName != nil || req.Email != nil {
		var err error
		if u, err = a.o.People.UpdateUser(r.Context(), u.ID, store.UserChange{DisplayName: req.DisplayName, Email: req.Email}); err != nil {
			a.peopleError(w, "update user", err)
			return
		}
		params := map[string]any{"user_id": u.ID}
		if req.DisplayName != nil {
			params["display_name"] = *req.DisplayName
		}
		if req.Email != nil {
			params["email"] = *req.Email
		}
		a.auditPeople(r, ActUserUpdate, u.Username, orgOfBindings(s, bs), "", params)
	}
	if req.Disabled != nil {
		var ok bool
		if u, ok = a.setDisabled(w, r, u, bs, s, *req.Disabled); !ok {
			return
		}
	}
	writeJSON(w, http.StatusOK, viewFor(p, s, u, bs))
}

// setDisabled disables or enables u; a disabled user's sessions end and its
// tokens and WebSockets stop working at once.
func (a *api) setDisabled(w http.ResponseWriter, r *http.Request, u store.User, bs []store.RoleBinding, s adminScope, disabled bool) (store.User, bool) {
	at, action := time.Time{}, ActUserEnable
	if disabled {
		at, action = time.Now(), ActUserDisable
	}
	if err := a.o.People.SetUserDisabled(r.Context(), u.ID, at); err != nil {
		a.peopleError(w, action, err)
		return u, false
	}
	if disabled {
		if err := a.o.Auth.RevokeUser(r.Context(), u.ID, nil, nil); err != nil {
			// The user is disabled: every request checks that. Only the
			// sessions' rows and the open WebSockets (re-checked on a timer)
			// outlive this error.
			a.o.Logger.Warn("end the sessions of a disabled user", "user", u.Username, "err", err)
		}
	}
	a.auditPeople(r, action, u.Username, orgOfBindings(s, bs), "", map[string]any{"user_id": u.ID})
	u.DisabledAt = at
	return u, true
}

// disableUser serves POST /api/v1/users/{id}/disable, enableUser …/enable.
func (a *api) disableUser(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, bs, s, ok := a.target(w, r, true)
		if !ok {
			return
		}
		p, _ := auth.FromContext(r.Context())
		if u, ok = a.setDisabled(w, r, u, bs, s, disabled); ok {
			writeJSON(w, http.StatusOK, viewFor(p, s, u, bs))
		}
	}
}

// deleteUser serves DELETE /api/v1/users/{id}.
func (a *api) deleteUser(w http.ResponseWriter, r *http.Request) {
	u, bs, s, ok := a.target(w, r, true)
	if !ok {
		return
	}
	tokens, err := a.o.People.Tokens(r.Context(), u.ID)
	if err != nil {
		a.internal(w, "list the user's tokens", err)
		return
	}
	ended, err := a.o.People.DeleteUser(r.Context(), u.ID)
	if err != nil {
		a.peopleError(w, "delete user", err)
		return
	}
	if ended == nil {
		ended = []string{}
	}
	if tokens == nil {
		tokens = []store.APIToken{}
	}
	if err := a.o.Auth.RevokeUser(r.Context(), u.ID, ended, tokens); err != nil {
		a.o.Logger.Warn("close the connections of a deleted user", "user", u.Username, "err", err)
	}
	a.auditPeople(r, ActUserDelete, u.Username, orgOfBindings(s, bs), "", map[string]any{"user_id": u.ID})
	w.WriteHeader(http.StatusNoContent)
}

// resetPassword serves POST /api/v1/users/{id}/reset-password: a new password,
// made up unless the body gives one, shown this once; the user's sessions end.
func (a *api) resetPassword(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.PasswordReset
	if !decodeStrict(w, body, &req) {
		return
	}
	u, bs, s, ok := a.target(w, r, true)
	if !ok {
		return
	}
	hash, generated, ok := a.passwordHash(w, req.Password)
	if !ok {
		return
	}
	if err := a.o.People.SetPassword(r.Context(), u.ID, hash); err != nil {
		a.peopleError(w, "reset password", err)
		return
	}
	p, _ := auth.FromContext(r.Context())
	out := wire.PasswordResetDone{User: viewFor(p, s, u, bs), Password: generated}
	ended := 0
	if es, ok := a.o.People.(auth.EndSessionsStore); ok {
		ids, err := es.EndSessions(r.Context(), u.ID)
		if err != nil {
			a.o.Logger.Warn("end the sessions of a user whose password was reset", "user", u.Username, "err", err)
		}
		ended = len(ids)
		if err := a.o.Auth.RevokeUser(r.Context(), u.ID, append([]string{}, ids...), []store.APIToken{}); err != nil {
			a.o.Logger.Warn("close the sessions of a user whose password was reset", "user", u.Username, "err", err)
		}
	}
	out.SessionsEnded = ended
	a.auditPeople(r, ActPasswordReset, u.Username, orgOfBindings(s, bs), "",
		map[string]any{"user_id": u.ID, "password_generated": generated != "", "sessions_ended": ended})
	writeJSON(w, http.StatusOK, out)
}

// changeOwnPassword serves POST /api/v1/me/password: the old password, then the
// new one.
func (a *api) changeOwnPassword(w http.ResponseWriter, r *http.Request) {
	pp, ok := a.people(w)
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.PasswordChange
	if !decodeStrict(w, body, &req) {
		return
	}
	if req.OldPassword == "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "old_password is required", map[string]any{"field": "old_password"})
		return
	}
	if err := auth.CheckPasswordRules(req.NewPassword); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "new_password: "+err.Error(), map[string]any{"field": "new_password"})
		return
	}
	p, _ := auth.FromContext(r.Context())
	u, err := pp.User(r.Context(), p.UserID)
	if err != nil {
		a.peopleError(w, "read user", err)
		return
	}
	match, err := a.o.Auth.VerifyPassword(r.Context(), u.PasswordHash, req.OldPassword)
	if err != nil && r.Context().Err() == nil {
		a.o.Logger.Error("check the old password", "user", u.Username, "err", err)
	}
	if !match {
		writeError(w, http.StatusForbidden, wire.CodeInvalidCredentials, "old_password is wrong", map[string]any{"field": "old_password"})
		return
	}
	hash, err := a.o.Auth.HashPassword(req.NewPassword)
	if err != nil {
		a.internal(w, "hash password", err)
		return
	}
	if err := pp.SetPassword(r.Context(), u.ID, hash); err != nil {
		a.peopleError(w, "change password", err)
		return
	}
	a.auditPeople(r, ActPasswordChange, u.Username, "", "", map[string]any{"user_id": u.ID})
	w.WriteHeader(http.StatusNoContent)
}
