package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
)

// healthVia answers GET /collectors/acme-red-1/health with the collector's
// target on agent, as the super admin; hc is Options.HealthClient.
func healthVia(t *testing.T, hc *http.Client, agent http.Handler) (int, string, http.Header) {
	t.Helper()
	srv := httptest.NewServer(agent)
	t.Cleanup(srv.Close)
	st, tokens := openStore(t)
	eval := health.NewEvaluator(health.Options{})
	eval.Track(target(collectors[0], srv.URL+"/metrics"), time.Minute, 10*time.Second)
	h := New(Options{Fleet: eval, Auth: auth.New(st, auth.Options{}), HealthClient: hc})
	return do(t, h, tokens[uSuper], "/api/v1/collectors/acme-red-1/health")
}

// TestHealthAnswersOnlyJSON: whatever the agent's /healthz serves, corral
// answers application/json — the agent's JSON as a value, anything else as a
// JSON string — so an agent serving HTML cannot run a script on corral's origin.
func TestHealthAnswersOnlyJSON(t *testing.T) {
	const page = `<html><script>fetch("/api/v1/tokens",{method:"POST"})</script></html>`
	for _, tc := range []struct {
		name, ct, body string
		status         int
		want           any // the decoded wire.AgentHealth.Body
		wantJSON       bool
	}{
		{"json", "application/json", `{"status":"ok","checks":{"db":"up"}}`, 200,
			map[string]any{"status": "ok", "checks": map[string]any{"db": "up"}}, true},
		{"json unhealthy", "application/json", `{"status":"down"}`, 503, map[string]any{"status": "down"}, true},
		{"json mislabelled", "text/html", `{"status":"ok"}`, 200, map[string]any{"status": "ok"}, true},
		{"html", "text/html; charset=utf-8", page, 200, page, false},
		{"html as json", "application/json", page, 200, page, false},
		{"plain", "text/plain", "ok\n", 200, "ok\n", false},
		{"empty", "", "", 204, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := healthVia(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.ct != "" {
					w.Header().Set("Content-Type", tc.ct)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("the answer carries the agent's markup unescaped: %s", body)
			}
			if code != http.StatusOK {
				t.Fatalf("%d %s, want 200", code, body)
			}
			var got wire.AgentHealth
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("not a wire.AgentHealth: %v: %s", err, body)
			}
			var v any
			if err := json.Unmarshal(got.Body, &v); err != nil {
				t.Fatalf("body %s: %v", got.Body, err)
			}
			if fmt.Sprint(v) != fmt.Sprint(tc.want) || got.JSON != tc.wantJSON {
				t.Errorf("body %v json %v, want %v json %v", v, got.JSON, tc.want, tc.wantJSON)
			}
			if got.Status != tc.status || !strings.HasSuffix(got.URL, "/healthz") || got.ID != "acme-red-1" {
				t.Errorf("labels: id %q url %q status %d, want acme-red-1, …/healthz, %d", got.ID, got.URL, got.Status, tc.status)
			}
		})
	}
}

// TestHealthDoesNotFollowRedirects: an agent's /healthz that redirects
// elsewhere (corral's own /debug/pprof, a cloud metadata address) is answered
// 502 naming the redirect; corral never asks the place it points to.
func TestHealthDoesNotFollowRedirects(t *testing.T) {
	asked := make(chan string, 1)
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.URL.Path
		io.WriteString(w, `{"secret":"internal"}`)
	}))
	defer internal.Close()
	// A client given in Options that would follow is overruled too.
	follows := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	for _, tc := range []struct {
		status int
		hc     *http.Client
	}{
		{http.StatusFound, nil}, {http.StatusMovedPermanently, nil}, {http.StatusTemporaryRedirect, nil},
		{http.StatusPermanentRedirect, nil}, {http.StatusFound, follows},
	} {
		status, name := tc.status, fmt.Sprint(tc.status)
		if tc.hc != nil {
			name += " with a client that follows"
		}
		t.Run(name, func(t *testing.T) {
			code, body, hdr := healthVia(t, tc.hc, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, internal.URL+"/debug/pprof/cmdline", status)
			}))
			select {
			case p := <-asked:
				t.Errorf("corral followed the redirect to %s", p)
			default:
			}
			if strings.Contains(body, "secret") {
				t.Errorf("relayed the redirect's target: %s", body)
			}
			var e wire.Error
			if code != http.StatusBadGateway || json.Unmarshal([]byte(body), &e) != nil || e.Code != wire.CodeBadGateway ||
				!strings.Contains(e.Message, "redirect") {
				t.Fatalf("%d %s, want 502 bad_gateway naming the redirect", code, body)
			}
			if e.Details["status"] != float64(status) || e.Details["location"] != internal.URL+"/debug/pprof/cmdline" {
				t.Errorf("details %v, want the agent's status and location", e.Details)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestHealthOverLimit: an answer over maxHealthBody is a 502 that names the
// limit, never a body cut short and relayed as if whole; one at the limit passes.
func TestHealthOverLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		length bool // send Content-Length (else chunked)
		ok     bool
	}{
		{"at the limit", maxHealthBody, true, true},
		{"over, with length", maxHealthBody + 1, true, false},
		{"over, chunked", maxHealthBody + 1, false, false},
		{"far over, chunked", 4 * maxHealthBody, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := healthVia(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", fmt.Sprint(tc.n))
				}
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(200)
				chunk := strings.Repeat("x", 4096)
				for left := tc.n; left > 0; left -= len(chunk) {
					io.WriteString(w, chunk[:min(left, len(chunk))])
					if !tc.length {
						w.(http.Flusher).Flush()
					}
				}
			}))
			if tc.ok {
				var got wire.AgentHealth
				var s string
				if code != 200 || json.Unmarshal([]byte(body), &got) != nil || json.Unmarshal(got.Body, &s) != nil || len(s) != tc.n {
					t.Fatalf("%d, body of %d bytes, want 200 with all %d", code, len(body), tc.n)
				}
				return
			}
			var e wire.Error
			if code != http.StatusBadGateway || json.Unmarshal([]byte(body), &e) != nil || e.Code != wire.CodeBadGateway ||
				!strings.Contains(e.Message, "1MiB") || e.Details["limit_bytes"] != float64(maxHealthBody) {
				t.Fatalf("%d %.300s, want 502 naming the 1MiB limit", code, body)
			}
		})
	}
}
