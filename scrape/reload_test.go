package scrape_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/targetstest"
)

// TestReloadClosesOldConnections: a reload that changes a job replaces its HTTP
// client; the old one's keep-alive connections must be closed once its loops
// stopped, not left open until the idle timeout (one per target per reload).
func TestReloadClosesOldConnections(t *testing.T) {
	const n, reloads = 5, 3
	var open atomic.Int64 // connections the agents hold open, all of them
	var ts []*targets.Target
	for i := range n {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprintln(w, "up_test 1")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		ts = append(ts, targetstest.FromURL(t, fmt.Sprintf("c%d", i), srv.URL+"/metrics"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := health.NewEvaluator(health.Options{})
	m := scrape.NewManager(ctx, scrape.Options{Sink: e, Metrics: scrape.NewMetrics(prometheus.NewRegistry())})
	t.Cleanup(func() { cancel(); m.Stop() })
	job := func(i int) []scrape.JobConfig {
		// The timeout differs on every reload: a changed job, a new client.
		return []scrape.JobConfig{{Name: "test", Interval: time.Hour, Timeout: 5*time.Second + time.Duration(i)*time.Millisecond,
			BodySizeLimit: 1 << 20, HTTPClient: commoncfg.DefaultHTTPClientConfig}}
	}
	for i := range reloads + 1 {
		if err := m.ApplyJobs(job(i)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			m.Sync(ts)
		}
		for _, tg := range ts {
			if r, err := m.ScrapeNow(ctx, tg.Collector); err != nil || r.Err != nil {
				t.Fatalf("reload %d, scrape %s: %v %v", i, tg.Collector, err, r.Err)
			}
		}
	}
	// A loop may have scraped on its own alongside ScrapeNow: at most two
	// connections per target for the current client; without closing, each of
	// the reloads' old clients would keep one more per target.
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() > 2*n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open to %d targets after %d reloads, want at most %d", open.Load(), n, reloads, 2*n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A job removed by a reload lets go of its connections too.
	if err := m.ApplyJobs(nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for open.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after the job was removed, want 0", open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
