package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// acts is who may act on which collector: as sees, without the viewer.
var acts = map[string]map[string]bool{
	uSuper:    sees[uSuper],
	uOrgAdmin: sees[uOrgAdmin],
	uLead:     sees[uLead],
	uViewer:   {},
	uNoRole:   {},
}

// controlFixture is the API with the whole control plane over a real store, a
// real scrape manager and a real HTTP agent (one that speaks the contract but
// has no /control, so commands stay pending and are retried).
func controlFixture(t testing.TB) (http.Handler, map[string]string, *store.Store) {
	t.Helper()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, agentBody)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(agent.Close)
	st, tokens := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	eval := health.NewEvaluator(health.Options{})
	m := scrape.NewManager(ctx, scrape.Options{Sink: eval, Metrics: scrape.NewMetrics(prometheus.NewRegistry())})
	if err := m.ApplyJobs([]scrape.JobConfig{{Name: "pg", Interval: time.Hour, Timeout: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	var ts []*targets.Target
	for _, c := range collectors {
		ts = append(ts, target(c, agent.URL+"/metrics"))
	}
	a := auth.New(st, auth.Options{})
	var p *control.Plane
	p, err := control.New(ctx, control.Options{Store: st, Fleet: eval, CommandExpiry: time.Minute,
		RegistryJobs: func() []string { return []string{"registry"} },
		Changed:      func() { m.Sync(p.Lifecycle.Filter(ts)) },
		Principal:    func(ctx context.Context, id string) (control.Scope, error) { return a.PrincipalOf(ctx, id) }})
	if err != nil {
		t.Fatal(err)
	}
	d, life, bulk := p.Dispatcher, p.Lifecycle, p.Bulk
	done := make(chan struct{}, 2)
	go func() { _ = d.Run(ctx); done <- struct{}{} }()
	go func() { _ = bulk.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); m.Stop(); <-done; <-done })
	<-d.Ready()
	m.Sync(life.Filter(ts))
	for _, c := range collectors {
		if _, err := m.ScrapeNow(ctx, c.id); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Options{Fleet: eval, History: st, Buckets: st, Latest: m, Auth: a,
		Commands: d, CommandList: st, Scraper: m, Registrar: life, Archives: life, Bulk: bulk, Keys: d, Audit: st, AuditLog: st})
	return h, tokens, st
}

// send makes one request as token and returns the status and body.
func send(t testing.TB, h http.Handler, token, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// actionRoutes are the POST routes on one collector, with a body that passes
// validation.
var actionRoutes = map[string]string{
	"stop":               `{"reason":"rbac","estimated_duration_minutes":5}`,
	"resume":             ``,
	"restart":            ``,
	"collect":            ``,
	"backfill":           `{"from":"2025-01-01T00:00:00Z","to":"2025-01-02T00:00:00Z"}`,
	"test-connection":    ``,
	"update-config":      `{"collection_interval":"30s","tags":["x"]}`,
	"rotate-credentials": ``,
	"scrape":             ``,
}

// TestRBACMatrixControl asks every control route as every role of every
// collector: who may act gets through, a viewer in scope gets 403, anyone else
// 404 exactly as for a missing collector, and no answer names a collector
// outside the caller's scope.
func TestRBACMatrixControl(t *testing.T) {
	h, tokens, st := controlFixture(t)
	for _, user := range users {
		t.Run(user, func(t *testing.T) {
			tok := tokens[user]
			leak := func(what, body string) { t.Helper(); noLeak(t, user, what, body) }
			for _, c := range collectors {
				for route, body := range actionRoutes {
					path := "/api/v1/collectors/" + c.id + "/" + route + "?wait=none"
					code, got := send(t, h, tok, "POST", path, body)
					switch {
					case acts[user][c.id]:
						if code != http.StatusOK && code != http.StatusAccepted {
							t.Errorf("POST %s: %d, want 200 or 202: %s", path, code, got)
						}
					case sees[user][c.id]:
						if code != http.StatusForbidden {
							t.Errorf("POST %s: %d, want 403: %s", path, code, got)
						}
					default:
						if code != http.StatusNotFound {
							t.Errorf("POST %s: %d, want 404: %s", path, code, got)
						}
						_, missing := send(t, h, tok, "POST", "/api/v1/collectors/nope/"+route, body)
						if got != missing {
							t.Errorf("POST %s answers unlike a missing collector:\n%s\n%s", path, got, missing)
						}
					}
					leak("POST "+path, got)
				}
				// Unregister: only the refusals here (the allowed one would
				// change the fixture); the end-to-end tests unregister for real.
				if !acts[user][c.id] {
					code, got := send(t, h, tok, "DELETE", "/api/v1/collectors/"+c.id, `{"reason":"rbac"}`)
					want := http.StatusNotFound
					if sees[user][c.id] {
						want = http.StatusForbidden
					}
					if code != want {
						t.Errorf("DELETE %s: %d, want %d: %s", c.id, code, want, got)
					}
				}
			}

			// Lists show only what is in scope.
			for _, path := range []string{"/api/v1/commands?limit=1000", "/api/v1/collectors/archived", "/api/v1/bulk-actions", "/api/v1/targets?state=any"} {
				code, got := send(t, h, tok, "GET", path, "")
				if code != http.StatusOK {
					t.Errorf("GET %s: %d %s", path, code, got)
				}
				leak("GET "+path, got)
			}
			var cmds struct {
				Data []wire.Command `json:"data"`
			}
			_, got := send(t, h, tok, "GET", "/api/v1/commands?limit=1000", "")
			json.Unmarshal([]byte(got), &cmds)
			all, _, err := st.Commands(context.Background(), store.CommandFilter{})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, c := range all {
				if sees[user][c.Collector] {
					want++
				}
			}
			if len(cmds.Data) != want {
				t.Errorf("%d commands listed, want %d (those of the collectors it sees)", len(cmds.Data), want)
			}

			// Audit: team lead and above, only their scope.
			code, got := send(t, h, tok, "GET", "/api/v1/audit?limit=1000", "")
			if mayActSomewhere := len(acts[user]) > 0; mayActSomewhere != (code == http.StatusOK) {
				t.Errorf("GET /audit: %d %s", code, got)
			}
			leak("GET /api/v1/audit", got)

			// Bulk: a viewer and no role get 403; the rest act in scope only.
			code, got = send(t, h, tok, "POST", "/api/v1/collectors/bulk-action",
				`{"action":"collect","collector_ids":["acme-red-1","acme-blue-1","globex-1","nolabel-1"],"dry_run":true}`)
			if len(acts[user]) == 0 {
				if code != http.StatusForbidden {
					t.Errorf("bulk as %s: %d %s", user, code, got)
				}
			} else {
				var res wire.BulkResult
				json.Unmarshal([]byte(got), &res)
				for _, it := range res.Results {
					if acts[user][it.Collector] != (it.Status == "would") {
						t.Errorf("bulk as %s: %s is %s (%s)", user, it.Collector, it.Status, it.Error)
					}
				}
			}

			// Register: in a scope where one may act only.
			code, got = send(t, h, tok, "POST", "/api/v1/collectors/register", `{"name":"new-`+user+`","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red"}`)
			if wantOK := user != uViewer && user != uNoRole; wantOK != (code == http.StatusCreated) {
				t.Errorf("register as %s: %d %s", user, code, got)
			}

			// Keys: super admins only.
			code, _ = send(t, h, tok, "GET", "/api/v1/keys", "")
			if (user == uSuper) != (code == http.StatusOK) {
				t.Errorf("GET /keys as %s: %d", user, code)
			}
			code, _ = send(t, h, tok, "POST", "/api/v1/keys/rotate/complete", `{}`)
			if user != uSuper && code != http.StatusForbidden {
				t.Errorf("complete a rotation as %s: %d", user, code)
			}
		})
	}

	// A re-register of an archive outside the caller's scope reads as missing.
	code, body := send(t, h, tokens[uSuper], "DELETE", "/api/v1/collectors/globex-1", `{"reason":"rbac"}`)
	if code != http.StatusOK {
		t.Fatalf("unregister as super: %d %s", code, body)
	}
	arcs, _ := st.ArchivedCollectors(context.Background(), false)
	var arc string
	for _, a := range arcs {
		if a.Collector == "globex-1" {
			arc = a.ID
		}
	}
	for user, want := range map[string]int{uOrgAdmin: 404, uLead: 404, uViewer: 404, uNoRole: 404} {
		if code, got := send(t, h, tokens[user], "POST", "/api/v1/collectors/re-register", `{"archived_collector_id":"`+arc+`"}`); code != want {
			t.Errorf("re-register globex-1 as %s: %d, want %d: %s", user, code, want, got)
		}
		if code, _ := send(t, h, tokens[user], "GET", "/api/v1/collectors/globex-1", ""); code != 404 {
			t.Errorf("unregistered globex-1 as %s: %d, want 404", user, code)
		}
	}
	if code, _ := send(t, h, tokens[uSuper], "GET", "/api/v1/collectors/globex-1", ""); code != http.StatusGone {
		t.Errorf("unregistered globex-1 as super: %d, want 410", code)
	}
}

// TestControlUnauthenticated: every control route is 401 without credentials.
func TestControlUnauthenticated(t *testing.T) {
	h, _, _ := controlFixture(t)
	routes := [][2]string{{"DELETE", "/api/v1/collectors/acme-red-1"}, {"POST", "/api/v1/collectors/register"},
		{"GET", "/api/v1/collectors/archived"}, {"POST", "/api/v1/collectors/re-register"}, {"POST", "/api/v1/collectors/bulk-action"},
		{"GET", "/api/v1/bulk-actions"}, {"GET", "/api/v1/bulk-actions/x"}, {"POST", "/api/v1/bulk-actions/x/cancel"},
		{"GET", "/api/v1/commands"}, {"GET", "/api/v1/commands/x"}, {"GET", "/api/v1/audit"}, {"GET", "/api/v1/keys"},
		{"POST", "/api/v1/keys/rotate"}, {"POST", "/api/v1/keys/rotate/complete"}}
	for route := range actionRoutes {
		routes = append(routes, [2]string{"POST", "/api/v1/collectors/acme-red-1/" + route})
	}
	for _, r := range routes {
		for _, tok := range []string{"", auth.TokenPrefix + strings.Repeat("x", 43)} {
			if code, body := send(t, h, tok, r[0], r[1], "{}"); code != http.StatusUnauthorized || strings.Contains(body, "acme") {
				t.Errorf("%s %s: %d %s", r[0], r[1], code, body)
			}
		}
	}
}
