package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// TestPeopleEndToEnd drives the people routes through a real HTTP server on a
// real SQLite file and a real PostgreSQL database: an admin creates a user,
// who logs in; disabling it ends its session and its token at once; a reset
// password is shown once and works; the user changes its own password; and
// every step is in the audit trail.
func TestPeopleEndToEnd(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + t.TempDir() + "/c.db" }},
		{"postgres", func(t *testing.T) string { return testdb.Postgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			peopleEndToEnd(t, b.url(t))
		})
	}
}

type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
	tok  string
}

func (c *client) do(method, path string, body any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func login(t *testing.T, base, user, pw string) (*client, int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: base, hc: &http.Client{Jar: jar}}
	code, body := c.do("POST", "/api/v1/login", map[string]string{"username": user, "password": pw})
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.Unmarshal([]byte(body), &me)
	c.csrf = me.CSRF
	return c, code
}

func peopleEndToEnd(t *testing.T, url string) {
	ctx := context.Background()
	st, err := store.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var (
		mu      sync.Mutex
		revoked []string
	)
	a := auth.New(st, auth.Options{Audit: st, HashMemoryKiB: 64, HashTime: 1,
		OnRevoke: func(kind, id string) { mu.Lock(); revoked = append(revoked, kind+":"+id); mu.Unlock() }})
	if err := st.CreateOrg(ctx, store.Org{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	created, pw, err := a.Bootstrap(ctx, "")
	if err != nil || !created {
		t.Fatal(created, err)
	}
	srv := httptest.NewServer(New(Options{Fleet: health.NewEvaluator(health.Options{}), Auth: a, People: st, Audit: st, AuditLog: st}))
	t.Cleanup(srv.Close)
	admin, code := login(t, srv.URL, "admin", pw)
	if code != 200 {
		t.Fatalf("admin login: %d", code)
	}

	// Create ana with a made-up password, shown once.
	code, body := admin.do("POST", "/api/v1/users", wire.UserCreate{Username: "ana", DisplayName: "Ana", Email: "ana@example.com",
		Bindings: []wire.Binding{{Role: "team_lead", Org: "acme"}}})
	var made wire.UserCreated
	if code != 201 || json.Unmarshal([]byte(body), &made) != nil || len(made.Password) < 20 || made.User.Email != "ana@example.com" {
		t.Fatalf("create: %d %s", code, body)
	}
	if strings.Contains(body, "argon2") {
		t.Fatalf("the answer carries the hash: %s", body)
	}
	if code, body := admin.do("GET", "/api/v1/users/ana", nil); code != 200 || strings.Contains(body, made.Password) || strings.Contains(body, "password") {
		t.Fatalf("get shows the password again: %d %s", code, body)
	}
	if _, code := login(t, srv.URL, "ana", "not her password"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	ana, code := login(t, srv.URL, "ana", made.Password)
	if code != 200 {
		t.Fatalf("ana login: %d", code)
	}
	// ana makes a token (from its session), then is disabled: both stop at once.
	code, body = ana.do("POST", "/api/v1/tokens", map[string]any{"name": "ci"})
	var tok struct {
		Secret string `json:"secret"`
		Token  struct {
			ID string `json:"id"`
		} `json:"token"`
	}
	if code != 201 || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("token: %d %s", code, body)
	}
	anaTok := &client{t: t, base: srv.URL, hc: http.DefaultClient, tok: tok.Secret}
	if code, _ := anaTok.do("GET", "/api/v1/me", nil); code != 200 {
		t.Fatalf("token before disable: %d", code)
	}
	if code, body := admin.do("POST", "/api/v1/users/ana/disable", nil); code != 200 || !strings.Contains(body, `"disabled":true`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	for name, c := range map[string]*client{"session": ana, "token": anaTok} {
		if code, body := c.do("GET", "/api/v1/me", nil); code != 401 {
			t.Errorf("%s of a disabled user: %d %s", name, code, body)
		}
	}
	mu.Lock()
	got := strings.Join(revoked, " ")
	mu.Unlock()
	if !strings.Contains(got, "session:") || !strings.Contains(got, "token:"+tok.Token.ID) {
		t.Errorf("OnRevoke got %q, want ana's session and token (their WebSockets close)", got)
	}
	if _, code := login(t, srv.URL, "ana", made.Password); code != 401 {
		t.Fatalf("a disabled user logs in: %d", code)
	}
	if code, body := admin.do("POST", "/api/v1/users/ana/enable", nil); code != 200 {
		t.Fatalf("enable: %d %s", code, body)
	}
	if code, _ := anaTok.do("GET", "/api/v1/me", nil); code != 200 {
		t.Fatalf("token after enable: %d", code)
	}
	if code, _ := ana.do("GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("the session a disable ended came back: %d", code)
	}

	// A reset password is answered once and replaces the old one.
	code, body = admin.do("POST", "/api/v1/users/ana/reset-password", nil)
	var reset wire.PasswordResetDone
	if code != 200 || json.Unmarshal([]byte(body), &reset) != nil || reset.Password == "" || reset.Password == made.Password {
		t.Fatalf("reset: %d %s", code, body)
	}
	if _, code := login(t, srv.URL, "ana", made.Password); code != 401 {
		t.Fatalf("the old password after a reset: %d", code)
	}
	ana, code = login(t, srv.URL, "ana", reset.Password)
	if code != 200 {
		t.Fatalf("login with the reset password: %d", code)
	}
	// ana changes its own password: the old one is required.
	if code, body := ana.do("POST", "/api/v1/me/password", wire.PasswordChange{OldPassword: "guess", NewPassword: "correct horse battery"}); code != 403 {
		t.Fatalf("wrong old password: %d %s", code, body)
	}
	if code, body := ana.do("POST", "/api/v1/me/password", wire.PasswordChange{OldPassword: reset.Password, NewPassword: "short"}); code != 400 {
		t.Fatalf("short new password: %d %s", code, body)
	}
	if code, body := ana.do("POST", "/api/v1/me/password", wire.PasswordChange{OldPassword: reset.Password, NewPassword: "correct horse battery"}); code != 204 {
		t.Fatalf("change: %d %s", code, body)
	}
	if _, code := login(t, srv.URL, "ana", "correct horse battery"); code != 200 {
		t.Fatalf("login with the new password: %d", code)
	}
	if code, _ := ana.do("POST", "/api/v1/logout", nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := anaTok.do("DELETE", "/api/v1/tokens/"+tok.Token.ID, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	// Orgs, teams, bindings.
	for _, step := range []struct {
		method, path string
		body         any
		code         int
	}{
		{"POST", "/api/v1/orgs/acme/teams", wire.TeamCreate{ID: "red", Name: "Red"}, 201},
		{"POST", "/api/v1/users/ana/bindings", wire.Binding{Role: "viewer", Org: "acme", Team: "red"}, 201},
		{"POST", "/api/v1/users/ana/bindings", wire.Binding{Role: "viewer", Org: "acme", Team: "red"}, 409},
		{"DELETE", "/api/v1/users/ana/bindings?role=viewer&org=acme&team=red", nil, 204},
		{"PATCH", "/api/v1/orgs/acme", wire.NameChange{Name: ptr("Acme Corp")}, 200},
		{"DELETE", "/api/v1/orgs/acme/teams/red", nil, 204},
		{"DELETE", "/api/v1/users/ana", nil, 204},
		{"DELETE", "/api/v1/users/admin", nil, 409},
	} {
		if code, body := admin.do(step.method, step.path, step.body); code != step.code {
			t.Fatalf("%s %s: %d %s, want %d", step.method, step.path, code, body, step.code)
		}
	}

	// The audit trail has every step, the failed login with the username and
	// never a password.
	code, body = admin.do("GET", "/api/v1/audit?limit=1000", nil)
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	for _, p := range []string{made.Password, reset.Password, "correct horse battery", "not her password", "guess"} {
		if strings.Contains(body, p) {
			t.Fatalf("the audit trail holds a password: %s", body)
		}
	}
	var page wire.Page[wire.AuditEntry]
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range page.Data {
		seen[e.Action+" "+e.Target]++
		if e.Action == auth.ActionLoginFailed && (e.Actor.Name != "ana" || e.Result != store.ResultFailed || e.Error != "wrong password" && e.Error != "user disabled") {
			t.Errorf("failed login row: %+v", e)
		}
	}
	for _, want := range []string{"login admin", "login ana", "login-failed ana", "logout ana", "token-create ana", "token-revoke ana",
		"user-create ana", "user-disable ana", "user-enable ana", "user-reset-password ana", "password-change ana",
		"team-create team:acme/red", "role-bind ana", "role-unbind ana", "org-update org:acme", "team-delete team:acme/red", "user-delete ana"} {
		if seen[want] == 0 {
			t.Errorf("no audit row %q; have %v", want, seen)
		}
	}
	if seen["login-failed ana"] < 3 {
		t.Errorf("failed logins audited %d times, want 3 (wrong, disabled, old password)", seen["login-failed ana"])
	}
}

func ptr[T any](v T) *T { return &v }
