package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/corral-dev/corral/configs"
)

// receiver is an HTTP server that takes POST /api/v2/alerts as
// Alertmanager does, and can be made to fail.
type receiver struct {
	srv     *httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	batches [][]Posted
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v2/alerts" || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request "+req.Method+" "+req.URL.Path, http.StatusNotFound)
			return
		}
		if r.failing.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		var b []Posted
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.batches = append(r.batches, b)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) target() string { return strings.TrimPrefix(r.srv.URL, "http://") }
func (r *receiver) url() string    { return r.srv.URL + "/api/v2/alerts" }

// got is every alert received, by alertname, the latest version, and the
// number of requests.
func (r *receiver) got() (map[string]Posted, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]Posted{}
	n := 0
	for _, b := range r.batches {
		for _, p := range b {
			out[p.Labels["alertname"]] = p
			n++
		}
	}
	return out, n, len(r.batches)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alert(name string, note string) Posted {
	return Posted{Labels: map[string]string{"alertname": name}, Annotations: map[string]string{"note": note},
		StartsAt: time.Unix(1e9, 0).UTC(), EndsAt: time.Unix(1e9+240, 0).UTC()}
}

func TestNotifierBatchesQueuesAndDrops(t *testing.T) {
	a1, a2 := newReceiver(t), newReceiver(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	n := NewNotifier(nil, m)
	cfg, err := configs.Parse([]byte(fmt.Sprintf(`
alerting:
  max_batch_size: 2
  queue_capacity: 3
  alertmanagers:
    - static_configs: [{targets: [%q, %q]}]
      timeout: 2s
`, a1.target(), a2.target())), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Apply(cfg.Alerting); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if got := testutil.ToFloat64(m.discovered); got != 2 {
		t.Errorf("alertmanagers_discovered %v, want 2", got)
	}
	n.Send(alert("A", "1"), alert("B", "1"), alert("C", "1"))
	for _, r := range []*receiver{a1, a2} {
		waitFor(t, "three alerts at "+r.url(), func() bool { _, k, _ := r.got(); return k == 3 })
		if _, _, reqs := r.got(); reqs != 2 {
			t.Errorf("%s: %d requests for 3 alerts with max_batch_size 2, want 2", r.url(), reqs)
		}
	}

	// a1 goes down: its alerts wait, a2 keeps getting them.
	a1.failing.Store(true)
	n.Send(alert("D", "1"))
	waitFor(t, "D at a2", func() bool { got, _, _ := a2.got(); _, ok := got["D"]; return ok })
	waitFor(t, "a failed attempt at a1", func() bool { return testutil.ToFloat64(m.errors.WithLabelValues(a1.url())) > 0 })
	n.Send(alert("D", "2")) // replaces the queued D: one entry per alert
	if got := n.QueueLength(a1.url()); got != 1 {
		t.Errorf("a1's queue holds %d, want 1 (D, replaced)", got)
	}
	waitFor(t, "D's second version at a2", func() bool { got, _, _ := a2.got(); return got["D"].Annotations["note"] == "2" })
	waitFor(t, "a2's queue empty", func() bool { return n.QueueLength(a2.url()) == 0 })
	n.Send(alert("E", "1"), alert("F", "1"), alert("G", "1")) // 4 > capacity 3: the oldest, D, goes
	if got := testutil.ToFloat64(m.dropped); got != 1 {
		t.Errorf("dropped_total %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.queueLength.WithLabelValues(a1.url())); got != 3 {
		t.Errorf("queue_length of a1 %v, want 3", got)
	}
	_, before, _ := a1.got()
	a1.failing.Store(false)
	waitFor(t, "a1's queue delivered", func() bool { _, k, _ := a1.got(); return k == before+3 })
	got, _, _ := a1.got()
	for _, name := range []string{"E", "F", "G"} {
		if _, ok := got[name]; !ok {
			t.Errorf("a1 never got %s after coming back", name)
		}
	}
	if p, ok := got["D"]; ok {
		t.Errorf("a1 got D %v: the dropped one should never have gone out", p.Annotations)
	}
	waitFor(t, "a1's queue empty", func() bool { return n.QueueLength(a1.url()) == 0 })
	if got := testutil.ToFloat64(m.sent.WithLabelValues(a2.url())); got != 8 {
		t.Errorf("sent_total of a2 %v, want 8 (A B C D D E F G)", got)
	}

	// Reload without a2: its queue goes, a1's stays.
	cfg2, err := configs.Parse([]byte(fmt.Sprintf("alerting:\n  alertmanagers: [{timeout: 2s, static_configs: [{targets: [%q]}]}]\n", a1.target())), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Apply(cfg2.Alerting); err != nil {
		t.Fatal(err)
	}
	if got := n.Alertmanagers(); len(got) != 1 || got[0] != a1.url() {
		t.Errorf("after reload: %v", got)
	}
}

// TestNotifierRefused: alerts Alertmanager refuses as malformed (400) are
// dropped and counted, not retried for ever ahead of the rest.
func TestNotifierRefused(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "invalid label set", http.StatusBadRequest)
	}))
	defer srv.Close()
	m := NewMetrics(nil)
	n := NewNotifier(nil, m)
	cfg, err := configs.Parse([]byte(fmt.Sprintf("alerting:\n  alertmanagers: [{static_configs: [{targets: [%q]}]}]\n", strings.TrimPrefix(srv.URL, "http://"))), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Apply(cfg.Alerting); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	n.Send(alert("A", "1"))
	waitFor(t, "the refused alert dropped", func() bool { return testutil.ToFloat64(m.dropped) == 1 })
	if n.QueueLength(srv.URL+"/api/v2/alerts") != 0 || calls.Load() != 1 {
		t.Errorf("queue %d, calls %d; want 0 and 1", n.QueueLength(srv.URL+"/api/v2/alerts"), calls.Load())
	}
}
