package control

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"go.uber.org/goleak"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/exporter"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// agent is a real corral agent (synthetic collector) behind a real HTTP server.
// A restart command rebuilds it behind the same address, as a new process would,
// reading its state file.
type agent struct {
	name    string
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	current atomic.Pointer[exporter.Agent]
	starts  atomic.Int32
	cancel  context.CancelFunc
	done    chan struct{}
}

type agentOpts struct {
	keys      []ed25519.PublicKey
	statePath string // "" for a state file in t.TempDir(); "-" for none
	cfg       synthetic.Config
	mod       func(*exporter.Options)
}

func startAgent(t *testing.T, name string, o agentOpts) *agent {
	t.Helper()
	a := &agent{name: name, done: make(chan struct{})}
	if o.statePath == "" {
		o.statePath = filepath.Join(t.TempDir(), name+".json")
	} else if o.statePath == "-" {
		o.statePath = ""
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := a.handler.Load()
		if h == nil {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	build := func() *exporter.Agent {
		opts := exporter.Options{Name: name, Kind: "synthetic", Interval: 100 * time.Millisecond, ExpectedItems: 1,
			TrustedKeys: o.keys, StatePath: o.statePath, RestartSupported: true, StopTimeout: time.Second,
			Registry: registryWithStart()}
		if o.mod != nil {
			o.mod(&opts)
		}
		cfg := o.cfg
		if cfg.BackfillStep == 0 {
			cfg.BackfillStep, cfg.BackfillDelay = time.Hour, 30*time.Millisecond
		}
		ag, err := exporter.New(synthetic.New(cfg, 1), opts)
		if err != nil {
			t.Error(err)
			return nil
		}
		return ag
	}
	first := build()
	if first == nil {
		t.FailNow()
	}
	go func() {
		defer close(a.done)
		for ag := first; ag != nil; ag = build() {
			h := ag.Handler()
			a.current.Store(ag)
			a.handler.Store(&h)
			a.starts.Add(1)
			err := ag.Run(ctx)
			a.handler.Store(nil)
			if !errors.Is(err, exporter.ErrRestart) || ctx.Err() != nil {
				return
			}
		}
	}()
	t.Cleanup(a.stop)
	return a
}

// registryWithStart exposes the agent's own start time, as a separate process
// would, so a restart shows in process_start_time_seconds.
func registryWithStart() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	started := float64(time.Now().UnixNano()) / 1e9
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "process_start_time_seconds", Help: "Start time."},
		func() float64 { return started }))
	return reg
}

func (a *agent) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.srv.Close()
		a.cancel = nil
	}
}

func (a *agent) url() string { return a.srv.URL + "/metrics" }

// observer hands every evaluation to the dispatcher, as the server wires it.
type observer struct {
	mu sync.Mutex
	d  *Dispatcher
}

func (o *observer) Observed(h *health.Health, _ *fleet.StatusChange) {
	o.mu.Lock()
	d := o.d
	o.mu.Unlock()
	if d != nil {
		d.Observe(h)
	}
}

// harness is a dispatcher over a real SQLite store and a real scrape manager.
type harness struct {
	t      *testing.T
	st     *store.Store
	eval   *health.Evaluator
	scr    *scrape.Manager
	d      *Dispatcher
	key    store.ServerKey
	pub    ed25519.PublicKey
	events *recorded
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
	opts   DispatcherOptions
	url    string // the store
}

type recorded struct {
	mu   sync.Mutex
	all  []string // type/collector
	data []string // each event's data as JSON
}

func (r *recorded) Publish(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, e.Type+" "+e.Collector)
	b, _ := json.Marshal(e.Data)
	r.data = append(r.data, string(b))
}

func (r *recorded) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.all {
		if x == s {
			return true
		}
	}
	return false
}

func newHarness(t *testing.T, mod func(*DispatcherOptions)) *harness {
	t.Helper()
	return newHarnessAt(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), mod)
}

func newHarnessAt(t *testing.T, url string, mod func(*DispatcherOptions)) *harness {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	st, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := EnsureKey(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, key: key, events: &recorded{}, url: url}
	h.pub = mustPub(t, key.PublicKey)
	obs := &observer{}
	h.eval = health.NewEvaluator(health.Options{Observe: obs.Observed})
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.scr = scrape.NewManager(h.ctx, scrape.Options{Sink: h.eval, Metrics: scrape.NewMetrics(prometheus.NewRegistry())})
	if err := h.scr.ApplyJobs([]scrape.JobConfig{{Name: "test", Interval: 100 * time.Millisecond, Timeout: 90 * time.Millisecond,
		HTTPClient: commoncfg.DefaultHTTPClientConfig}}); err != nil {
		t.Fatal(err)
	}
	h.opts = DispatcherOptions{Store: st, Fleet: h.eval, Events: h.events, Expiry: 5 * time.Second, MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, Timeout: 2 * time.Second, ReconcileEvery: 200 * time.Millisecond}
	if mod != nil {
		mod(&h.opts)
	}
	h.d = NewDispatcher(h.opts)
	obs.mu.Lock()
	obs.d = h.d
	obs.mu.Unlock()
	h.done = make(chan error, 1)
	go func() { h.done <- h.d.Run(h.ctx) }()
	<-h.d.Ready()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		h.scr.Stop()
		if err := <-h.done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.cancel = nil
	}
}

func mustPub(t *testing.T, s string) ed25519.PublicKey {
	t.Helper()
	k, err := agentctl.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// scrapeTargets makes the manager scrape these agents.
func (h *harness) scrapeTargets(as ...*agent) {
	var ts []*targets.Target
	for _, a := range as {
		ts = append(ts, &targets.Target{Collector: a.name, Job: "test", ScrapeJob: "test", Org: "acme", Team: "red", Instance: a.srv.Listener.Addr().String(),
			URL: a.url(), Labels: map[string]string{"collector": a.name, "job": "test"}, Meta: map[string]string{},
			Hash: uint64(len(a.name)) * 7919})
	}
	h.scr.Sync(ts)
}

// waitUp waits for a good scrape of the collector showing agent state.
func (h *harness) waitUp(id, state string) health.Health {
	h.t.Helper()
	var got health.Health
	waitFor(h.t, 10*time.Second, func() bool {
		got, _ = h.eval.Get(id)
		return got.Up && got.Agent.State == state
	}, func() string { return "collector " + id + " state " + got.Agent.State + ", want " + state })
	return got
}

func (h *harness) submit(r Request) store.Command {
	h.t.Helper()
	if r.Actor.Name == "" {
		r.Actor = store.Actor{Kind: store.ActorUser, Name: "alice", UserID: "u1"}
	}
	c, err := h.d.Submit(context.Background(), r)
	if err != nil {
		h.t.Fatalf("submit %s: %v", r.Command, err)
	}
	return c
}

// waitStored waits until the store has the command in state (the in-memory
// state leads the store by a write).
func (h *harness) waitStored(id, state string) store.Command {
	h.t.Helper()
	var c store.Command
	waitFor(h.t, 10*time.Second, func() bool {
		c, _ = h.st.Command(context.Background(), id)
		return c.State == state
	}, func() string { return "stored command " + id + " is " + c.State + ", want " + state })
	return c
}

// waitState waits until the command is in state.
func (h *harness) waitState(id, state string, within time.Duration) store.Command {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c, _ := h.d.Wait(ctx, id, func(c store.Command) bool { return c.State == state })
	if c.State != state {
		h.t.Fatalf("command %s (%s): state %s (%s) after %s, want %s", id, c.Command, c.State, c.Error, within, state)
	}
	return c
}

func waitFor(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
