package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// TestRelabelConfigs: a job's relabel_configs, written as in Prometheus, keep
// one simulated agent, give it a label from its file's __meta_filepath, and
// the other agents show in /api/v1/targets as dropped by relabelling, with
// their discovered labels.
func TestRelabelConfigs(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 3, "")
	keep := f.agents[0]
	b, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "    file_sd_configs: [{files: [", `    relabel_configs:
      - source_labels: [collector]
        regex: `+keep.Name+`
        action: keep
      - source_labels: [__meta_filepath]
        regex: '.*/([^/]+)\.yml'
        target_label: sd_file
    file_sd_configs: [{files: [`, 1)
	writeFile(t, f.cfg, cfg)
	f.srv.reload <- struct{}{}

	var tg wire.Targets
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tg = wire.Targets{}
		f.call("super", "GET", "/api/v1/targets?scrapePool=sim", nil, &tg)
		if len(tg.Data.ActiveTargets) == 1 && len(tg.Data.DroppedTargets) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets after the reload: %d active, %d dropped; want 1 and 2", len(tg.Data.ActiveTargets), len(tg.Data.DroppedTargets))
		}
	}
	a := tg.Data.ActiveTargets[0]
	if a.Collector != keep.Name || a.Labels["sd_file"] != "sim" {
		t.Errorf("active target %s with labels %v, want %s with sd_file=sim", a.Collector, a.Labels, keep.Name)
	}
	for _, d := range tg.Data.DroppedTargets {
		if d.Reason != "dropped by relabel_configs" || d.DiscoveredLabels["__meta_filepath"] == "" || d.DiscoveredLabels["collector"] == keep.Name {
			t.Errorf("dropped target %+v", d)
		}
	}
	// A viewer of the org sees them too; the dropped list follows the same scope.
	var vt wire.Targets
	f.call("viewer", "GET", "/api/v1/targets?state=dropped", nil, &vt)
	if len(vt.Data.DroppedTargets) != 2 {
		t.Errorf("viewer sees %d dropped targets, want 2", len(vt.Data.DroppedTargets))
	}
	var ot wire.Targets
	f.call("outsider", "GET", "/api/v1/targets?state=dropped", nil, &ot)
	if len(ot.Data.DroppedTargets) != 0 {
		t.Errorf("another org's admin sees %d dropped targets, want 0", len(ot.Data.DroppedTargets))
	}
}

// TestHTTPSDProvider: GET /api/v1/sd answers in Prometheus's http_sd format
// (decoded here with Prometheus's own target group type, as its http_sd
// does): one group per collector in the caller's scope, with the address and
// path corral scrapes, so a Prometheus using it as discovery scrapes the same
// agents.
func TestHTTPSDProvider(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 2, "")
	var raw json.RawMessage
	if code := f.call("viewer", "GET", "/api/v1/sd", nil, &raw); code != http.StatusOK {
		t.Fatalf("GET /api/v1/sd: %d", code)
	}
	var groups []*targetgroup.Group
	if err := json.Unmarshal(raw, &groups); err != nil {
		t.Fatalf("not Prometheus's http_sd format: %v\n%s", err, raw)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if len(g.Targets) != 1 {
			t.Fatalf("group %v: want one target", g)
		}
		c := string(g.Labels["__meta_corral_collector"])
		seen[c] = true
		if g.Labels["job"] == "" || g.Labels["instance"] == "" || g.Labels["__meta_corral_status"] == "" {
			t.Errorf("group of %s lacks job, instance or status: %v", c, g.Labels)
		}
		if c == "ghost" {
			continue // listed, though nothing answers there
		}
		u := fmt.Sprintf("%s://%s%s", g.Labels["__scheme__"], g.Targets[0][model.AddressLabel], g.Labels["__metrics_path__"])
		code, _ := get(t, u)
		if code != http.StatusOK {
			t.Errorf("scraping %s as Prometheus would: %d", u, code)
		}
	}
	for _, a := range f.agents {
		if !seen[a.Name] {
			t.Errorf("%s not in the SD answer: %v", a.Name, seen)
		}
	}
	var other []wire.SDGroup
	if code := f.call("outsider", "GET", "/api/v1/sd", nil, &other); code != http.StatusOK || len(other) != 0 {
		t.Errorf("another org's admin: %d, %d groups; want 200 and none", code, len(other))
	}
}

// TestHTTPSDConsumer: a job with http_sd_configs takes its targets from a real
// HTTP SD server on loopback, as Prometheus does, and scrapes them; when the
// server fails, the targets stay.
func TestHTTPSDConsumer(t *testing.T) {
	addr := agent(t, "via-http", synthetic.Config{Rate: 10, Series: 2}, nil)
	var (
		mu     sync.Mutex
		status = http.StatusOK
	)
	sd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `[{"targets": [%q], "labels": {"collector": "via-http", "team": "data"}}]`, addr)
	}))
	defer sd.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "corral.yml")
	writeFile(t, cfg, fmt.Sprintf(`global: {scrape_interval: 200ms, scrape_timeout: 150ms}
scrape_configs:
  - job_name: cmdb
    http_sd_configs: [{url: '%s/targets', refresh_interval: 100ms}]
`, sd.URL))
	srv := startServer(t, cfg, "sqlite:"+filepath.Join(dir, "corral.db"))
	body := waitStatuses(t, srv.base, 20*time.Second, map[string]string{"via-http": "online"})
	if !strings.Contains(body, `corral_collector_up{collector="via-http",instance="`+addr+`",job="cmdb",team="data"} 1`) {
		t.Errorf("fleet series lack the SD labels:\n%s", grep(body, "corral_collector_up{", ""))
	}
	mu.Lock()
	status = http.StatusInternalServerError
	mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, m := get(t, srv.base+"/metrics")
		if v := grep(m, `corral_sd_http_failures_total{job="cmdb"}`, ""); v != "" && !strings.HasSuffix(v, " 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no failed http_sd refresh counted")
		}
	}
	waitStatuses(t, srv.base, 5*time.Second, map[string]string{"via-http": "online"})
}
