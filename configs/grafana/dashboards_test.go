package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/server"
)

var update = flag.Bool("update", false, "rewrite dashboards/*.json from the Go definitions")

// TestDashboardFiles: the committed JSON is what the Go definitions give, so
// nobody edits one and forgets the other.
func TestDashboardFiles(t *testing.T) {
	for name, d := range Dashboards() {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("dashboards", name)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./configs/grafana -update)", err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s differs from its Go definition; run go test ./configs/grafana -update", path)
		}
	}
}

// TestLayout: ids are unique, panels sit on the 24-column grid and do not
// overlap, every panel has a query, a title and a description.
func TestLayout(t *testing.T) {
	for name, d := range Dashboards() {
		ids := map[int]bool{}
		var placed []GridPos
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d twice", name, p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.X < 0 || g.W <= 0 || g.X+g.W > 24 || g.H <= 0 {
				t.Errorf("%s: panel %q off the grid: %+v", name, p.Title, g)
			}
			for _, o := range placed {
				if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
					t.Errorf("%s: panel %q at %+v overlaps %+v", name, p.Title, g, o)
				}
			}
			placed = append(placed, g)
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || p.Description == "" || len(p.Targets) == 0 {
				t.Errorf("%s: panel %d needs a title, a description and a query", name, p.ID)
			}
		}
	}
}

// grafanaVars stands in for Grafana's variables so a query can be parsed as
// Prometheus will receive it.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval_ms", "60000", "$__rate_interval", "1m", "$__interval_ms", "15000", "$__interval", "15s",
	"$job", "simulate", "$team", "team-a", "$collector", "g-000", "$datasource", "prometheus",
)

// TestQueriesParse: every panel query is valid PromQL for Prometheus's own
// parser, and every variable query is a label_values() over a valid selector.
func TestQueriesParse(t *testing.T) {
	labelValues := regexp.MustCompile(`^label_values\((.+), *([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	for name, d := range Dashboards() {
		for _, q := range d.Queries() {
			expr := grafanaVars.Replace(q.Expr)
			if q.Variable {
				m := labelValues.FindStringSubmatch(expr)
				if m == nil {
					t.Errorf("%s %s: %q is not label_values(selector, label)", name, q.Panel, q.Expr)
					continue
				}
				expr = m[1]
			}
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(expr); err != nil {
				t.Errorf("%s %q: %s: %v", name, q.Panel, q.Expr, err)
			}
		}
	}
}

// selectors is every vector selector of the dashboards' queries, with the
// panels that use it.
func selectors(t *testing.T) map[string][]*parser.VectorSelector {
	sels := map[string][]*parser.VectorSelector{}
	for name, d := range Dashboards() {
		for _, q := range d.Queries() {
			expr := grafanaVars.Replace(q.Expr)
			if q.Variable {
				expr = strings.TrimPrefix(expr, "label_values(")
				expr = expr[:strings.LastIndex(expr, ",")]
			}
			e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
			if err != nil {
				t.Fatalf("%s %q: %v", name, q.Panel, err)
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					key := name + ": " + q.Panel + ": " + vs.String()
					sels[key] = append(sels[key], vs)
				}
				return nil
			})
		}
	}
	return sels
}

// afterAnEvent are series a fresh server registers but exposes only once the
// thing they count has happened (a labelled counter has no child before its
// first event), or that in-process agents cannot give.
var afterAnEvent = map[string]string{
	"corral_commands_finished_total":  "first command finished",
	"corral_commands_submitted_total": "first command submitted",
	"corral_reconciliations_total":    "first reconciliation",
	"corral_sd_file_error":            "a file_sd file is watched",
	"corral_collector_cpu_usage_ratio": "the agent exposes process_cpu_seconds_total " +
		"(a real process; in-process test agents share the test's process and do not)",
	"corral_collector_memory_bytes": "as corral_collector_cpu_usage_ratio",
	"process_resident_memory_bytes": "the server's process collector is registered by cmd/corral, not server.Run",
}

// TestSelectorsMatch: every selector of every dashboard query matches series
// that a real corral server scraping real agents serves on /metrics or
// /federate, labels included (job, team, collector as the variables give
// them) — a renamed series or label breaks this test, not a panel in front of
// an operator.
func TestSelectorsMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and agents; run without -short")
	}
	yml := "global: {scrape_interval: 500ms, scrape_timeout: 400ms}\nscrape_configs:\n  - job_name: simulate\n    static_configs:\n"
	for i := range 3 {
		name := fmt.Sprintf("g-%03d", i)
		srv, _ := exportertest.Synthetic(t, name, synthetic.Config{Rate: 20, Series: 2}, 500*time.Millisecond, nil)
		yml += fmt.Sprintf("      - {targets: ['%s'], labels: {collector: %s, team: team-a}}\n", strings.TrimPrefix(srv.URL, "http://"), name)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "corral.yml")
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	base := start(t, cfg, "sqlite:"+filepath.Join(dir, "corral.db"))

	sels := selectors(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var served []model.LabelSet
		for _, path := range []string{"/metrics", "/federate?match[]=" + `{job="simulate"}`} {
			served = append(served, series(t, base+path)...)
		}
		missing := unmatched(sels, served)
		if len(missing) == 0 || time.Now().After(deadline) {
			for _, m := range missing {
				t.Errorf("no series served by corral matches %s", m)
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func unmatched(sels map[string][]*parser.VectorSelector, served []model.LabelSet) []string {
	var missing []string
	for key, vss := range sels {
		vs := vss[0]
		if _, later := afterAnEvent[vs.Name]; later {
			continue
		}
		if !slices.ContainsFunc(served, func(ls model.LabelSet) bool {
			for _, m := range vs.LabelMatchers {
				if !m.Matches(string(ls[model.LabelName(m.Name)])) {
					return false
				}
			}
			return true
		}) {
			missing = append(missing, key)
		}
	}
	slices.Sort(missing)
	return missing
}

// series is every sample's label set at url, __name__ included (histograms as
// _bucket with le, _sum and _count).
func series(t *testing.T, url string) []model.LabelSet {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	var out []model.LabelSet
	for n, f := range fams {
		for _, m := range f.GetMetric() {
			ls := model.LabelSet{}
			for _, lp := range m.GetLabel() {
				ls[model.LabelName(lp.GetName())] = model.LabelValue(lp.GetValue())
			}
			with := func(name string, extra ...string) {
				c := ls.Clone()
				c[model.MetricNameLabel] = model.LabelValue(name)
				for i := 0; i+1 < len(extra); i += 2 {
					c[model.LabelName(extra[i])] = model.LabelValue(extra[i+1])
				}
				out = append(out, c)
			}
			if h := m.GetHistogram(); h != nil {
				for _, b := range h.GetBucket() {
					with(n+"_bucket", "le", fmt.Sprint(b.GetUpperBound()))
				}
				with(n + "_sum")
				with(n + "_count")
				continue
			}
			with(n)
		}
	}
	return out
}

// start runs a corral server in this process until the test ends.
func start(t *testing.T, cfg, storage string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0", StorageURL: storage,
			Logger: slog.New(slog.DiscardHandler), Stderr: io.Discard, Listening: func(a net.Addr) { addr <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addr:
		return "http://" + a.String()
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not listen within 30s")
	}
	return ""
}

// TestProvisioning: the provisioning files point Grafana at the folder the
// dashboards are in and at a Prometheus data source whose uid the dashboards'
// datasource variable can select.
func TestProvisioning(t *testing.T) {
	for _, f := range []string{"provisioning/datasources/corral.yml", "provisioning/dashboards/corral.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("apiVersion: 1")) {
			t.Errorf("%s: no apiVersion: 1", f)
		}
	}
	for name := range Dashboards() {
		b, err := os.ReadFile(filepath.Join("dashboards", name))
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
