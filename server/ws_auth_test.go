package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketClosedWithItsCredential: a WebSocket lives no longer than the
// credential it was opened with — closed with 1008 at once on token revocation
// and logout, and by the periodic re-check once its session expires.
func TestWebSocketClosedWithItsCredential(t *testing.T) {
	_, cfgPath, _ := setup(t)
	const password = "correct horse battery staple"
	t.Setenv("CORRAL_ADMIN_PASSWORD", password)
	storage := "sqlite:" + filepath.Join(t.TempDir(), "corral.db")
	wsURL := func(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws" }

	t.Run("token revoked", func(t *testing.T) {
		srv := startServer(t, cfgPath, storage)
		hdr, csrf := loginCSRF(t, srv.base, password)
		req, _ := http.NewRequest("POST", srv.base+"/api/v1/tokens", strings.NewReader(`{"name":"ws"}`))
		req.Header = hdr.Clone()
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			Token  struct{ ID string }
			Secret string
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != 201 || tok.Secret == "" {
			t.Fatalf("create token: %d", resp.StatusCode)
		}
		bearer := http.Header{"Authorization": {"Bearer " + tok.Secret}}
		conn := dialLive(t, wsURL(srv.base), bearer)
		req, _ = http.NewRequest("DELETE", srv.base+"/api/v1/tokens/"+tok.Token.ID, nil)
		req.Header = bearer.Clone()
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("revoke token: %d", resp.StatusCode)
		}
		wantClosed(t, conn, 15*time.Second, "credential revoked")
	})

	t.Run("logout", func(t *testing.T) {
		srv := startServer(t, cfgPath, storage)
		hdr, csrf := loginCSRF(t, srv.base, password)
		conn := dialLive(t, wsURL(srv.base), hdr)
		req, _ := http.NewRequest("POST", srv.base+"/api/v1/logout", nil)
		req.Header = hdr.Clone()
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		wantClosed(t, conn, 15*time.Second, "logged out")
	})

	t.Run("session expired", func(t *testing.T) {
		srv := startServer(t, cfgPath, storage, func(o *Options) {
			// Long enough to log in and dial under -race on a loaded machine
			// (the password hash alone takes seconds there).
			o.SessionTTL = 10 * time.Second
			o.WSRecheckInterval = 200 * time.Millisecond
		})
		hdr, _ := loginCSRF(t, srv.base, password)
		conn := dialLive(t, wsURL(srv.base), hdr)
		wantClosed(t, conn, 25*time.Second, "session expired")
	})
}

// loginCSRF logs admin in and returns its session cookie and CSRF token.
func loginCSRF(t *testing.T, base, password string) (http.Header, string) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&me)
	if resp.StatusCode != 200 || me.CSRF == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	hdr := http.Header{}
	for _, c := range resp.Cookies() {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	return hdr, me.CSRF
}

// dialLive opens the WebSocket and waits for its first event, so that it is
// known to deliver before its credential ends.
func dialLive(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if _, _, err := conn.Read(ctx); err != nil {
		t.Fatalf("no event before the credential ended: %v", err)
	}
	return conn
}

// wantClosed reads until the server closes conn, which it must do within d
// with status 1008 and reason.
func wantClosed(t *testing.T, conn *websocket.Conn, d time.Duration, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	events := 0
	for {
		_, _, err := conn.Read(ctx)
		if err == nil {
			events++
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("socket not closed by the server within %s (%d events delivered meanwhile): %v", d, events, err)
		}
		if ce.Code != websocket.StatusPolicyViolation || ce.Reason != reason {
			t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Reason, websocket.StatusPolicyViolation, reason)
		}
		return
	}
}
