package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedFixture is the API over an evaluator fed fixed results: deterministic
// answers for the golden files.
func fixedFixture(t testing.TB) (http.Handler, map[string]string, *store.Store) {
	st, tokens := openStore(t)
	eval := health.NewEvaluator(health.Options{Now: func() time.Time { return t0.Add(-10 * time.Minute) }})
	for i, c := range collectors {
		tg := target(c, "http://"+c.id+".example:9100/metrics")
		eval.Track(tg, time.Minute, 10*time.Second)
		if c.id == "globex-1" { // never reached: offline
			eval.Observe(&scrape.Result{Target: tg, Start: t0, Duration: time.Second, Err: fmt.Errorf("dial tcp: connection refused"), Reason: scrape.ReasonRefused})
			continue
		}
		eval.Observe(agentResult(tg, t0.Add(-time.Minute), float64(100*i)))
		eval.Observe(agentResult(tg, t0, float64(100*i+60)))
	}
	ctx := context.Background()
	if err := st.AppendStatusChanges(ctx, []fleet.StatusChange{
		{Collector: "acme-red-1", From: "unknown", To: "online", Reason: "ok", At: t0.Add(-2 * time.Hour)},
		{Collector: "acme-red-1", From: "online", To: "stale", Reason: "newest item is 10m old", At: t0.Add(-time.Hour)},
		{Collector: "acme-blue-1", From: "unknown", To: "online", Reason: "ok", At: t0.Add(-time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertBuckets(ctx, []fleet.Bucket{
		{Collector: "acme-red-1", Window: "1h", Start: t0.Add(-2 * time.Hour), ExpectedItems: 100, ActualItems: 90, ActiveSeconds: 3600, ScrapesOK: 59, ScrapesTotal: 60},
		{Collector: "acme-red-1", Window: "1h", Start: t0, ExpectedItems: 10, ActualItems: 10, ActiveSeconds: 60, ScrapesOK: 1, ScrapesTotal: 1},
	}); err != nil {
		t.Fatal(err)
	}
	return New(Options{Fleet: eval, History: st, Buckets: st, Logs: st, Auth: auth.New(st, auth.Options{})}), tokens, st
}

// golden compares body, indented, with testdata/name; -update rewrites it.
func golden(t *testing.T, name, body string) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(body), "", "  "); err != nil {
		t.Fatalf("%s: %v: %s", name, err, body)
	}
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./api -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(buf.Bytes())) {
		t.Errorf("%s differs from %s (go test ./api -update to accept):\n%s", t.Name(), path, buf.String())
	}
}

func TestGolden(t *testing.T) {
	h, tokens, _ := fixedFixture(t)
	for _, tc := range []struct{ name, path string }{
		{"list.json", "/api/v1/collectors?group_by=status"},
		{"detail.json", "/api/v1/collectors/acme-red-1"},
		{"status.json", "/api/v1/collectors/globex-1/status"},
		{"history.json", "/api/v1/collectors/acme-red-1/history"},
		{"completeness.json", "/api/v1/collectors/acme-red-1/completeness?from=2026-01-01T09:00:00Z&to=2026-01-01T12:30:00Z"},
		{"targets.json", "/api/v1/targets"},
		{"error_param.json", "/api/v1/collectors?sort=colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body, _ := do(t, h, tokens[uSuper], tc.path)
			golden(t, tc.name, body)
		})
	}
}

// list GETs path as the super admin and returns the ids of the answer.
func list(t *testing.T, h http.Handler, token, path string) ([]string, wire.CollectorList) {
	t.Helper()
	code, body, _ := do(t, h, token, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var l wire.CollectorList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range l.Data {
		ids = append(ids, c.ID)
	}
	return ids, l
}

func TestListFiltersAndSort(t *testing.T) {
	h, tokens, _ := fixedFixture(t)
	tok := tokens[uSuper]
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"acme-blue-1", "acme-red-1", "globex-1", "nolabel-1"}},
		{"status=offline", []string{"globex-1"}},
		{"status=offline&status=online", []string{"acme-blue-1", "acme-red-1", "globex-1", "nolabel-1"}},
		{"org=acme", []string{"acme-blue-1", "acme-red-1"}},
		{"org=default", []string{"nolabel-1"}},
		{"team=red", []string{"acme-red-1"}},
		{"job=pg&label=team=~r.*", []string{"acme-red-1"}},
		{"label=org!=acme", []string{"globex-1", "nolabel-1"}},
		{"q=GLOBEX", []string{"globex-1"}},
		{"q=refused", []string{"globex-1"}},
		{"sort=-id", []string{"nolabel-1", "globex-1", "acme-red-1", "acme-blue-1"}},
		{"sort=status", []string{"globex-1", "acme-blue-1", "acme-red-1", "nolabel-1"}},
		{"sort=-instance", []string{"nolabel-1", "globex-1", "acme-red-1", "acme-blue-1"}},
		{"sort=last_seen", []string{"acme-blue-1", "acme-red-1", "nolabel-1", "globex-1"}},
		{"limit=2&page=2", []string{"globex-1", "nolabel-1"}},
		{"limit=2&page=9", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, _ := list(t, h, tok, "/api/v1/collectors?"+tc.query)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}
	for _, q := range []string{"sort=cpu", "sort=-cpu", "sort=memory", "sort=-freshness"} {
		if got, _ := list(t, h, tok, "/api/v1/collectors?"+q); got[len(got)-1] != "globex-1" {
			t.Errorf("%s: %v: the collector without a value is not last", q, got)
		}
	}
	_, l := list(t, h, tok, "/api/v1/collectors?limit=3&group_by=team")
	if l.Total != 4 || l.TotalPages != 2 || l.Summary.ByStatus["offline"] != 1 || l.Summary.ByStatus["online"] != 3 {
		t.Errorf("totals: %+v", l)
	}
	if l.Summary.ItemsCollected != 60+160+360 {
		t.Errorf("items collected %v", l.Summary.ItemsCollected)
	}
	if want := []wire.Group{{Key: "", Count: 2}, {Key: "blue", Count: 1}, {Key: "red", Count: 1}}; !slices.Equal(l.Groups, want) {
		t.Errorf("groups %v, want %v", l.Groups, want)
	}
}

func TestBadParameters(t *testing.T) {
	h, tokens, _ := fixedFixture(t)
	for _, tc := range []struct{ path, field string }{
		{"/api/v1/collectors?status=sleepy", "status"},
		{"/api/v1/collectors?sort=colour", "sort"},
		{"/api/v1/collectors?page=0", "page"},
		{"/api/v1/collectors?limit=1001", "limit"},
		{"/api/v1/collectors?limit=x", "limit"},
		{"/api/v1/collectors?group_by=region", "group_by"},
		{"/api/v1/collectors?label=noop", "label"},
		{"/api/v1/collectors?label=a=~(", "label"},
		{"/api/v1/collectors/acme-red-1/history?from=yesterday", "from"},
		{"/api/v1/collectors/acme-red-1/history?limit=0", "limit"},
		{"/api/v1/collectors/acme-red-1/history?from=20&to=10", "to"},
		{"/api/v1/collectors/acme-red-1/completeness?window=1w", "window"},
		{"/api/v1/collectors/acme-red-1/completeness?window=1h&from=0", "from"},
		{"/api/v1/targets?state=sleeping", "state"},
	} {
		code, body, _ := do(t, h, tokens[uSuper], tc.path)
		var e wire.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusBadRequest ||
			e.Code != wire.CodeBadRequest || e.Details["field"] != tc.field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", tc.path, code, body, tc.field)
		}
	}
	// Parameters are checked after scope: an invisible collector is 404 whatever they say.
	if code, _, _ := do(t, h, tokens[uViewer], "/api/v1/collectors/globex-1/history?from=yesterday"); code != http.StatusNotFound {
		t.Errorf("out of scope with bad parameters: %d", code)
	}
}

// recordingMux records the patterns registered.
type recordingMux struct{ patterns []string }

func (m *recordingMux) Handle(pattern string, _ http.Handler) {
	m.patterns = append(m.patterns, pattern)
}

// TestOpenAPIMatchesRoutes fails when a registered route is not documented or a
// documented one is not registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	st, _ := openStore(t)
	var m recordingMux
	register(&m, Options{Fleet: health.NewEvaluator(health.Options{}), Auth: auth.New(st, auth.Options{})})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, p := range m.patterns {
		if p == "/api/v1/" { // the JSON 404 for everything else
			continue
		}
		registered[p] = true
		if !documented[p] {
			t.Errorf("route %s is not in openapi.json", p)
		}
	}
	for p := range documented {
		if !registered[p] {
			t.Errorf("openapi.json documents %s, which is not registered", p)
		}
	}
}

// fleet10k is an evaluator with 10,000 collectors in two orgs and three teams,
// each scraped twice, for the list benchmarks.
func fleet10k() *health.Evaluator {
	eval := health.NewEvaluator(health.Options{Now: func() time.Time { return t0.Add(-10 * time.Minute) }})
	for i := range 10000 {
		c := fixtureCollector{id: fmt.Sprintf("c-%05d", i), org: []string{"acme", "globex"}[i%2], team: []string{"red", "blue", ""}[i%3]}
		tg := target(c, "http://"+c.id+".example:9100/metrics")
		eval.Track(tg, time.Minute, 10*time.Second)
		eval.Observe(agentResult(tg, t0.Add(-time.Minute), float64(i)))
		eval.Observe(agentResult(tg, t0, float64(2*i)))
	}
	return eval
}

// BenchmarkListCollectors10k lists a page of 10,000 collectors, filtered and
// sorted, as an org admin who sees half of them.
func BenchmarkListCollectors10k(b *testing.B) {
	eval := fleet10k()
	a := &api{o: Options{Fleet: eval, DefaultOrg: "default"}, walker: newWalker()}
	a.entries.New = newEntries
	p := &auth.Principal{UserID: "u", Bindings: []auth.Binding{{Role: auth.OrgAdmin, Org: "acme"}}}
	for _, q := range []string{"", "?sort=-cpu&group_by=status", "?q=c-0999&label=env=prod", "?status=online&sort=freshness&page=20&limit=100"} {
		b.Run(q, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/collectors"+q, nil)
			req = req.WithContext(auth.WithPrincipal(req.Context(), p))
			b.ReportAllocs()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				rec := httptest.NewRecorder()
				a.listCollectors(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100])/1e6, "p99-ms")
		})
	}
}
