package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/store"
)

// BulkRunner runs bulk operations; *control.Bulk is one.
type BulkRunner interface {
	Create(ctx context.Context, r wire.BulkRequest, scope control.Scope, actor store.Actor, remote string) (wire.BulkResult, error)
	Get(ctx context.Context, id, userID string, admin bool) (wire.BulkResult, error)
	List(ctx context.Context, state, userID string, admin bool, limit int) ([]wire.BulkResult, error)
	Cancel(ctx context.Context, id string, actor store.Actor, remote string, admin bool) (wire.BulkResult, error)
}

var _ BulkRunner = (*control.Bulk)(nil)

// mayAct reports whether p may act anywhere at all.
func mayAct(p *auth.Principal) bool {
	all, scopes := scopesOf(p, true)
	return all || len(scopes) > 0
}

// bulkAction serves POST /api/v1/collectors/bulk-action.
func (a *api) bulkAction(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if !mayAct(p) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "bulk operations need team_lead or above", nil)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req wire.BulkRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	if a.o.Bulk == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "bulk operations are not available on this server", nil)
		return
	}
	actor, remote := actorOf(r)
	res, err := a.o.Bulk.Create(r.Context(), req, p, actor, remote)
	if err != nil {
		a.actError(w, err)
		return
	}
	status := http.StatusOK
	if res.State == store.BulkScheduled {
		status = http.StatusAccepted
	}
	writeJSON(w, status, res)
}

// bulkActions serves GET /api/v1/bulk-actions?state=&limit=: the caller's own
// operations (a super admin sees everyone's).
func (a *api) bulkActions(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	state := r.URL.Query().Get("state")
	switch state {
	case "", store.BulkScheduled, store.BulkRunning, store.BulkDone, store.BulkCancelled, store.BulkFailed:
	default:
		badParam(w, "state", "want scheduled, running, done, cancelled or failed")
		return
	}
	limit, err := intParam(r.URL.Query(), "limit", 100, 1, 1000)
	if err != nil {
		badParam(w, "limit", err.Error())
		return
	}
	out := wire.List[wire.BulkResult]{Data: []wire.BulkResult{}}
	if a.o.Bulk != nil {
		list, err := a.o.Bulk.List(r.Context(), state, p.UserID, p.IsSuperAdmin(), limit)
		if err != nil {
			a.internal(w, "list bulk operations", err)
			return
		}
		out.Data = append(out.Data, list...)
	}
	writeJSON(w, http.StatusOK, out)
}

// bulkGet serves GET /api/v1/bulk-actions/{bulk}.
func (a *api) bulkGet(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if a.o.Bulk == nil {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "bulk operation not found", nil)
		return
	}
	res, err := a.o.Bulk.Get(r.Context(), r.PathValue("bulk"), p.UserID, p.IsSuperAdmin())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "bulk operation not found", nil)
		return
	}
	if err != nil {
		a.internal(w, "read a bulk operation", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// bulkCancel serves POST /api/v1/bulk-actions/{bulk}/cancel.
func (a *api) bulkCancel(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if a.o.Bulk == nil || !mayAct(p) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "bulk operation not found", nil)
		return
	}
	actor, remote := actorOf(r)
	res, err := a.o.Bulk.Cancel(r.Context(), r.PathValue("bulk"), actor, remote, p.IsSuperAdmin())
	var conflict *control.Conflict
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "bulk operation not found", nil)
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, wire.CodeConflict, conflict.Msg, map[string]any{"state": res.State})
	case err != nil:
		a.internal(w, "cancel a bulk operation", err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}
