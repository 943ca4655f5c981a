package server

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebSocketClosedWhenUserDisabled: disabling a user closes the WebSockets
// of its session and of its API token at once, not at the next re-check.
func TestWebSocketClosedWhenUserDisabled(t *testing.T) {
	_, cfgPath, _ := setup(t)
	const password = "correct horse battery staple"
	t.Setenv("CORRAL_ADMIN_PASSWORD", password)
	storage := "sqlite:" + filepath.Join(t.TempDir(), "corral.db")
	srv := startServer(t, cfgPath, storage, func(o *Options) { o.WSRecheckInterval = time.Hour })
	wsURL := "ws" + strings.TrimPrefix(srv.base, "http") + "/api/v1/ws"
	call := func(hdr http.Header, csrf, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.base+path, strings.NewReader(body))
		req.Header = hdr.Clone()
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin, adminCSRF := loginCSRF(t, srv.base, password)
	if code, body := call(admin, adminCSRF, "POST", "/api/v1/users",
		`{"username":"ana","password":"ana's password","bindings":[{"role":"viewer","org":"default"}]}`); code != 201 {
		t.Fatalf("create ana: %d %s", code, body)
	}
	resp, err := http.Post(srv.base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"ana","password":"ana's password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	ana := http.Header{}
	for _, c := range resp.Cookies() {
		ana.Add("Cookie", c.Name+"="+c.Value)
	}
	code, body := call(ana, me.CSRF, "POST", "/api/v1/tokens", `{"name":"ws"}`)
	var tok struct{ Secret string }
	if json.Unmarshal([]byte(body), &tok); code != 201 || tok.Secret == "" {
		t.Fatalf("ana's token: %d %s", code, body)
	}
	bySession := dialLive(t, wsURL, ana)
	byToken := dialLive(t, wsURL, http.Header{"Authorization": {"Bearer " + tok.Secret}})
	if code, body := call(admin, adminCSRF, "POST", "/api/v1/users/ana/disable", ""); code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	// The re-check runs hourly here: only the disable itself can close them.
	wantClosed(t, bySession, 2*time.Second, "logged out")
	wantClosed(t, byToken, 2*time.Second, "credential revoked")
}
