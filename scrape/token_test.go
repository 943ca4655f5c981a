package scrape_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/targetstest"
)

// TestTargetToken: a target's own token reaches an agent that requires one, and a
// changed token restarts only that target's loop.
func TestTargetToken(t *testing.T) {
	sum := sha256.Sum256([]byte("s3cret"))
	srv, _ := exportertest.Synthetic(t, "tok", synthetic.Config{Rate: 5}, time.Second, func(o *exporter.Options) { o.MetricsTokenSHA256 = hex.EncodeToString(sum[:]) })
	var mu sync.Mutex
	token := ""
	ctx, cancel := context.WithCancel(context.Background())
	m := scrape.NewManager(ctx, scrape.Options{Sink: health.NewEvaluator(health.Options{}), Metrics: scrape.NewMetrics(prometheus.NewRegistry()),
		Token: func(*targets.Target) string { mu.Lock(); defer mu.Unlock(); return token }})
	t.Cleanup(func() { cancel(); m.Stop() })
	job := scrape.JobConfig{Name: "test", Interval: time.Hour, Timeout: 2 * time.Second, HTTPClient: commoncfg.DefaultHTTPClientConfig}
	if err := m.ApplyJobs([]scrape.JobConfig{job}); err != nil {
		t.Fatal(err)
	}
	tg := targetstest.FromURL(t, "tok", srv.URL+"/metrics")
	m.Sync([]*targets.Target{tg})
	r, err := m.ScrapeNow(ctx, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if r.Err == nil || r.Reason != "http_401" {
		t.Fatalf("without the token: err %v reason %q, want http_401", r.Err, r.Reason)
	}
	mu.Lock()
	token = "s3cret"
	mu.Unlock()
	m.Sync([]*targets.Target{tg}) // same target, new token: a new loop
	r, err = m.ScrapeNow(ctx, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if r.Err != nil {
		t.Fatalf("with the token: %v", r.Err)
	}
}
