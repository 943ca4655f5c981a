// Package exportertest runs real corral agents for tests, as net/http/httptest
// runs real HTTP servers: the agent SDK with a real collector behind a real
// listener, stopped when the test ends.
package exportertest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// Synthetic starts an agent named name that runs the synthetic collector with
// cfg every interval, expecting cfg.Rate items a second, behind an
// httptest.Server. mod, when set, changes the agent's options before it starts.
func Synthetic(t testing.TB, name string, cfg synthetic.Config, interval time.Duration, mod func(*exporter.Options)) (*httptest.Server, *exporter.Agent) {
	t.Helper()
	opts := exporter.Options{Name: name, Kind: "synthetic", Interval: interval,
		ExpectedItems: cfg.Rate * interval.Seconds(), ExpectedInterval: interval}
	if mod != nil {
		mod(&opts)
	}
	a, err := exporter.New(synthetic.New(cfg, 1), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return srv, a
}
