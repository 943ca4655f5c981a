package targets_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/filesd"
)

// A collector listed both in static_configs and in a file_sd file is scraped
// once, from the static config, and the duplicate is reported.
func TestStaticAndFileSDConflict(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yml", "- targets: ['db:9187']\n  labels: {collector: pg-main, team: data}\n- targets: ['node:9100']\n")
	write("b.json", `[{"targets": ["node:9100"], "labels": {"__metrics_path__": "/m"}}]`)

	cfg := filesd.Config{Files: []string{"*.yml", "*.json"}, RefreshInterval: time.Hour}
	if err := cfg.Validate(dir); err != nil {
		t.Fatal(err)
	}
	m := targets.NewManager(slog.New(slog.DiscardHandler), nil)
	m.ApplyJobs([]targets.ScrapeJob{{
		Name: "pg", Key: "v1",
		Providers: []targets.Provider{
			targets.NewStatic("pg", []targets.StaticConfig{{Targets: []string{"10.0.0.7:9187"}, Labels: map[string]string{"collector": "pg-main"}}}),
			filesd.New("pg", cfg, nil, filesd.NewMetrics(nil)),
		},
	}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	var set []*targets.Target
	timeout := time.After(5 * time.Second)
	for len(set) != 2 {
		select {
		case set = <-m.Updates():
		case <-timeout:
			t.Fatalf("no merged set of 2 targets; last %v", set)
		}
	}
	pg, node := set[0], set[1]
	if pg.Collector != "pg-main" || pg.Provider != targets.KindStatic || pg.URL != "http://10.0.0.7:9187/metrics" || pg.Instance != "10.0.0.7:9187" {
		t.Errorf("pg-main = %+v", pg)
	}
	if want := `{collector="pg-main",instance="10.0.0.7:9187",job="pg"}`; pg.LabelsString() != want {
		t.Errorf("labels %s, want %s", pg.LabelsString(), want)
	}
	if node.Collector != "pg/node:9100" || node.Provider != targets.KindFileSD || node.Meta["__meta_filepath"] != filepath.Join(dir, "a.yml") {
		t.Errorf("node = %+v", node)
	}
	cs := m.Conflicts()
	if len(cs) != 2 {
		t.Fatalf("conflicts = %+v, want pg-main (static vs file) and pg/node:9100 (two files)", cs)
	}
	if c := cs[0]; c.Collector != "pg-main" || c.Kept.Provider != targets.KindStatic || c.Dropped.Provider != targets.KindFileSD || c.Dropped.Source != filepath.Join(dir, "a.yml")+":0" {
		t.Errorf("conflict 0 = %+v", c)
	}
	if c := cs[1]; c.Collector != "pg/node:9100" || c.Kept.Source != filepath.Join(dir, "a.yml")+":1" || c.Dropped.URL != "http://node:9100/m" {
		t.Errorf("conflict 1 = %+v", c)
	}
}
