package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/store"
)

// Registrar registers collectors and brings archived ones back;
// *control.Lifecycle is one.
type Registrar interface {
	Register(ctx context.Context, r wire.RegisterRequest, actor store.Actor, remote string) (wire.Registration, error)
	Unregister(ctx context.Context, r control.UnregisterRequest, actor store.Actor, remote string) (store.ArchivedCollector, error)
	Reregister(ctx context.Context, r wire.ReregisterRequest, actor store.Actor, remote string) (wire.Registration, store.ArchivedCollector, error)
}

// Archives reads the unregistered collectors; *control.Lifecycle is one.
type Archives interface {
	Archived(ctx context.Context) ([]store.ArchivedCollector, error)
	Archive(ctx context.Context, id string) (store.ArchivedCollector, error)
	Unregistered(collector string) (store.ArchivedCollector, bool)
	Dropped() []control.Dropped
}

var (
	_ Registrar = (*control.Lifecycle)(nil)
	_ Archives  = (*control.Lifecycle)(nil)
)

// decodeStrict decodes body (read by readBody, which refused text that
// decoding would change) into v; unknown fields are a 400.
func decodeStrict(w http.ResponseWriter, body []byte, v any) bool {
	if err := strictJSON(body, v); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "invalid request body: "+err.Error(), nil)
		return false
	}
	return true
}

// lifecycleError answers an error of the lifecycle.
func (a *api) lifecycleError(w http.ResponseWriter, what string, err error) {
	var bad *control.BadRequest
	var conflict *control.Conflict
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, bad.Error(), map[string]any{"field": bad.Field})
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, wire.CodeConflict, conflict.Msg, nil)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "not found", nil)
	default:
		a.internal(w, what, err)
	}
}

// register serves POST /api/v1/collectors/register.
func (a *api) register(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.RegisterRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	p, _ := auth.FromContext(r.Context())
	if !p.CanAct(orgOr(req.Org, a.o.DefaultOrg), req.Team) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden,
			fmt.Sprintf("you may not register collectors in org %q team %q (team_lead or above there is needed)", orgOr(req.Org, a.o.DefaultOrg), req.Team), nil)
		return
	}
	if a.o.Registrar == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "registration is not available on this server", nil)
		return
	}
	actor, remote := actorOf(r)
	reg, err := a.o.Registrar.Register(r.Context(), wire.RegisterRequest(req), actor, remote)
	if err != nil {
		a.lifecycleError(w, "register a collector", err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.Registered{Success: true, Message: "registered; the scrape token is shown once: put agent_config on the agent",
		Registration: reg})
}

// unregister serves DELETE /api/v1/collectors/{id}.
func (a *api) unregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.actable(w, r, id); !ok {
		return
	}
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var body wire.UnregisterRequest
	if !decodeStrict(w, raw, &body) {
		return
	}
	req := unregisterRequest(id, body)
	// The same options may come as query parameters: some clients and proxies
	// drop the body of a DELETE.
	qs := r.URL.Query()
	if v := qs.Get("reason"); v != "" {
		req.Reason = v
	}
	if v := qs.Get("archive_metrics"); v != "" {
		x, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, "archive_metrics", "want true or false")
			return
		}
		req.ArchiveMetrics = &x
	}
	if v := qs.Get("delete_audit"); v != "" {
		x, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, "delete_audit", "want true or false")
			return
		}
		req.DeleteAudit = x
	}
	if v := qs.Get("retention_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			badParam(w, "retention_days", "want a number of days")
			return
		}
		req.RetentionDays = n
	}
	if a.o.Registrar == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "unregistration is not available on this server", nil)
		return
	}
	actor, remote := actorOf(r)
	arc, err := a.o.Registrar.Unregister(r.Context(), req, actor, remote)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, id)
		return
	}
	if err != nil {
		a.lifecycleError(w, "unregister a collector", err)
		return
	}
	msg := fmt.Sprintf("unregistered; %d records archived until %s", arc.Records, arc.RetainUntil.UTC().Format(time.RFC3339))
	if !arc.MetricsArchived {
		msg = fmt.Sprintf("unregistered; %d records deleted", arc.Records)
	}
	if arc.Provider != "registry" {
		msg += fmt.Sprintf("; %s still lists it: corral ignores it until it is re-registered", arc.Provider)
	}
	count := int64(0)
	if arc.MetricsArchived {
		count = arc.Records
	}
	writeJSON(w, http.StatusOK, wire.Unregistered{Success: true, Message: msg, ArchivedCount: count, Archive: a.viewArchive(arc, nil)})
}

// archived serves GET /api/v1/collectors/archived: the unregistered collectors
// in the caller's scope, newest first.
func (a *api) archived(w http.ResponseWriter, r *http.Request) {
	out := wire.List[wire.Archive]{Data: []wire.Archive{}}
	if a.o.Archives == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	list, err := a.o.Archives.Archived(r.Context())
	if err != nil {
		a.internal(w, "list archived collectors", err)
		return
	}
	discovered := map[string]bool{}
	for _, d := range a.o.Archives.Dropped() {
		discovered[d.Target.Collector] = true
	}
	p, _ := auth.FromContext(r.Context())
	for _, arc := range list {
		if p.CanRead(orgOr(arc.Org, a.o.DefaultOrg), arc.Team) {
			out.Data = append(out.Data, a.viewArchive(arc, discovered))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// reregister serves POST /api/v1/collectors/re-register.
func (a *api) reregister(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.ReregisterRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	if req.ArchiveID == "" {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "archived_collector_id: required (the id from GET /api/v1/collectors/archived)",
			map[string]any{"field": "archived_collector_id"})
		return
	}
	if a.o.Archives == nil || a.o.Registrar == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "re-registration is not available on this server", nil)
		return
	}
	arc, err := a.o.Archives.Archive(r.Context(), req.ArchiveID)
	p, _ := auth.FromContext(r.Context())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.CanRead(orgOr(arc.Org, a.o.DefaultOrg), arc.Team)) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "archived collector not found", nil)
		return
	}
	if err != nil {
		a.internal(w, "read an archive", err)
		return
	}
	if !p.CanAct(orgOr(arc.Org, a.o.DefaultOrg), arc.Team) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "your role may read this collector but not re-register it", nil)
		return
	}
	actor, remote := actorOf(r)
	reg, back, err := a.o.Registrar.Reregister(r.Context(), wire.ReregisterRequest(req), actor, remote)
	if err != nil {
		a.lifecycleError(w, "re-register a collector", err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Reregistered{Success: true, Message: "re-registered; it is scraped again from the next discovery update",
		Registration: reg, Archive: a.viewArchive(back, nil)})
}

// strictJSON decodes one JSON object into v; unknown fields are errors.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}
