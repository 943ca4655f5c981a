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

// KeyRotator reports and rotates the server's signing key; *control.Dispatcher is one.
type KeyRotator interface {
	RotationStatus(ctx context.Context) (wire.Rotation, error)
	StartRotation(ctx context.Context, actor store.Actor, remote string) (wire.Rotation, error)
	CompleteRotation(ctx context.Context, actor store.Actor, remote string, force bool) (wire.Rotation, error)
}

var _ KeyRotator = (*control.Dispatcher)(nil)

// keys serves GET /api/v1/keys (super admin): the active key, and during a
// rotation the next one with where each agent is.
func (a *api) keys(w http.ResponseWriter, r *http.Request) {
	if !a.superAdmin(w, r) {
		return
	}
	st, err := a.o.Keys.RotationStatus(r.Context())
	if err != nil {
		a.internal(w, "read the server keys", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// rotateKey serves POST /api/v1/keys/rotate: start a rotation, or send the next
// key again to the agents that missed it.
func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) {
	if !a.superAdmin(w, r) {
		return
	}
	if _, ok := readBody(w, r); !ok {
		return
	}
	actor, remote := actorOf(r)
	st, err := a.o.Keys.StartRotation(r.Context(), actor, remote)
	if err != nil {
		a.actError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

// completeRotation serves POST /api/v1/keys/rotate/complete {force}.
func (a *api) completeRotation(w http.ResponseWriter, r *http.Request) {
	if !a.superAdmin(w, r) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Force bool `json:"force"`
	}
	if !decodeStrict(w, body, &req) {
		return
	}
	actor, remote := actorOf(r)
	st, err := a.o.Keys.CompleteRotation(r.Context(), actor, remote, req.Force)
	switch {
	case errors.Is(err, control.ErrNoRotation):
		writeError(w, http.StatusConflict, wire.CodeConflict, err.Error(), nil)
	case err != nil && st.InProgress:
		writeError(w, http.StatusConflict, wire.CodeConflict, err.Error(), map[string]any{"rotation": st})
	case err != nil:
		a.internal(w, "complete a key rotation", err)
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

func (a *api) superAdmin(w http.ResponseWriter, r *http.Request) bool {
	p, _ := auth.FromContext(r.Context())
	if !p.IsSuperAdmin() {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "the server's keys are for super admins only", nil)
		return false
	}
	if a.o.Keys == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "control is not available on this server", nil)
		return false
	}
	return true
}
