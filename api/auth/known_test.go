package auth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// TestStoreUnavailable stops the store's PostgreSQL: reads with a credential
// that authenticated recently go on (the API serves them from memory), anything
// else is a 503 that says the store is unavailable — never a 500 — and a
// credential revoked before the outage stays refused.
func TestStoreUnavailable(t *testing.T) {
	checkLeaks(t)
	pg := testdb.PostgresServer(t)
	e := newEnv(t, pg.URL(t), Options{})
	ana := e.user("ana", "pw", store.RoleBinding{Role: store.RoleViewer, Org: "acme"})
	c, csrf := e.login("ana", "pw")
	used, _ := e.createToken(c, csrf, map[string]any{"name": "used"})
	unused, _ := e.createToken(c, csrf, map[string]any{"name": "unused"})
	revoked, revokedID := e.createToken(c, csrf, map[string]any{"name": "revoked"})
	behind, behindID := e.createToken(c, csrf, map[string]any{"name": "revoked behind the server's back"})
	for _, tok := range []string{used, revoked, behind} {
		if r := e.do(req{method: "GET", path: "/api/v1/echo", token: tok}); r.status != http.StatusOK {
			t.Fatalf("echo before the outage: %d %s", r.status, r.raw)
		}
	}
	if r := e.do(req{method: "GET", path: "/api/v1/echo", cookie: c}); r.status != http.StatusOK {
		t.Fatalf("echo with the session before the outage: %d %s", r.status, r.raw)
	}
	if r := e.do(req{method: "DELETE", path: "/api/v1/tokens/" + revokedID, cookie: c, csrf: csrf}); r.status != http.StatusOK && r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}

	// Revoked in the store by someone else: refused at its next use, and
	// from then on not taken on trust either.
	if err := e.st.RevokeToken(context.Background(), ana.ID, behindID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/echo", token: behind}), http.StatusUnauthorized, wire.CodeUnauthenticated)

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	for _, x := range []struct {
		name string
		req  req
	}{
		{"read with a token used before", req{method: "GET", path: "/api/v1/echo", token: used}},
		{"read with the session", req{method: "GET", path: "/api/v1/echo", cookie: c}},
	} {
		r := e.do(x.req)
		if r.status != http.StatusOK || r.body["user"] != "ana" {
			t.Errorf("%s during the outage: %d %s, want 200 as ana", x.name, r.status, r.raw)
		}
	}
	for _, x := range []struct {
		name string
		req  req
	}{
		{"read with a token never used", req{method: "GET", path: "/api/v1/echo", token: unused}},
		{"read with a token revoked before", req{method: "GET", path: "/api/v1/echo", token: revoked}},
		{"read with a token refused since", req{method: "GET", path: "/api/v1/echo", token: behind}},
		{"write with the session", req{method: "POST", path: "/api/v1/tokens", cookie: c, csrf: csrf, body: map[string]any{"name": "x"}}},
		{"write with a token used before", req{method: "POST", path: "/api/v1/echo", token: used}},
		{"login", req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "ana", "password": "pw"}}},
	} {
		t.Run(x.name, func(t *testing.T) {
			r := e.do(x.req)
			wantError(t, r, http.StatusServiceUnavailable, wire.CodeUnavailable)
			if r.header.Get("Retry-After") == "" || r.body["details"].(map[string]any)["reason"] != "the database is unreachable" {
				t.Errorf("no Retry-After or reason: %v %s", r.header, r.raw)
			}
		})
	}
	// A credential checked longer ago than knownFor is not taken on trust.
	e.clock.Advance(knownFor)
	wantError(t, e.do(req{method: "GET", path: "/api/v1/echo", token: used}), http.StatusServiceUnavailable, wire.CodeUnavailable)
	if lines := e.logs.lines("level=ERROR"); len(lines) > 0 {
		t.Errorf("an unavailable store is no error of corral's: %q", lines)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/echo", token: unused}); r.status != http.StatusOK {
		t.Fatalf("echo once the store is back: %d %s", r.status, r.raw)
	}
}
