// Package exportertest runs real corral agents for tests, as net/http/httptest
// runs real HTTP servers: the agent SDK with a real collector behind a real
// listener, stopped when the test ends.
package exportertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
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
	return serve(t, a, a.Handler()), a
}

// serve runs a until the test ends, with h, which answers for it, behind an
// httptest.Server.
func serve(t testing.TB, a *exporter.Agent, h http.Handler) *httptest.Server {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	srv := httptest.NewServer(h)
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return srv
}

// FreePorts finds n consecutive free ports on 127.0.0.1 for simulated agents
// and returns the first. It looks below the ephemeral range (32768 and up on
// Linux), where the client ends of other tests' connections cannot take one
// between this check and the agents' listen.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(12000-n)
		var lns []net.Listener
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}
