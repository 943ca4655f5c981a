package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/filesd"
)

const agentBody = `# HELP corral_collector_state Current state.
# TYPE corral_collector_state gauge
corral_collector_state{state="running"} 1
corral_collector_state{state="paused"} 0
# TYPE corral_collector_items_total counter
corral_collector_items_total 42
process_resident_memory_bytes 1.5e+07
`

// liveFixture is the API over a real scrape manager scraping a real agent.
func liveFixture(t *testing.T) (http.Handler, map[string]string) {
	t.Helper()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, agentBody)
		case "/healthz":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"ok"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(agent.Close)
	st, tokens := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	eval := health.NewEvaluator(health.Options{})
	m := scrape.NewManager(ctx, scrape.Options{Sink: eval, Metrics: scrape.NewMetrics(prometheus.NewRegistry())})
	t.Cleanup(func() { cancel(); m.Stop() })
	if err := m.ApplyJobs([]scrape.JobConfig{{Name: "pg", Interval: time.Hour, Timeout: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	var ts []*targets.Target
	for _, c := range collectors {
		ts = append(ts, target(c, agent.URL+"/metrics"))
	}
	m.Sync(ts)
	for _, c := range collectors {
		if _, err := m.ScrapeNow(ctx, c.id); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range collectors {
		rs := []store.LogRecord{{Stream: "s", Cursor: 1, Time: t0, Level: "INFO", Message: "log of " + c.id}}
		if _, err := st.AppendLogs(ctx, store.LogCursor{Collector: c.id, Stream: "s", Cursor: 1}, rs); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Options{
		Fleet: eval, History: st, Buckets: st, Latest: m, Logs: st, Auth: auth.New(st, auth.Options{}),
		SDFiles: func() []filesd.FileStatus {
			return []filesd.FileStatus{{Path: "/etc/corral/pg.yml", Targets: 4, LastGoodRead: t0}}
		},
		Alerts: alertsOf(t, eval),
	})
	return h, tokens
}

var collectorRoutes = []string{"", "/status", "/health", "/metrics", "/history", "/completeness", "/logs", "/logs?format=csv"}

// TestRBACMatrix asks every route as every role of every collector, and checks
// the status codes and that no collector outside the caller's scope appears in
// any answer.
func TestRBACMatrix(t *testing.T) {
	h, tokens := liveFixture(t)
	for _, user := range users {
		t.Run(user, func(t *testing.T) {
			tok := tokens[user]
			leak := func(path, body string) { t.Helper(); noLeak(t, user, "GET "+path, body) }
			for _, c := range collectors {
				for _, sub := range collectorRoutes {
					path := "/api/v1/collectors/" + c.id + sub
					code, body, _ := do(t, h, tok, path)
					want := http.StatusNotFound
					if sees[user][c.id] {
						want = http.StatusOK
					}
					if code != want {
						t.Errorf("GET %s: %d, want %d: %s", path, code, want, body)
					}
					leak(path, body)
				}
			}
			// A collector that does not exist answers as one out of scope.
			_, missing, _ := do(t, h, tok, "/api/v1/collectors/nope")
			_, hidden, _ := do(t, h, tok, "/api/v1/collectors/globex-1")
			if user != uSuper && missing != hidden {
				t.Errorf("missing and out-of-scope collectors answer differently:\n%s\n%s", missing, hidden)
			}

			code, body, _ := do(t, h, tok, "/api/v1/collectors?limit=1000")
			if code != http.StatusOK {
				t.Fatalf("list: %d %s", code, body)
			}
			leak("/api/v1/collectors", body)
			var list wire.CollectorList
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, c := range list.Data {
				got = append(got, c.ID)
			}
			for id := range sees[user] {
				want = append(want, id)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("list: %v, want %v", got, want)
			}
			if list.Total != len(want) || list.Summary.Total != len(want) {
				t.Errorf("list totals %d/%d, want %d", list.Total, list.Summary.Total, len(want))
			}

			for _, path := range []string{"/api/v1/collectors?group_by=team", "/api/v1/targets", "/api/v1/openapi.json"} {
				code, body, _ := do(t, h, tok, path)
				if code != http.StatusOK {
					t.Errorf("GET %s: %d", path, code)
				}
				leak(path, body)
			}
			// GET /sd (Prometheus's http_sd) with the caller's bearer token:
			// one group for each collector in scope, and only those.
			code, body, _ = do(t, h, tok, "/api/v1/sd")
			if code != http.StatusOK {
				t.Errorf("sd: %d %s", code, body)
			}
			leak("/api/v1/sd", body)
			var groups []wire.SDGroup
			if err := json.Unmarshal([]byte(body), &groups); err != nil {
				t.Fatalf("sd: %v: %s", err, body)
			}
			got = got[:0]
			for _, g := range groups {
				got = append(got, g.Labels["__meta_corral_collector"])
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("sd: collectors %v, want %v", got, want)
			}
			code, body, _ = do(t, h, tok, "/api/v1/sd-files")
			if want := map[bool]int{true: 200, false: 403}[user == uSuper]; code != want {
				t.Errorf("sd-files: %d, want %d: %s", code, want, body)
			}
			checkAlerts(t, h, user, tok)
		})
	}
}

// noLeak fails t if body names a collector user may not see.
func noLeak(t *testing.T, user, what, body string) {
	t.Helper()
	for _, c := range collectors {
		if !sees[user][c.id] && strings.Contains(body, c.id) {
			t.Errorf("%s: out-of-scope collector %s in the answer: %s", what, c.id, body)
		}
	}
}

// TestUnauthenticated: every route answers 401 in the one error shape without
// credentials or with a bad token.
func TestUnauthenticated(t *testing.T) {
	h, _ := liveFixture(t)
	paths := []string{"/api/v1/collectors", "/api/v1/targets", "/api/v1/sd", "/api/v1/sd-files", "/api/v1/alerts", "/api/v1/openapi.json", "/api/v1/nothing"}
	for _, sub := range collectorRoutes {
		paths = append(paths, "/api/v1/collectors/acme-red-1"+sub)
	}
	for _, p := range paths {
		for _, tok := range []string{"", auth.TokenPrefix + strings.Repeat("x", 43)} {
			code, body, _ := do(t, h, tok, p)
			if code != http.StatusUnauthorized {
				t.Errorf("GET %s: %d, want 401", p, code)
			}
			var e wire.Error
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != wire.CodeUnauthenticated || e.Details == nil {
				t.Errorf("GET %s: body %s", p, body)
			}
			if strings.Contains(body, "acme-red-1") {
				t.Errorf("GET %s: leaks the collector", p)
			}
		}
	}
}

func TestHealthAndMetricsProxy(t *testing.T) {
	h, tokens := liveFixture(t)
	code, body, hdr := do(t, h, tokens[uSuper], "/api/v1/collectors/acme-red-1/health")
	var ah wire.AgentHealth
	if code != 200 || json.Unmarshal([]byte(body), &ah) != nil || string(ah.Body) != `{"status":"ok"}` || !ah.JSON ||
		ah.Status != 200 || hdr.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("health: %d %q %q", code, body, hdr.Get("Content-Type"))
	}
	code, body, hdr = do(t, h, tokens[uSuper], "/api/v1/collectors/acme-red-1/metrics")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, line := range []string{
		"# TYPE corral_collector_state gauge",
		`corral_collector_state{state="running"} 1`,
		"corral_collector_items_total 42",
		"process_resident_memory_bytes 1.5e+07",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, body)
		}
	}
}

func TestHealthAgentDown(t *testing.T) {
	st, tokens := openStore(t)
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close() // nothing listens there now
	eval := health.NewEvaluator(health.Options{Now: func() time.Time { return t0 }})
	tg := target(collectors[0], url+"/metrics")
	eval.Track(tg, time.Minute, 10*time.Second)
	h := New(Options{Fleet: eval, Auth: auth.New(st, auth.Options{})})
	code, body, _ := do(t, h, tokens[uSuper], "/api/v1/collectors/acme-red-1/health")
	var e wire.Error
	if code != http.StatusBadGateway || json.Unmarshal([]byte(body), &e) != nil || e.Code != wire.CodeBadGateway {
		t.Errorf("agent down: %d %s", code, body)
	}
}
