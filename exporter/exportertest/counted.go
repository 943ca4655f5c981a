package exportertest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// Counted is a real agent (the SDK with the synthetic collector, in the
// test's process) that records every GET /metrics and POST /control as it
// arrives, for tests that check how often a server scraped or commanded it.
type Counted struct {
	Name  string
	Addr  string // host:port, as a scrape target
	Agent *exporter.Agent

	mu       sync.Mutex
	scrapes  []time.Time    // arrival of every GET /metrics, in order
	controls map[string]int // POST /control per command id
}

// StartCounted starts a Counted agent named name that collects 10 items a
// second every 200ms and trusts the control key key (as
// [agentctl.ParsePublicKey] reads it). It stops when the test ends.
func StartCounted(t testing.TB, name, key string) *Counted {
	t.Helper()
	pub, err := agentctl.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := exporter.New(synthetic.New(synthetic.Config{Rate: 10}, 1), exporter.Options{Name: name, Kind: "synthetic",
		Interval: 200 * time.Millisecond, TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	c := &Counted{Name: name, Agent: a, controls: map[string]int{}}
	c.Addr = strings.TrimPrefix(serve(t, a, c.record(a.Handler())).URL, "http://")
	return c
}

// record notes each request's arrival, then hands it to h.
func (c *Counted) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			c.mu.Lock()
			c.scrapes = append(c.scrapes, time.Now())
			c.mu.Unlock()
		case "/control":
			b, _ := io.ReadAll(r.Body)
			var req struct{ ID string }
			_ = json.Unmarshal(b, &req) // a bad body is the agent's to refuse
			c.mu.Lock()
			c.controls[req.ID]++
			c.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	})
}

// Scrapes are the arrival times of the scrapes in [from, to), oldest first;
// a zero to sets no upper bound.
func (c *Counted) Scrapes(from, to time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, at := range c.scrapes {
		if !at.Before(from) && (to.IsZero() || at.Before(to)) {
			out = append(out, at)
		}
	}
	return out
}

// ControlsFor is how many control requests for command id reached the agent,
// whatever it answered.
func (c *Counted) ControlsFor(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.controls[id]
}
