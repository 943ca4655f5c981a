package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/store"
)

// e2ePassword is the first admin's password in tests that reload over HTTP.
const e2ePassword = "ops-e2e-password"

func withLifecycle(o *Options) { o.EnableLifecycle = true }

// session returns the headers of a session of user: its cookie and CSRF token.
func session(t testing.TB, base, user, password string) http.Header {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/login", "application/json",
		strings.NewReader(`{"username":"`+user+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login as %s: %d %v", user, resp.StatusCode, err)
	}
	h := http.Header{}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	h.Set(auth.CSRFHeader, me.CSRFToken)
	return h
}

func do(t testing.TB, method, url string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postReload posts /-/reload with h and, when set, a Content-Type.
func postReload(t testing.TB, base string, h http.Header, contentType string) (int, string) {
	t.Helper()
	h = h.Clone()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return do(t, "POST", base+"/-/reload", h)
}

// TestOperationalEndpoints: /debug/pprof and POST /-/reload are off by default;
// enabled, they answer a super_admin only, and /-/reload refuses what a browser
// may send from another site.
func TestOperationalEndpoints(t *testing.T) {
	_, cfgPath, _ := setup(t)
	storage := "sqlite:" + filepath.Join(t.TempDir(), "corral.db")
	st, err := store.Open(context.Background(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOrg(context.Background(), store.Org{ID: "default", Name: "default"}); err != nil {
		t.Fatal(err)
	}
	for user, b := range map[string]store.RoleBinding{
		"admin":  {Role: store.RoleSuperAdmin},
		"viewer": {Role: store.RoleViewer, Org: "default"},
	} {
		if _, err := st.CreateUser(context.Background(), store.User{Username: user, PasswordHash: hash}, b); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	t.Run("off by default", func(t *testing.T) {
		srv := startServer(t, cfgPath, storage)
		admin := session(t, srv.base, "admin", e2ePassword)
		if code, _ := do(t, "GET", srv.base+"/debug/pprof/", admin); code != 404 {
			t.Errorf("pprof without --web.enable-pprof: %d, want 404", code)
		}
		if code, body := postReload(t, srv.base, admin, ""); code != 403 || !strings.Contains(body, "--web.enable-lifecycle") {
			t.Errorf("reload without --web.enable-lifecycle: %d %s", code, body)
		}
		// SIGHUP still reloads.
		srv.reload <- struct{}{}
		waitMetrics(t, srv.base, 10*time.Second, "corral_config_last_reload_successful 1")
		srv.stop()
	})

	t.Run("enabled", func(t *testing.T) {
		srv := startServer(t, cfgPath, storage, withLifecycle, func(o *Options) { o.EnablePprof = true })
		admin := session(t, srv.base, "admin", e2ePassword)
		viewer := session(t, srv.base, "viewer", e2ePassword)

		for _, c := range []struct {
			name   string
			method string
			path   string
			h      http.Header
			want   int
		}{
			{"pprof anonymous", "GET", "/debug/pprof/", nil, 401},
			{"pprof viewer", "GET", "/debug/pprof/", viewer, 403},
			{"pprof admin", "GET", "/debug/pprof/", admin, 200},
			{"pprof heap admin", "GET", "/debug/pprof/heap?debug=1", admin, 200},
			{"reload anonymous", "POST", "/-/reload", nil, 401},
			{"reload viewer", "POST", "/-/reload", viewer, 403},
			{"reload admin", "POST", "/-/reload", admin, 200},
			{"reload by GET", "GET", "/-/reload", admin, 405},
			{"reload form", "POST", "/-/reload", with(admin, "Content-Type", "application/x-www-form-urlencoded"), 403},
			{"reload multipart", "POST", "/-/reload", with(admin, "Content-Type", "multipart/form-data; boundary=x"), 403},
			{"reload text/plain", "POST", "/-/reload", with(admin, "Content-Type", "text/plain;charset=UTF-8"), 403},
			{"reload cross-site", "POST", "/-/reload", with(admin, "Sec-Fetch-Site", "cross-site"), 403},
			{"reload same-site", "POST", "/-/reload", with(admin, "Sec-Fetch-Site", "same-site"), 403},
			{"reload other origin", "POST", "/-/reload", with(admin, "Origin", "https://evil.example"), 403},
			{"reload same origin", "POST", "/-/reload", with(with(admin, "Origin", srv.base), "Sec-Fetch-Site", "same-origin"), 200},
			{"reload json", "POST", "/-/reload", with(admin, "Content-Type", "application/json"), 200},
		} {
			t.Run(c.name, func(t *testing.T) {
				if code, body := do(t, c.method, srv.base+c.path, c.h); code != c.want {
					t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.want, body)
				}
			})
		}
	})
}

func with(h http.Header, k, v string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(k, v)
	return h
}
