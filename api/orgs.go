package api

import (
	"net/http"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// The org and team routes: GET/POST /orgs, GET/PATCH/DELETE /orgs/{org},
// GET/POST /orgs/{org}/teams, GET/PATCH/DELETE /orgs/{org}/teams/{team}. A
// super admin creates and deletes orgs; an org admin renames its org and
// manages its teams; anyone sees the orgs and teams it has a role in. An org
// out of the caller's sight answers 404.

func viewOrg(o store.Org) wire.Org {
	return wire.Org{ID: o.ID, Name: o.Name, CreatedAt: o.CreatedAt.UTC()}
}

func viewTeam(t store.Team) wire.Team {
	return wire.Team{Org: t.Org, ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()}
}

// seesOrg reports whether p has a role in org (or everywhere).
func seesOrg(p *auth.Principal, org string) bool {
	for _, b := range p.Bindings {
		if b.Role == auth.SuperAdmin || b.Org == org {
			return true
		}
	}
	return false
}

// listOrgs serves GET /api/v1/orgs.
func (a *api) listOrgs(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r) {
		return
	}
	pp, ok := a.people(w)
	if !ok {
		return
	}
	p, _ := auth.FromContext(r.Context())
	os, err := pp.Orgs(r.Context())
	if err != nil {
		a.internal(w, "list orgs", err)
		return
	}
	out := wire.List[wire.Org]{Data: []wire.Org{}}
	for _, o := range os {
		if seesOrg(p, o.ID) {
			out.Data = append(out.Data, viewOrg(o))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleOrg is org {org} if the caller sees it (404 otherwise); admin also
// requires that the caller administers it (403).
func (a *api) visibleOrg(w http.ResponseWriter, r *http.Request, admin bool) (store.Org, bool) {
	pp, ok := a.people(w)
	if !ok {
		return store.Org{}, false
	}
	p, _ := auth.FromContext(r.Context())
	id := r.PathValue("org")
	if !seesOrg(p, id) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "org not found", nil)
		return store.Org{}, false
	}
	o, err := pp.Org(r.Context(), id)
	if err != nil {
		a.peopleError(w, "read org", err)
		return store.Org{}, false
	}
	if admin && !p.CanAdmin(id) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "administering org "+id+" is for its org_admin and super_admin", nil)
		return store.Org{}, false
	}
	return o, true
}

// getOrg serves GET /api/v1/orgs/{org}.
func (a *api) getOrg(w http.ResponseWriter, r *http.Request) {
	if o, ok := a.visibleOrg(w, r, false); ok {
		writeJSON(w, http.StatusOK, viewOrg(o))
	}
}

// readCreate reads the body of POST /orgs and POST /orgs/{org}/teams.
func readCreate(w http.ResponseWriter, r *http.Request, what string) (wire.OrgCreate, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return wire.OrgCreate{}, false
	}
	var req wire.OrgCreate
	if !decodeStrict(w, body, &req) {
		return req, false
	}
	if msg := checkScopeID(what, req.ID); msg != "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "id: "+msg, map[string]any{"field": "id"})
		return req, false
	}
	if msg := checkText(req.Name, maxDisplayName); msg != "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "name: "+msg, map[string]any{"field": "name"})
		return req, false
	}
	return req, true
}

// readRename reads the body of PATCH /orgs/{org} and …/teams/{team}.
func readRename(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return "", false
	}
	var req wire.NameChange
	if !decodeStrict(w, body, &req) {
		return "", false
	}
	if req.Name == nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "nothing to change: give name", map[string]any{"field": "name"})
		return "", false
	}
	if msg := checkText(*req.Name, maxDisplayName); msg != "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "name: "+msg, map[string]any{"field": "name"})
		return "", false
	}
	return *req.Name, true
}

func superOnly(w http.ResponseWriter, r *http.Request, what string) bool {
	p, _ := auth.FromContext(r.Context())
	if !p.IsSuperAdmin() {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, what+" is for super_admin", nil)
		return false
	}
	return true
}

// createOrg serves POST /api/v1/orgs (super_admin).
func (a *api) createOrg(w http.ResponseWriter, r *http.Request) {
	pp, ok := a.people(w)
	if !ok || !superOnly(w, r, "creating an org") {
		return
	}
	req, ok := readCreate(w, r, "org")
	if !ok {
		return
	}
	if err := pp.CreateOrg(r.Context(), store.Org{ID: req.ID, Name: req.Name}); err != nil {
		a.peopleError(w, "create org", err)
		return
	}
	o, err := pp.Org(r.Context(), req.ID)
	if err != nil {
		a.peopleError(w, "read org", err)
		return
	}
	a.auditPeople(r, ActOrgCreate, "org:"+o.ID, o.ID, "", map[string]any{"name": o.Name})
	writeJSON(w, http.StatusCreated, viewOrg(o))
}

// updateOrg serves PATCH /api/v1/orgs/{org} {name}.
func (a *api) updateOrg(w http.ResponseWriter, r *http.Request) {
	name, ok := readRename(w, r)
	if !ok {
		return
	}
	o, ok := a.visibleOrg(w, r, true)
	if !ok {
		return
	}
	if err := a.o.People.RenameOrg(r.Context(), o.ID, name); err != nil {
		a.peopleError(w, "rename org", err)
		return
	}
	a.auditPeople(r, ActOrgUpdate, "org:"+o.ID, o.ID, "", map[string]any{"name": name, "old_name": o.Name})
	o.Name = name
	writeJSON(w, http.StatusOK, viewOrg(o))
}

// deleteOrg serves DELETE /api/v1/orgs/{org} (super_admin): its teams and role
// bindings go with it.
func (a *api) deleteOrg(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.people(w); !ok || !superOnly(w, r, "deleting an org") {
		return
	}
	o, ok := a.visibleOrg(w, r, true)
	if !ok {
		return
	}
	if err := a.o.People.DeleteOrg(r.Context(), o.ID); err != nil {
		a.peopleError(w, "delete org", err)
		return
	}
	a.auditPeople(r, ActOrgDelete, "org:"+o.ID, o.ID, "", map[string]any{"name": o.Name})
	w.WriteHeader(http.StatusNoContent)
}

// listTeams serves GET /api/v1/orgs/{org}/teams.
func (a *api) listTeams(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r) {
		return
	}
	o, ok := a.visibleOrg(w, r, false)
	if !ok {
		return
	}
	ts, err := a.o.People.Teams(r.Context(), o.ID)
	if err != nil {
		a.internal(w, "list teams", err)
		return
	}
	out := wire.List[wire.Team]{Data: make([]wire.Team, len(ts))}
	for i, t := range ts {
		out.Data[i] = viewTeam(t)
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleTeam is team {team} of a visible org {org}.
func (a *api) visibleTeam(w http.ResponseWriter, r *http.Request, admin bool) (store.Team, bool) {
	o, ok := a.visibleOrg(w, r, admin)
	if !ok {
		return store.Team{}, false
	}
	t, err := a.o.People.Team(r.Context(), o.ID, r.PathValue("team"))
	if err != nil {
		a.peopleError(w, "read team", err)
		return store.Team{}, false
	}
	return t, true
}

// getTeam serves GET /api/v1/orgs/{org}/teams/{team}.
func (a *api) getTeam(w http.ResponseWriter, r *http.Request) {
	if t, ok := a.visibleTeam(w, r, false); ok {
		writeJSON(w, http.StatusOK, viewTeam(t))
	}
}

// createTeam serves POST /api/v1/orgs/{org}/teams {id, name}.
func (a *api) createTeam(w http.ResponseWriter, r *http.Request) {
	req, ok := readCreate(w, r, "team")
	if !ok {
		return
	}
	o, ok := a.visibleOrg(w, r, true)
	if !ok {
		return
	}
	if err := a.o.People.CreateTeam(r.Context(), store.Team{Org: o.ID, ID: req.ID, Name: req.Name}); err != nil {
		a.peopleError(w, "create team", err)
		return
	}
	t, err := a.o.People.Team(r.Context(), o.ID, req.ID)
	if err != nil {
		a.peopleError(w, "read team", err)
		return
	}
	a.auditPeople(r, ActTeamCreate, "team:"+o.ID+"/"+t.ID, o.ID, t.ID, map[string]any{"name": t.Name})
	writeJSON(w, http.StatusCreated, viewTeam(t))
}

// updateTeam serves PATCH /api/v1/orgs/{org}/teams/{team} {name}.
func (a *api) updateTeam(w http.ResponseWriter, r *http.Request) {
	name, ok := readRename(w, r)
	if !ok {
		return
	}
	t, ok := a.visibleTeam(w, r, true)
	if !ok {
		return
	}
	if err := a.o.People.RenameTeam(r.Context(), t.Org, t.ID, name); err != nil {
		a.peopleError(w, "rename team", err)
		return
	}
	a.auditPeople(r, ActTeamUpdate, "team:"+t.Org+"/"+t.ID, t.Org, t.ID, map[string]any{"name": name, "old_name": t.Name})
	t.Name = name
	writeJSON(w, http.StatusOK, viewTeam(t))
}

// deleteTeam serves DELETE /api/v1/orgs/{org}/teams/{team}: its role bindings
// go with it.
func (a *api) deleteTeam(w http.ResponseWriter, r *http.Request) {
	t, ok := a.visibleTeam(w, r, true)
	if !ok {
		return
	}
	if err := a.o.People.DeleteTeam(r.Context(), t.Org, t.ID); err != nil {
		a.peopleError(w, "delete team", err)
		return
	}
	a.auditPeople(r, ActTeamDelete, "team:"+t.Org+"/"+t.ID, t.Org, t.ID, map[string]any{"name": t.Name})
	w.WriteHeader(http.StatusNoContent)
}
