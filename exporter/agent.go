package exporter

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/exporter/contract"
	"github.com/corral-dev/corral/exporter/control"
)

// ErrRestart is returned by Agent.Run after a restart command: the caller (the
// program's main) starts a fresh process and exits.
var ErrRestart = errors.New("restart requested")

// RetryPolicy says how a failed collection is retried before the run counts as failed.
type RetryPolicy struct {
	// Attempts is the number of tries per scheduled run (default 3).
	Attempts int
	// InitialBackoff is the wait before the first retry (default 1s); it doubles per
	// retry up to MaxBackoff (default 30s) and never beyond the collection interval.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// Options configure an Agent. Zero values get the defaults documented per field.
type Options struct {
	// Name is the collector's identity: the collector label and the audience of
	// control tokens. Required.
	Name    string
	Kind    string // e.g. postgres, mysql, synthetic
	Version string

	Interval time.Duration // between collections (default 1m)
	Jitter   time.Duration // random delay added to each run, [0, Jitter) (default 0)
	Timeout  time.Duration // of one collection attempt (default: Interval)

	// ExpectedItems is how many items ExpectedInterval (default: Interval) should
	// bring; 0 means no expectation.
	ExpectedItems    float64
	ExpectedInterval time.Duration

	Schedule Schedule // nil: always active
	Retry    RetryPolicy
	// ErrorAfter is the number of failed runs in a row that puts the collector in
	// state error (default 1). A success returns it to running.
	ErrorAfter int
	// StopTimeout bounds how long shutdown waits for an in-flight collection (default 10s).
	StopTimeout time.Duration

	// StatePath is the file that keeps paused state, config generation, applied
	// config and rotated credentials across restarts; "" keeps nothing.
	StatePath string

	// TrustedKeys verify control tokens; none disables /control.
	TrustedKeys []ed25519.PublicKey
	// MetricsTokenSHA256 is the hex SHA-256 of the bearer token /metrics and /logs
	// require; "" leaves them open.
	MetricsTokenSHA256 string

	Logger   *slog.Logger
	Logs     *LogBuffer           // served on /logs; nil: a buffer of 1000 records
	Registry *prometheus.Registry // nil: NewRegistry()
	// StartPaused starts the collector paused unless a state file exists (which
	// then decides).
	StartPaused bool
	// RestartSupported enables the restart command; Run then returns ErrRestart.
	RestartSupported bool
	// TokenGrace is how long the previous /metrics token stays valid after
	// rotate_credentials set a new one (default 10m), so the server can switch
	// without a failed scrape.
	TokenGrace time.Duration
}

type lastCollection struct {
	At       time.Time     `json:"at"`
	Result   string        `json:"result"`
	Items    int           `json:"items"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_seconds"`
}

type backfillStatus struct {
	Running  bool      `json:"running"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Progress float64   `json:"progress_ratio"`
	Items    int       `json:"items"`
	Error    string    `json:"error,omitempty"`
	cancel   context.CancelFunc
}

// Agent runs one collector: schedule, state machine, accounting and commands.
type Agent struct {
	opts     Options
	c        Collector
	log      *slog.Logger
	reg      *prometheus.Registry
	m        *contractMetrics
	verifier *control.Verifier
	logs     *LogBuffer
	started  time.Time

	collectMu sync.Mutex // one collection at a time, scheduled or commanded
	wake      chan bool  // true: collect now; false: reschedule
	restart   chan struct{}

	mu               sync.Mutex
	runCtx           context.Context
	state            string
	st               persistedState
	interval         time.Duration
	jitter           time.Duration
	timeout          time.Duration
	expectedItems    float64
	expectedInterval time.Duration
	tokenHash        []byte
	tokenSource      string    // tokenSource*: where tokenHash came from
	prevTokenHash    []byte    // the token before the last rotation …
	prevTokenUntil   time.Time // … accepted until then
	lastItem         time.Time
	last             lastCollection
	lastError        string
	lastErrorAt      time.Time
	consecutive      int
	backfill         *backfillStatus
	executing        map[string]chan struct{} // command ids being carried out → closed when answered
}

// New builds an agent around c. It loads the state file (so a paused collector stays
// paused) and re-applies config changes made by earlier update_config commands.
func New(c Collector, opts Options) (*Agent, error) {
	if opts.Name == "" {
		return nil, errors.New("agent name is required: it is the collector's identity")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = opts.Interval
	}
	if opts.ExpectedInterval <= 0 {
		opts.ExpectedInterval = opts.Interval
	}
	if opts.Retry.Attempts <= 0 {
		opts.Retry.Attempts = 3
	}
	if opts.Retry.InitialBackoff <= 0 {
		opts.Retry.InitialBackoff = time.Second
	}
	if opts.Retry.MaxBackoff <= 0 {
		opts.Retry.MaxBackoff = 30 * time.Second
	}
	if opts.ErrorAfter <= 0 {
		opts.ErrorAfter = 1
	}
	if opts.TokenGrace <= 0 {
		opts.TokenGrace = 10 * time.Minute
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Logs == nil {
		opts.Logs = NewLogBuffer(1000)
	}
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	if opts.Version == "" {
		opts.Version = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			opts.Version = bi.Main.Version
		}
	}
	a := &Agent{
		opts:             opts,
		c:                c,
		log:              opts.Logger,
		reg:              opts.Registry,
		logs:             opts.Logs,
		started:          time.Now(),
		wake:             make(chan bool, 1),
		restart:          make(chan struct{}, 1),
		interval:         opts.Interval,
		jitter:           opts.Jitter,
		timeout:          opts.Timeout,
		expectedItems:    opts.ExpectedItems,
		expectedInterval: opts.ExpectedInterval,
	}
	var err error
	if a.m, err = newContractMetrics(a.reg, opts.Name, opts.Kind, opts.Version); err != nil {
		return nil, fmt.Errorf("register contract metrics: %w", err)
	}
	// The server pulls /logs only when this moved since its last pull.
	if err := a.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: contract.MetricLogRecords,
		Help: "Log records the agent kept for /logs since it started (the cursor of the newest).",
	}, func() float64 { return float64(a.logs.Count()) })); err != nil {
		return nil, fmt.Errorf("register contract metrics: %w", err)
	}
	if mp, ok := c.(MetricsProvider); ok {
		for _, col := range mp.Metrics() {
			if err := a.reg.Register(col); err != nil {
				return nil, fmt.Errorf("register collector metrics: %w", err)
			}
		}
	}
	if opts.MetricsTokenSHA256 != "" {
		if a.tokenHash, err = parseTokenHash(opts.MetricsTokenSHA256); err != nil {
			return nil, err
		}
	}
	if a.st, err = loadState(opts.StatePath); err != nil {
		return nil, err
	}
	if opts.StartPaused {
		if _, err := os.Stat(opts.StatePath); opts.StatePath == "" || err != nil {
			a.st.Paused = true
			a.st.PausedReason = "started paused"
		}
	}
	keys, err := a.trustedKeys(a.st.AddedKeys, a.st.RemovedKeys)
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	a.verifier = control.NewVerifier(opts.Name, keys...)
	if err := a.loadRotatedToken(); err != nil {
		return nil, err
	}
	if a.st.PrevTokenSHA256 != "" && time.Now().Before(a.st.PrevTokenUntil) {
		if a.prevTokenHash, err = parseTokenHash(a.st.PrevTokenSHA256); err != nil {
			return nil, fmt.Errorf("state file: %w", err)
		}
		a.prevTokenUntil = a.st.PrevTokenUntil
	}
	if len(a.st.ConfigPatch) > 0 {
		if err := a.applyPatch(context.Background(), a.st.ConfigPatch); err != nil {
			return nil, fmt.Errorf("re-apply config changes from state file %s: %w", opts.StatePath, err)
		}
	}
	if a.st.LastItemTimestamp > 0 {
		a.lastItem = time.Unix(0, int64(a.st.LastItemTimestamp*1e9))
		a.m.lastItem.Set(a.st.LastItemTimestamp)
	}
	a.m.configGeneration.Set(float64(a.st.ConfigGeneration))
	a.publishExpectation()
	a.setStateLocked(StateStarting)
	if a.st.Paused {
		a.setStateLocked(StatePaused)
	}
	return a, nil
}

// Where the /metrics token in effect came from, as /healthz says.
const (
	tokenSourceNone     = "none"     // no token: /metrics and /logs are open
	tokenSourceConfig   = "config"   // listen.metrics_token_*
	tokenSourceRotation = "rotation" // rotate_credentials, kept in the state file
)

// loadRotatedToken decides between the config's /metrics token and one that
// rotate_credentials left in the state file: the newer wins. The rotation is
// newer when the config still has the token it replaced; a config with another
// token was changed after the rotation (a re-registration answers a new one)
// and wins, and the rotated token is dropped from the state file.
func (a *Agent) loadRotatedToken() error {
	a.tokenSource = tokenSourceNone
	if a.tokenHash != nil {
		a.tokenSource = tokenSourceConfig
	}
	if a.st.MetricsTokenSHA256 == "" {
		return nil
	}
	rotated, err := parseTokenHash(a.st.MetricsTokenSHA256)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	config := strings.ToLower(a.opts.MetricsTokenSHA256)
	switch replaced := a.st.ReplacedConfigToken; {
	case replaced == nil:
		// A state file from an agent that did not record what the rotation
		// replaced: the rotation wins, as it did then, and the log says how out.
		a.log.Warn("the metrics token rotated by rotate_credentials (kept in the state file) overrides listen.metrics_token_* of the config;"+
			" if corral's scrapes fail with http_401 after a re-registration, remove metrics_token_sha256 from the state file",
			"state_file", a.opts.StatePath)
	case !strings.EqualFold(*replaced, config):
		a.log.Info("the config's metrics token differs from the one rotate_credentials replaced: the config is newer and wins; the rotated token is dropped",
			"state_file", a.opts.StatePath)
		a.st.MetricsTokenSHA256, a.st.ReplacedConfigToken = "", nil
		a.st.PrevTokenSHA256, a.st.PrevTokenUntil = "", time.Time{}
		if err := saveState(a.opts.StatePath, a.st); err != nil {
			return err
		}
		return nil
	default:
		a.log.Info("using the metrics token rotated by rotate_credentials (kept in the state file) instead of the config's, which it replaced",
			"state_file", a.opts.StatePath)
	}
	a.tokenHash, a.tokenSource = rotated, tokenSourceRotation
	return nil
}

func parseTokenHash(h string) ([]byte, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return nil, errors.New("metrics token hash must be 64 hex characters (sha256sum of the token)")
	}
	return b, nil
}

// trustedKeys is the configured keys plus those added by rotate_credentials, minus
// those removed by it.
func (a *Agent) trustedKeys(added, removed []string) ([]ed25519.PublicKey, error) {
	gone := map[string]bool{}
	for _, r := range removed {
		k, err := control.ParsePublicKey(r)
		if err != nil {
			return nil, err
		}
		gone[control.KeyID(k)] = true
	}
	var out []ed25519.PublicKey
	seen := map[string]bool{}
	add := func(k ed25519.PublicKey) {
		id := control.KeyID(k)
		if !gone[id] && !seen[id] {
			seen[id] = true
			out = append(out, k)
		}
	}
	for _, k := range a.opts.TrustedKeys {
		add(k)
	}
	for _, s := range added {
		k, err := control.ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		add(k)
	}
	return out, nil
}

// Registry is the agent's metrics registry, for embedders that add metrics.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Logs is the buffer /logs serves.
func (a *Agent) Logs() *LogBuffer { return a.logs }

// State is the current state of the state machine.
func (a *Agent) State() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

func (a *Agent) setStateLocked(s string) {
	if a.state == s {
		return
	}
	from := a.state
	a.state = s
	a.m.setState(s)
	if from != "" {
		a.log.Info("state changed", "from", from, "to", s)
	}
}

func (a *Agent) publishExpectation() {
	a.m.expectedItems.Set(a.expectedItems)
	a.m.expectedInterval.Set(a.expectedInterval.Seconds())
}

// Run schedules collections until ctx ends. On cancellation it stops scheduling,
// lets an in-flight collection finish within Options.StopTimeout and returns nil.
// After a restart command it returns ErrRestart.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	a.log.Info("collector started", "kind", a.opts.Kind, "interval", a.interval, "paused", a.st.Paused)
	// Runs keep a fixed cadence from the start (plus jitter), so retries and slow
	// collections do not make the schedule drift.
	scheduled := time.Now()
	timer := time.NewTimer(a.randomJitter())
	defer timer.Stop()
	for {
		collectNow := true
		select {
		case <-ctx.Done():
			a.stop()
			return nil
		case <-a.restart:
			a.stop()
			return ErrRestart
		case <-timer.C:
		case collectNow = <-a.wake:
			if !collectNow {
				// The interval changed: start the new cadence now.
				scheduled = time.Now()
			}
		}
		if collectNow {
			a.tick(ctx)
		}
		a.mu.Lock()
		interval := a.interval
		jitter := a.randomJitterLocked()
		a.mu.Unlock()
		now := time.Now()
		scheduled = scheduled.Add(interval)
		for !scheduled.After(now) {
			scheduled = scheduled.Add(interval)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(scheduled.Sub(now) + jitter)
	}
}

func (a *Agent) stop() {
	a.mu.Lock()
	a.setStateLocked(StateStopping)
	if a.backfill != nil && a.backfill.Running {
		a.backfill.cancel()
	}
	st := a.st
	a.mu.Unlock()
	// Wait for an in-flight collection: it got its own bounded context.
	a.collectMu.Lock()
	defer a.collectMu.Unlock()
	if err := saveState(a.opts.StatePath, st); err != nil {
		a.log.Error("saving state at shutdown failed", "err", err)
	}
	a.log.Info("collector stopped")
}

func (a *Agent) randomJitter() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.randomJitterLocked()
}

func (a *Agent) randomJitterLocked() time.Duration {
	if a.jitter <= 0 {
		return 0
	}
	return rand.N(a.jitter)
}

func (a *Agent) poke(collectNow bool) {
	select {
	case a.wake <- collectNow:
	default:
	}
}

// tick is one scheduled run: skipped while paused, waiting outside the schedule,
// otherwise a collection with retries.
func (a *Agent) tick(ctx context.Context) {
	a.mu.Lock()
	if a.st.Paused {
		a.mu.Unlock()
		return
	}
	if a.opts.Schedule != nil && !a.opts.Schedule.Active(time.Now()) {
		a.setStateLocked(StateWaiting)
		a.mu.Unlock()
		return
	}
	if a.state == StateWaiting || a.state == StateStarting {
		a.setStateLocked(StateRunning)
	}
	a.mu.Unlock()

	backoff := a.opts.Retry.InitialBackoff
	var err error
	for attempt := 1; attempt <= a.opts.Retry.Attempts; attempt++ {
		if _, err = a.collect(ctx); err == nil {
			return
		}
		if attempt == a.opts.Retry.Attempts || ctx.Err() != nil || a.isPaused() {
			break
		}
		a.mu.Lock()
		wait := min(backoff, a.opts.Retry.MaxBackoff, a.interval)
		a.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		backoff *= 2
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.consecutive++
	a.m.consecutiveFailures.Set(float64(a.consecutive))
	if a.consecutive >= a.opts.ErrorAfter && !a.st.Paused && a.state != StateStopping {
		a.setStateLocked(StateError)
	}
}

// Paused tells whether the collector is paused (by command or StartPaused).
func (a *Agent) Paused() bool { return a.isPaused() }

func (a *Agent) isPaused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.Paused
}

// collect runs the collector once and does the accounting. The attempt gets its own
// context bounded by the timeout, so a shutdown lets it finish within StopTimeout.
func (a *Agent) collect(parent context.Context) (res Result, err error) {
	a.collectMu.Lock()
	defer a.collectMu.Unlock()
	a.mu.Lock()
	timeout := a.timeout
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	stopLater := context.AfterFunc(parent, func() {
		t := time.AfterFunc(a.opts.StopTimeout, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	defer stopLater()

	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("collector panicked: %v", p)
			}
		}()
		res, err = a.c.Collect(ctx)
	}()
	end := time.Now()
	dur := end.Sub(start)
	a.m.duration.Observe(dur.Seconds())
	a.m.lastCollection.Set(float64(end.UnixNano()) / 1e9)

	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = lastCollection{At: end, Items: res.Items, Duration: dur, Seconds: dur.Seconds()}
	if err != nil {
		a.m.collections.WithLabelValues("error").Inc()
		a.last.Result = "error"
		a.lastError = err.Error()
		a.lastErrorAt = end
		a.log.Warn("collection failed", "err", err, "duration", dur)
		return res, err
	}
	a.m.collections.WithLabelValues("success").Inc()
	a.last.Result = "success"
	if res.Items > 0 {
		a.m.items.Add(float64(res.Items))
	}
	if res.Newest.After(a.lastItem) {
		a.lastItem = res.Newest
		ts := float64(res.Newest.UnixNano()) / 1e9
		a.m.lastItem.Set(ts)
		a.st.LastItemTimestamp = ts
	}
	a.consecutive = 0
	a.m.consecutiveFailures.Set(0)
	if a.state == StateError || a.state == StateStarting {
		a.setStateLocked(StateRunning)
	}
	a.log.Debug("collection done", "items", res.Items, "duration", dur)
	return res, nil
}

// Health is the /healthz document.
type Health struct {
	Collector        string          `json:"collector"`
	Kind             string          `json:"kind"`
	State            string          `json:"state"`
	Healthy          bool            `json:"healthy"`
	UptimeSeconds    float64         `json:"uptime_seconds"`
	Version          string          `json:"version"`
	PID              int             `json:"pid"`
	LastCollection   *lastCollection `json:"last_collection,omitempty"`
	LastItem         *time.Time      `json:"last_item,omitempty"`
	LastError        string          `json:"last_error,omitempty"`
	LastErrorAt      *time.Time      `json:"last_error_at,omitempty"`
	Failures         int             `json:"consecutive_failures"`
	ConfigGeneration int64           `json:"config_generation"`
	PausedReason     string          `json:"paused_reason,omitempty"`
	// MetricsTokenSource says which token /metrics and /logs require: none,
	// config (listen.metrics_token_*) or rotation (rotate_credentials, kept in
	// the state file; it overrides the config's while the config still has
	// the token it replaced).
	MetricsTokenSource string          `json:"metrics_token_source"`
	Backfill           *backfillStatus `json:"backfill,omitempty"`
}

// Health reports the agent's health; Healthy is false in states starting, error
// and stopping.
func (a *Agent) Health() Health {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := Health{
		Collector:          a.opts.Name,
		Kind:               a.opts.Kind,
		State:              a.state,
		UptimeSeconds:      time.Since(a.started).Seconds(),
		Version:            a.opts.Version,
		PID:                os.Getpid(),
		LastError:          a.lastError,
		Failures:           a.consecutive,
		ConfigGeneration:   a.st.ConfigGeneration,
		PausedReason:       a.st.PausedReason,
		MetricsTokenSource: a.tokenSource,
	}
	switch a.state {
	case StateRunning, StatePaused, StateWaiting:
		h.Healthy = true
	}
	if !a.last.At.IsZero() {
		l := a.last
		h.LastCollection = &l
	}
	if !a.lastItem.IsZero() {
		t := a.lastItem
		h.LastItem = &t
	}
	if !a.lastErrorAt.IsZero() {
		t := a.lastErrorAt
		h.LastErrorAt = &t
	}
	if a.backfill != nil {
		b := *a.backfill
		h.Backfill = &b
	}
	return h
}

func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("args must be a JSON object: %w", err)
	}
	return m, nil
}
