package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// backends are the two stores every HTTP test runs against.
var backends = []struct {
	name string
	url  func(t testing.TB) string
}{
	{store.DialectSQLite, func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "corral.db") }},
	{store.DialectPostgres, func(t testing.TB) string { return testdb.Postgres(t) }},
}

// forBackends runs test once per backend, in parallel.
func forBackends(t *testing.T, test func(t *testing.T, e *env)) {
	// Checked once both parallel subtests are done: checked in each, one would
	// count the other's goroutines as its own leaks.
	checkLeaks(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, b.url(t), Options{}))
		})
	}
}

// env is an Authenticator over a real store behind a real HTTP server.
type env struct {
	t     testing.TB
	st    *store.Store
	a     *Authenticator
	srv   *httptest.Server
	clock *clock
	logs  *logBuffer
}

var t0 = time.Date(2025, 7, 1, 8, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, url string, opts Options) *env {
	t.Helper()
	st, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, st: st, clock: &clock{now: t0}, logs: &logBuffer{}}
	opts.Now = e.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.ClientIP == nil {
		// Tests play several clients from one address.
		opts.ClientIP = func(r *http.Request) string {
			if ip := r.Header.Get("X-Test-Client"); ip != "" {
				return ip
			}
			return remoteHost(r)
		}
	}
	e.a = New(st, opts)
	e.a.params = testParams
	mux := http.NewServeMux()
	e.a.Routes(mux)
	// A stand-in for the rest of the API: echoes the principal.
	echo := e.a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"user": p.Username, "via": p.Via})
	}))
	mux.Handle("/api/v1/echo", echo)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	for _, org := range []string{"acme", "zeta"} {
		if err := st.CreateOrg(context.Background(), store.Org{ID: org}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateTeam(context.Background(), store.Team{Org: "acme", ID: "web"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// user creates a user with a cheaply hashed password.
func (e *env) user(name, pw string, bs ...store.RoleBinding) store.User {
	e.t.Helper()
	h, err := hashPassword(pw, testParams)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.st.CreateUser(context.Background(), store.User{Username: name, PasswordHash: h, CreatedAt: e.clock.Now()}, bs...)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// req is one request; zero fields are left out.
type req struct {
	method, path string
	body         any
	cookie       *http.Cookie
	csrf         string
	token        string
	header       map[string]string
}

// resp is a response with its body decoded.
type resp struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
	cookie *http.Cookie // the session cookie it sets, if any
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.cookie != nil {
		hr.AddCookie(&http.Cookie{Name: r.cookie.Name, Value: r.cookie.Value})
	}
	if r.csrf != "" {
		hr.Header.Set(CSRFHeader, r.csrf)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	hres, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer hres.Body.Close()
	raw, err := io.ReadAll(hres.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := resp{status: hres.StatusCode, header: hres.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: body %q is not a JSON object: %v", r.method, r.path, raw, err)
		}
	}
	for _, c := range hres.Cookies() {
		if c.Name == DefaultCookieName {
			out.cookie = c
		}
	}
	return out
}

// login logs in and returns the session cookie and CSRF token.
func (e *env) login(user, pw string) (*http.Cookie, string) {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": user, "password": pw}})
	if r.status != http.StatusOK || r.cookie == nil {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	return r.cookie, r.body["csrf_token"].(string)
}

// createToken creates an API token through the API and returns its secret and ID.
func (e *env) createToken(c *http.Cookie, csrf string, body any) (secret, id string) {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/api/v1/tokens", cookie: c, csrf: csrf, body: body})
	if r.status != http.StatusCreated {
		e.t.Fatalf("create token: %d %s", r.status, r.raw)
	}
	return r.body["secret"].(string), r.body["token"].(map[string]any)["id"].(string)
}

// wantError checks status and the JSON error shape.
func wantError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if r.body["code"] != code {
		t.Fatalf("code %v, want %q; body %s", r.body["code"], code, r.raw)
	}
	if msg, _ := r.body["error"].(string); msg == "" {
		t.Fatalf("no error message: %s", r.raw)
	}
	if _, ok := r.body["details"].(map[string]any); !ok {
		t.Fatalf("details is not an object: %s", r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestLogin(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		const pw = "s3cret-pässword"
		u := e.user("ana", pw, store.RoleBinding{Role: store.RoleTeamLead, Org: "acme", Team: "web"})
		r := e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "ana", "password": pw}})
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.raw)
		}
		c := r.cookie
		switch {
		case c == nil:
			t.Fatal("no session cookie")
		case !c.HttpOnly, c.SameSite != http.SameSiteLaxMode, c.Path != "/", c.Secure:
			t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure by default", c)
		case c.MaxAge != int(DefaultSessionTTL/time.Second), len(c.Value) < 43:
			t.Fatalf("cookie %+v: want Max-Age 12h and a 256-bit secret", c)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q", cc)
		}
		csrf, _ := r.body["csrf_token"].(string)
		user, _ := r.body["user"].(map[string]any)
		if csrf == "" || user["username"] != "ana" || user["id"] != u.ID || r.body["via"] != "session" ||
			r.body["expires"] != t0.Add(12*time.Hour).Format(time.RFC3339) {
			t.Fatalf("login body %s", r.raw)
		}
		if bs, _ := r.body["bindings"].([]any); len(bs) != 1 || bs[0].(map[string]any)["team"] != "web" {
			t.Fatalf("bindings in %s", r.raw)
		}
		// The store keeps the hash of the secret, never the secret.
		if _, err := e.st.Session(context.Background(), c.Value); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session found by its secret: %v", err)
		}
		sess, err := e.st.Session(context.Background(), hashSecret(c.Value))
		if err != nil || sess.UserID != u.ID || sess.CSRFToken != csrf {
			t.Fatalf("stored session %+v, %v", sess, err)
		}

		me := e.do(req{method: "GET", path: "/api/v1/me", cookie: c})
		if me.status != http.StatusOK || me.body["csrf_token"] != csrf || me.body["user"].(map[string]any)["username"] != "ana" {
			t.Fatalf("/me: %d %s", me.status, me.raw)
		}

		// Failures all look the same.
		e.user("off", pw)
		off, _ := e.st.UserByUsername(context.Background(), "off")
		if err := e.st.SetUserDisabled(context.Background(), off.ID, t0); err != nil {
			t.Fatal(err)
		}
		for i, creds := range []map[string]string{
			{"username": "ana", "password": "wrong"},
			{"username": "ANA", "password": pw},
			{"username": "nobody", "password": pw},
			{"username": "off", "password": pw},
		} {
			r := e.do(req{method: "POST", path: "/api/v1/login", body: creds, header: map[string]string{"X-Test-Client": fmt.Sprint("10.9.0.", i)}})
			wantError(t, r, http.StatusUnauthorized, wire.CodeInvalidCredentials)
			if r.body["error"] != "invalid username or password" || r.cookie != nil {
				t.Fatalf("login %v: %s, cookie %v", creds, r.raw, r.cookie)
			}
		}
		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]string{"password": pw}, "username"},
			{map[string]string{"username": "ana"}, "password"},
			{map[string]any{"username": "ana", "password": pw, "remember": true}, ""},
			{map[string]any{"username": 7, "password": pw}, "username"},
			{`{"username": "ana"`, ""},
			{`{"username":"ana","password":"x"} {}`, ""},
			// Text that decoding would turn into U+FFFD.
			{`{"username":"an\ud800a","password":"x"}`, "username"},
			{"{\"username\":\"ana\",\"password\":\"x\xff\"}", "password"},
		} {
			r := e.do(req{method: "POST", path: "/api/v1/login", body: tc.body})
			wantError(t, r, http.StatusBadRequest, wire.CodeBadRequest)
			if f, _ := r.body["details"].(map[string]any)["field"].(string); f != tc.field {
				t.Errorf("login %v: field %q, want %q", tc.body, f, tc.field)
			}
		}
		// Another site cannot log the browser in.
		r = e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "ana", "password": pw},
			header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}})
		wantError(t, r, http.StatusForbidden, wire.CodeCSRF)

		if lines := e.logs.lines(pw); len(lines) > 0 {
			t.Fatalf("the password reached the log: %q", lines)
		}
		if lines := e.logs.lines(c.Value); len(lines) > 0 {
			t.Fatalf("the session secret reached the log: %q", lines)
		}
		if lines := e.logs.lines("nobody"); len(lines) > 0 {
			t.Fatalf("an unknown username reached the log: %q", lines)
		}
	})
}

func TestSecureCookie(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, backends[0].url(t), Options{Secure: true, SessionTTL: time.Hour, CookieName: "sid"})
	e.user("ana", "pw")
	r := e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "ana", "password": "pw"}})
	var c *http.Cookie
	for _, x := range (&http.Response{Header: r.header}).Cookies() {
		if x.Name == "sid" {
			c = x
		}
	}
	if r.status != http.StatusOK || c == nil || !c.Secure || !c.HttpOnly || c.MaxAge != 3600 {
		t.Fatalf("login: %d, cookie %+v", r.status, c)
	}
	if me := e.do(req{method: "GET", path: "/api/v1/me", cookie: c}); me.status != http.StatusOK {
		t.Fatalf("/me with cookie sid: %d %s", me.status, me.raw)
	}
}

// TestLoginThrottlePerAddress is the regression test of a lockout anyone could
// cause: five wrong passwords for a username used to refuse that user for 15
// minutes from everywhere, even with the right password.
func TestLoginThrottlePerAddress(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		e.user("ana", "right")
		login := func(user, pw, client string) resp {
			return e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": user, "password": pw},
				header: map[string]string{"X-Test-Client": client}})
		}
		throttled := func(r resp, secs int) {
			t.Helper()
			wantError(t, r, http.StatusTooManyRequests, wire.CodeRateLimited)
			if ra := r.header.Get("Retry-After"); ra != fmt.Sprint(secs) || r.body["details"].(map[string]any)["retry_after_seconds"] != float64(secs) {
				t.Fatalf("Retry-After %q, body %s; want %d", ra, r.raw, secs)
			}
		}
		const a, b = "10.0.0.1", "10.0.0.2"
		// A stranger at address a guesses five times.
		for range 5 {
			wantError(t, login("ana", "wrong", a), http.StatusUnauthorized, wire.CodeInvalidCredentials)
		}
		// Ana, at address b, logs in at once.
		if r := login("ana", "right", b); r.status != http.StatusOK {
			t.Fatalf("the right password from another address: %d %s", r.status, r.raw)
		}
		// At a, each further attempt waits twice as long as the one before.
		throttled(login("ana", "right", a), 1) // not even tried: the password is not checked
		throttled(login("ANA", "wrong", a), 1) // the pair ignores the case of the username
		if r := login("bob", "x", a); r.status != http.StatusUnauthorized {
			t.Fatalf("another username from a is throttled too: %d %s", r.status, r.raw)
		}
		e.clock.Advance(time.Second)
		wantError(t, login("ana", "wrong", a), http.StatusUnauthorized, wire.CodeInvalidCredentials)
		throttled(login("ana", "wrong", a), 2)
		e.clock.Advance(2 * time.Second)
		wantError(t, login("ana", "wrong", a), http.StatusUnauthorized, wire.CodeInvalidCredentials)
		throttled(login("ana", "wrong", a), 4)
		e.clock.Advance(time.Second)
		throttled(login("ana", "wrong", a), 3) // the wait counts down
		if r := login("ana", "right", b); r.status != http.StatusOK {
			t.Fatalf("the right password from b while a is throttled: %d %s", r.status, r.raw)
		}
		// The right password from a, once a may try, clears the pair.
		e.clock.Advance(3 * time.Second)
		if r := login("ana", "right", a); r.status != http.StatusOK {
			t.Fatalf("login from a after the wait: %d %s", r.status, r.raw)
		}
		for range 5 {
			wantError(t, login("ana", "wrong", a), http.StatusUnauthorized, wire.CodeInvalidCredentials)
		}
		throttled(login("ana", "right", a), 1)
	})
}

func TestBackoff(t *testing.T) {
	b := newBackoff(2, 10*time.Second, time.Minute)
	now := t0
	for i, want := range []time.Duration{0, 0, 1, 2, 4, 8, 10, 10} {
		if got := b.retryAfter("k", now); got != want*time.Second {
			t.Fatalf("after %d failures: wait %s, want %ds", i, got, want)
		}
		now = now.Add(want * time.Second)
		b.fail("k", now)
	}
	// Idle for its delay (10s) plus a minute, the key starts afresh.
	now = now.Add(10*time.Second + time.Minute)
	b.fail("k", now)
	if got := b.retryAfter("k", now); got != 0 {
		t.Fatalf("wait %s after a long pause, want 0", got)
	}
	b.reset("k")
	for i := range 1000 {
		b.fail(fmt.Sprint(i), now)
	}
	b.fail("x", now.Add(2*time.Minute)) // sweeps
	if n := len(b.keys); n != 1 {
		t.Fatalf("%d keys kept after a quiet spell, want 1", n)
	}
	off := newBackoff(-1, time.Second, time.Minute)
	for range 10 {
		off.fail("k", now)
	}
	if got := off.retryAfter("k", now); got != 0 {
		t.Fatalf("turned off: wait %s", got)
	}
}

func TestLoginRateLimit(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		e.user("ana", "right")
		login := func(user, pw, client string) resp {
			return e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": user, "password": pw},
				header: map[string]string{"X-Test-Client": client}})
		}
		// One address trying many usernames is stopped after 20 failures.
		for i := range 20 {
			if r := login("user"+string(rune('a'+i)), "x", "192.0.2.7"); r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d %s", i, r.status, r.raw)
			}
		}
		wantError(t, login("ana", "right", "192.0.2.7"), http.StatusTooManyRequests, wire.CodeRateLimited)
		if r := login("ana", "right", "192.0.2.8"); r.status != http.StatusOK {
			t.Fatalf("another address is limited too: %d %s", r.status, r.raw)
		}
		e.clock.Advance(15 * time.Minute)
		if r := login("ana", "right", "192.0.2.7"); r.status != http.StatusOK {
			t.Fatalf("after the window: %d %s", r.status, r.raw)
		}
	})
}

func TestLimiterForgets(t *testing.T) {
	l := newLimiter(2, time.Minute)
	for i := range 1000 {
		l.fail(string(rune(i)), t0)
	}
	l.fail("x", t0.Add(2*time.Minute)) // sweeps
	if n := len(l.failures); n != 1 {
		t.Fatalf("%d keys kept after the window, want 1", n)
	}
	for range 10 {
		l.fail("x", t0.Add(2*time.Minute))
	}
	if n := len(l.failures["x"]); n != 2 {
		t.Fatalf("%d failures kept for one key, want the limit, 2", n)
	}
}

// TestLoginConcurrency is the regression test of logins queued without bound:
// every login waited for a password-check slot as long as its client did, so a
// burst of them piled up behind the 64 MiB argon2 checks. Now a login that finds
// no slot within LoginQueueWait is answered 503 at once.
func TestLoginConcurrency(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, backends[0].url(t), Options{MaxConcurrentLogins: 1, LoginQueueWait: 50 * time.Millisecond})
	e.user("ana", "pw")
	// The first password check holds its slot until released.
	var checks atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	e.a.checkPassword = func(hash, pw string) (bool, error) {
		if checks.Add(1) == 1 {
			close(entered)
			<-release
		}
		return CheckPassword(hash, pw)
	}
	// login does not use e.do, which may not fail t from another goroutine,
	// and gives up after 5s rather than hanging on a login that waits for ever.
	login := func(user, pw string) (resp, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		j, _ := json.Marshal(map[string]string{"username": user, "password": pw})
		hr, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/api/v1/login", bytes.NewReader(j))
		if err != nil {
			return resp{}, err
		}
		hr.Header.Set("Content-Type", "application/json")
		hres, err := e.srv.Client().Do(hr)
		if err != nil {
			return resp{}, err
		}
		defer hres.Body.Close()
		raw, err := io.ReadAll(hres.Body)
		if err != nil {
			return resp{}, err
		}
		r := resp{status: hres.StatusCode, header: hres.Header, raw: string(raw)}
		return r, json.Unmarshal(raw, &r.body)
	}

	held := make(chan error, 1)
	go func() {
		r, err := login("ana", "pw")
		if err == nil && r.status != http.StatusOK {
			err = fmt.Errorf("held login: %d %s", r.status, r.raw)
		}
		held <- err
	}()
	<-entered
	// An unknown username waits for a slot too: it costs a hash like a known one,
	// so the answers cannot tell them apart.
	for _, user := range []string{"ana", "nobody"} {
		r, err := login(user, "pw")
		if err != nil {
			t.Fatalf("login %s while the slot is held: %v", user, err)
		}
		wantError(t, r, http.StatusServiceUnavailable, wire.CodeUnavailable)
		if ra := r.header.Get("Retry-After"); ra != "1" || r.body["details"].(map[string]any)["retry_after_seconds"] != 1.0 {
			t.Fatalf("login %s: Retry-After %q, body %s; want 1", user, ra, r.raw)
		}
	}
	unblock()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if r, err := login("ana", "pw"); err != nil || r.status != http.StatusOK {
		t.Fatalf("login once the slot is free: %v %d %s", err, r.status, r.raw)
	}
	before := checks.Load()
	if r, err := login("nobody", "pw"); err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("unknown user: %v %d %s", err, r.status, r.raw)
	}
	if n := checks.Load() - before; n != 1 {
		t.Fatalf("an unknown username cost %d password checks, want 1", n)
	}
}

func TestCSRF(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		e.user("ana", "pw")
		c, csrf := e.login("ana", "pw")
		body := map[string]string{"name": "ci"}
		// Safe methods need no CSRF token.
		if r := e.do(req{method: "GET", path: "/api/v1/tokens", cookie: c}); r.status != http.StatusOK {
			t.Fatalf("GET with cookie: %d %s", r.status, r.raw)
		}
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			wantError(t, e.do(req{method: m, path: "/api/v1/echo", cookie: c}), http.StatusForbidden, wire.CodeCSRF)
			wantError(t, e.do(req{method: m, path: "/api/v1/echo", cookie: c, csrf: csrf + "x"}), http.StatusForbidden, wire.CodeCSRF)
			if r := e.do(req{method: m, path: "/api/v1/echo", cookie: c, csrf: csrf}); r.status != http.StatusOK {
				t.Fatalf("%s with cookie and CSRF token: %d %s", m, r.status, r.raw)
			}
		}
		wantError(t, e.do(req{method: "POST", path: "/api/v1/tokens", cookie: c, body: body}), http.StatusForbidden, wire.CodeCSRF)
		wantError(t, e.do(req{method: "POST", path: "/api/v1/logout", cookie: c}), http.StatusForbidden, wire.CodeCSRF)
		secret, _ := e.createToken(c, csrf, body)

		// Token auth needs no CSRF token.
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			r := e.do(req{method: m, path: "/api/v1/echo", token: secret})
			if r.status != http.StatusOK || r.body["via"] != "token" || r.body["user"] != "ana" {
				t.Fatalf("%s with token: %d %s", m, r.status, r.raw)
			}
		}
		// The CSRF token of another session does not do.
		_, csrf2 := e.login("ana", "pw")
		wantError(t, e.do(req{method: "POST", path: "/api/v1/echo", cookie: c, csrf: csrf2}), http.StatusForbidden, wire.CodeCSRF)
	})
}

func TestUnauthenticated(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		e.user("ana", "pw")
		wellFormed := newToken()
		for _, tc := range []struct {
			name string
			r    req
		}{
			{"nothing", req{}},
			{"unknown token", req{token: wellFormed}},
			{"malformed token", req{token: "corral_short"}},
			{"basic auth", req{header: map[string]string{"Authorization": "Basic YW5hOnB3"}}},
			{"empty bearer", req{header: map[string]string{"Authorization": "Bearer "}}},
			{"unknown cookie", req{cookie: &http.Cookie{Name: DefaultCookieName, Value: newSecret(32)}}},
		} {
			for _, path := range []string{"/api/v1/me", "/api/v1/tokens", "/api/v1/echo"} {
				tc.r.method, tc.r.path = "GET", path
				r := e.do(tc.r)
				wantError(t, r, http.StatusUnauthorized, wire.CodeUnauthenticated)
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: no WWW-Authenticate", tc.name, path)
				}
				if tc.r.cookie != nil && (r.cookie == nil || r.cookie.MaxAge >= 0) {
					t.Errorf("%s %s: the stale cookie is not cleared: %v", tc.name, path, r.cookie)
				}
			}
		}
		if lines := e.logs.lines(wellFormed); len(lines) > 0 {
			t.Fatalf("a token reached the log: %q", lines)
		}
	})
}

func TestSessionLifetime(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		e.user("ana", "pw")
		c, _ := e.login("ana", "pw")
		id := hashSecret(c.Value)
		// Last seen is written at most once a minute.
		e.clock.Advance(30 * time.Second)
		e.do(req{method: "GET", path: "/api/v1/me", cookie: c})
		if s, _ := e.st.Session(context.Background(), id); !s.LastSeen.Equal(t0) {
			t.Fatalf("last seen %v after 30s, want unchanged %v", s.LastSeen, t0)
		}
		e.clock.Advance(31 * time.Second)
		e.do(req{method: "GET", path: "/api/v1/me", cookie: c})
		if s, _ := e.st.Session(context.Background(), id); !s.LastSeen.Equal(t0.Add(61 * time.Second)) {
			t.Fatalf("last seen %v after 61s, want %v", s.LastSeen, t0.Add(61*time.Second))
		}
		// Expiry is absolute, 12h after login.
		e.clock.Set(t0.Add(12*time.Hour - time.Millisecond))
		if r := e.do(req{method: "GET", path: "/api/v1/me", cookie: c}); r.status != http.StatusOK {
			t.Fatalf("just before expiry: %d", r.status)
		}
		e.clock.Set(t0.Add(12 * time.Hour))
		wantError(t, e.do(req{method: "GET", path: "/api/v1/me", cookie: c}), http.StatusUnauthorized, wire.CodeUnauthenticated)
		if _, err := e.st.Session(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session still stored: %v", err)
		}

		// Logout ends the session and clears the cookie.
		c, csrf := e.login("ana", "pw")
		r := e.do(req{method: "POST", path: "/api/v1/logout", cookie: c, csrf: csrf})
		if r.status != http.StatusNoContent || r.cookie == nil || r.cookie.MaxAge >= 0 {
			t.Fatalf("logout: %d, cookie %+v", r.status, r.cookie)
		}
		wantError(t, e.do(req{method: "GET", path: "/api/v1/me", cookie: c}), http.StatusUnauthorized, wire.CodeUnauthenticated)

		// Logging in again replaces the browser's session.
		c1, _ := e.login("ana", "pw")
		r = e.do(req{method: "POST", path: "/api/v1/login", cookie: c1, body: map[string]string{"username": "ana", "password": "pw"}})
		if r.status != http.StatusOK || r.cookie.Value == c1.Value {
			t.Fatalf("second login: %d %s", r.status, r.raw)
		}
		wantError(t, e.do(req{method: "GET", path: "/api/v1/me", cookie: c1}), http.StatusUnauthorized, wire.CodeUnauthenticated)

		// Disabling the user ends its sessions' use.
		c, _ = e.login("ana", "pw")
		u, _ := e.st.UserByUsername(context.Background(), "ana")
		if err := e.st.SetUserDisabled(context.Background(), u.ID, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do(req{method: "GET", path: "/api/v1/me", cookie: c}), http.StatusUnauthorized, wire.CodeUnauthenticated)
	})
}

func TestTokens(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		ana := e.user("ana", "pw", store.RoleBinding{Role: store.RoleViewer, Org: "acme"})
		e.user("bob", "pw")
		c, csrf := e.login("ana", "pw")

		r := e.do(req{method: "POST", path: "/api/v1/tokens", cookie: c, csrf: csrf, body: map[string]any{"name": " ci ", "expires_in_days": 30}})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		secret, _ := r.body["secret"].(string)
		tok, _ := r.body["token"].(map[string]any)
		if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
			t.Fatalf("secret %q: want corral_ and 43 base64url characters", secret)
		}
		if tok["name"] != "ci" || tok["expires"] != t0.Add(30*24*time.Hour).Format(time.RFC3339) || tok["active"] != true || tok["last_used"] != nil {
			t.Fatalf("created token %s", r.raw)
		}
		id := tok["id"].(string)
		stored, err := e.st.TokenBySecretHash(context.Background(), hashSecret(secret))
		if err != nil || stored.ID != id || stored.UserID != ana.ID {
			t.Fatalf("stored token %+v, %v", stored, err)
		}

		// The secret is shown once: never by the list, never by /me.
		list := e.do(req{method: "GET", path: "/api/v1/tokens", cookie: c})
		me := e.do(req{method: "GET", path: "/api/v1/me", token: secret})
		for _, x := range []resp{list, me} {
			if x.status != http.StatusOK || strings.Contains(x.raw, secret) || strings.Contains(x.raw, secret[len(TokenPrefix):]) ||
				strings.Contains(x.raw, stored.SecretSHA256) {
				t.Fatalf("%d %s shows the secret or its hash", x.status, x.raw)
			}
		}
		if ts := list.body["tokens"].([]any); len(ts) != 1 || ts[0].(map[string]any)["id"] != id {
			t.Fatalf("list %s", list.raw)
		}
		if me.body["via"] != "token" || me.body["token_id"] != id || me.body["csrf_token"] != nil || me.body["user"].(map[string]any)["username"] != "ana" {
			t.Fatalf("/me by token: %s", me.raw)
		}
		// A token cannot mint tokens.
		wantError(t, e.do(req{method: "POST", path: "/api/v1/tokens", token: secret, body: map[string]any{"name": "x"}}), http.StatusForbidden, wire.CodeForbidden)

		// Last used is written at most once a minute.
		if got, _ := e.st.TokenBySecretHash(context.Background(), hashSecret(secret)); !got.LastUsed.Equal(t0) {
			t.Fatalf("last used %v, want %v", got.LastUsed, t0)
		}
		e.clock.Advance(59 * time.Second)
		e.do(req{method: "GET", path: "/api/v1/me", token: secret})
		if got, _ := e.st.TokenBySecretHash(context.Background(), hashSecret(secret)); !got.LastUsed.Equal(t0) {
			t.Fatalf("last used %v after 59s, want unchanged", got.LastUsed)
		}
		e.clock.Advance(time.Second)
		e.do(req{method: "GET", path: "/api/v1/me", token: secret})
		if got, _ := e.st.TokenBySecretHash(context.Background(), hashSecret(secret)); !got.LastUsed.Equal(t0.Add(time.Minute)) {
			t.Fatalf("last used %v after 60s, want %v", got.LastUsed, t0.Add(time.Minute))
		}

		// Bad requests.
		past := t0.Add(-time.Hour)
		far := t0.Add(400 * 24 * time.Hour)
		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{}, "name"},
			{map[string]any{"name": "  "}, "name"},
			{map[string]any{"name": strings.Repeat("n", 101)}, "name"},
			{map[string]any{"name": "x", "expires": past}, "expires"},
			{map[string]any{"name": "x", "expires": far}, "expires"},
			{map[string]any{"name": "x", "expires_in_days": 0}, "expires_in_days"},
			{map[string]any{"name": "x", "expires_in_days": 400}, "expires_in_days"},
			{map[string]any{"name": "x", "expires_in_days": 1, "expires": far}, "expires_in_days"},
			{map[string]any{"name": "x", "secret": "mine"}, ""},
			{`{"name":"ci \udc00"}`, "name"},
		} {
			r := e.do(req{method: "POST", path: "/api/v1/tokens", cookie: c, csrf: csrf, body: tc.body})
			wantError(t, r, http.StatusBadRequest, wire.CodeBadRequest)
			if f, _ := r.body["details"].(map[string]any)["field"].(string); f != tc.field {
				t.Errorf("create %v: field %q, want %q (%s)", tc.body, f, tc.field, r.raw)
			}
		}

		// Default expiry, and expiry ends a token.
		short, _ := e.createToken(c, csrf, map[string]any{"name": "short", "expires": t0.Add(2 * time.Hour)})
		_, dflt := e.createToken(c, csrf, map[string]any{"name": "default"})
		if got, _ := e.st.Tokens(context.Background(), ana.ID); len(got) != 3 {
			t.Fatalf("%d tokens", len(got))
		} else {
			for _, x := range got {
				if x.ID == dflt && !x.ExpiresAt.Equal(e.clock.Now().Add(DefaultTokenTTL)) {
					t.Fatalf("default expiry %v, want %v", x.ExpiresAt, e.clock.Now().Add(DefaultTokenTTL))
				}
			}
		}
		if r := e.do(req{method: "GET", path: "/api/v1/echo", token: short}); r.status != http.StatusOK {
			t.Fatalf("short token before expiry: %d", r.status)
		}
		e.clock.Set(t0.Add(2 * time.Hour))
		wantError(t, e.do(req{method: "GET", path: "/api/v1/echo", token: short}), http.StatusUnauthorized, wire.CodeUnauthenticated)
		list = e.do(req{method: "GET", path: "/api/v1/tokens", cookie: c})
		for _, x := range list.body["tokens"].([]any) {
			if m := x.(map[string]any); m["name"] == "short" && m["active"] != false {
				t.Fatalf("expired token listed as active: %s", list.raw)
			}
		}

		// Only the owner revokes; a revoked token is refused.
		bobC, bobCSRF := e.login("bob", "pw")
		wantError(t, e.do(req{method: "DELETE", path: "/api/v1/tokens/" + id, cookie: bobC, csrf: bobCSRF}), http.StatusNotFound, wire.CodeNotFound)
		wantError(t, e.do(req{method: "DELETE", path: "/api/v1/tokens/nope", cookie: c, csrf: csrf}), http.StatusNotFound, wire.CodeNotFound)
		if r := e.do(req{method: "GET", path: "/api/v1/echo", token: secret}); r.status != http.StatusOK {
			t.Fatalf("token still valid after bob's attempt: %d", r.status)
		}
		// A token may revoke itself, without a CSRF token.
		if r := e.do(req{method: "DELETE", path: "/api/v1/tokens/" + id, token: secret}); r.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		wantError(t, e.do(req{method: "GET", path: "/api/v1/echo", token: secret}), http.StatusUnauthorized, wire.CodeUnauthenticated)
		if r := e.do(req{method: "DELETE", path: "/api/v1/tokens/" + id, cookie: c, csrf: csrf}); r.status != http.StatusNoContent {
			t.Fatalf("revoke twice: %d %s", r.status, r.raw)
		}
		list = e.do(req{method: "GET", path: "/api/v1/tokens", cookie: c})
		for _, x := range list.body["tokens"].([]any) {
			if m := x.(map[string]any); m["id"] == id && (m["revoked"] == nil || m["active"] != false) {
				t.Fatalf("revoked token listed as %v", m)
			}
		}
		if lines := e.logs.lines(secret[len(TokenPrefix):]); len(lines) > 0 {
			t.Fatalf("a token reached the log: %q", lines)
		}
	})
}

func TestLogoutWithToken(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, backends[0].url(t), Options{})
	e.user("ana", "pw")
	c, csrf := e.login("ana", "pw")
	secret, _ := e.createToken(c, csrf, map[string]any{"name": "ci"})
	wantError(t, e.do(req{method: "POST", path: "/api/v1/logout", token: secret}), http.StatusBadRequest, wire.CodeBadRequest)
}

func TestBootstrap(t *testing.T) {
	forBackends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		created, generated, err := e.a.Bootstrap(ctx, "")
		if err != nil || !created || len(generated) < 20 {
			t.Fatalf("Bootstrap() = %v, %q, %v", created, generated, err)
		}
		r := e.do(req{method: "POST", path: "/api/v1/login", body: map[string]string{"username": AdminUsername, "password": generated}})
		if r.status != http.StatusOK {
			t.Fatalf("login with the generated password: %d %s", r.status, r.raw)
		}
		if bs := r.body["bindings"].([]any); len(bs) != 1 || bs[0].(map[string]any)["role"] != "super_admin" {
			t.Fatalf("admin bindings: %s", r.raw)
		}
		orgs, err := e.st.Orgs(ctx)
		if err != nil || !hasOrg(orgs, DefaultOrg) {
			t.Fatalf("orgs %+v, %v: want %q", orgs, err, DefaultOrg)
		}
		for range 2 {
			created, again, err := e.a.Bootstrap(ctx, "")
			if err != nil || created || again != "" {
				t.Fatalf("Bootstrap() again = %v, %q, %v; want nothing done", created, again, err)
			}
		}
		if lines := e.logs.lines(generated); len(lines) > 0 {
			t.Fatalf("the generated password reached the log: %q", lines)
		}
		if len(e.logs.lines("created the first user")) != 1 {
			t.Fatal("no log line for the first user")
		}

		// With a given password, on a store whose default org exists already.
		e2 := newEnv(t, backendURL(t, e.st.Dialect()), Options{})
		if err := e2.st.CreateOrg(ctx, store.Org{ID: DefaultOrg}); err != nil {
			t.Fatal(err)
		}
		created, generated, err = e2.a.Bootstrap(ctx, "from-the-environment")
		if err != nil || !created || generated != "" {
			t.Fatalf("Bootstrap(password) = %v, %q, %v", created, generated, err)
		}
		e2.login(AdminUsername, "from-the-environment")
		// A store with users gets no admin.
		e3 := newEnv(t, backendURL(t, e.st.Dialect()), Options{})
		e3.user("ana", "pw")
		if created, _, err := e3.a.Bootstrap(ctx, ""); err != nil || created {
			t.Fatalf("Bootstrap with a user present = %v, %v", created, err)
		}
	})
}

func backendURL(t *testing.T, dialect string) string {
	for _, b := range backends {
		if b.name == dialect {
			return b.url(t)
		}
	}
	t.Fatalf("no backend %q", dialect)
	return ""
}

func hasOrg(orgs []store.Org, id string) bool {
	for _, o := range orgs {
		if o.ID == id {
			return true
		}
	}
	return false
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// logBuffer is a log destination safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines that contain s.
func (b *logBuffer) lines(s string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestStillValid: what a long-lived connection re-checks, and what OnRevoke is
// told, for a session (logout, expiry) and a token (revocation).
func TestStillValid(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var revoked []string
	e := newEnv(t, backends[0].url(t), Options{SessionTTL: time.Hour, OnRevoke: func(kind, id string) {
		mu.Lock()
		defer mu.Unlock()
		revoked = append(revoked, kind+":"+id)
	}})
	ctx := context.Background()
	e.user("ana", "pw")
	principal := func(set func(r *http.Request)) *Principal {
		t.Helper()
		r := httptest.NewRequest("GET", "/api/v1/echo", nil)
		set(r)
		p, _, err := e.a.authenticate(r)
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		return p
	}
	want := func(p *Principal, ok bool, reason string) {
		t.Helper()
		if gotOK, got := e.a.StillValid(ctx, p); gotOK != ok || got != reason {
			t.Fatalf("StillValid(%s) = %v %q, want %v %q", p.Via, gotOK, got, ok, reason)
		}
	}
	wantRevoked := func(want ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(revoked) != fmt.Sprint(want) {
			t.Fatalf("OnRevoke got %v, want %v", revoked, want)
		}
	}

	c, csrf := e.login("ana", "pw")
	sess := principal(func(r *http.Request) { r.AddCookie(c) })
	if sess.SessionID == "" || sess.SessionID == c.Value {
		t.Fatalf("SessionID %q: want the store's ID, not the cookie", sess.SessionID)
	}
	want(sess, true, "")
	secret, id := e.createToken(c, csrf, map[string]any{"name": "ci"})
	tok := principal(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) })
	want(tok, true, "")

	if r := e.do(req{method: "DELETE", path: "/api/v1/tokens/" + id, token: secret}); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	wantRevoked(ViaToken + ":" + id)
	want(tok, false, ReasonRevoked)
	want(sess, true, "")

	e.clock.Advance(time.Hour)
	want(sess, false, ReasonExpired)

	e.clock.Set(t0)
	c, csrf = e.login("ana", "pw")
	sess = principal(func(r *http.Request) { r.AddCookie(c) })
	if r := e.do(req{method: "POST", path: "/api/v1/logout", cookie: c, csrf: csrf}); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	wantRevoked(ViaToken+":"+id, ViaSession+":"+sess.SessionID)
	want(sess, false, ReasonExpired)
}

// TestBodyOverLimit: a body over this package's 64 KiB is a 413
// payload_too_large naming the limit, as on the rest of the API, not a 400.
func TestBodyOverLimit(t *testing.T) {
	e := newEnv(t, backends[0].url(t), Options{})
	e.user("ana", "pw")
	c, csrf := e.login("ana", "pw")
	big := `{"name":"` + strings.Repeat("n", maxBody) + `"}`
	for _, r := range []resp{
		e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"ana","password":"` + strings.Repeat("p", maxBody) + `"}`}),
		e.do(req{method: "POST", path: "/api/v1/tokens", cookie: c, csrf: csrf, body: big}),
	} {
		wantError(t, r, http.StatusRequestEntityTooLarge, wire.CodeTooLarge)
		if v, _ := r.body["details"].(map[string]any)["limit_bytes"].(float64); v != maxBody {
			t.Errorf("details.limit_bytes %v, want %d", r.body["details"], maxBody)
		}
	}
}
