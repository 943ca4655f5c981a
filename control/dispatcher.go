package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/api/events"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
)

// DispatcherStore is what the dispatcher keeps; *store.Store is one.
type DispatcherStore interface {
	SubmitCommand(ctx context.Context, c store.Command, audit store.AuditEntry, d *store.DesiredState) error
	UpdateCommand(ctx context.Context, c store.Command) error
	OpenCommands(ctx context.Context) ([]store.Command, error)
	Command(ctx context.Context, id string) (store.Command, error)
	Commands(ctx context.Context, f store.CommandFilter) ([]store.Command, int, error)
	DesiredStates(ctx context.Context) ([]store.DesiredState, error)
	DesiredStatesOf(ctx context.Context, collectors []string) ([]store.DesiredState, error)
	SetDesired(ctx context.Context, d store.DesiredState) error
	KeyStore
	PromoteServerKey(ctx context.Context, kid string, at time.Time) error
	AppendStatusChanges(ctx context.Context, cs []fleet.StatusChange) error
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
}

// Fleet is what the scrapes show of the collectors; *health.Evaluator is one.
type Fleet interface {
	Get(id string) (health.Health, bool)
	Each(fn func(health.Health) bool)
}

// Publisher receives the dispatcher's real-time events; *events.Hub is one.
type Publisher interface {
	Publish(e events.Event)
}

var (
	_ DispatcherStore = (*store.Store)(nil)
	_ Fleet           = (*health.Evaluator)(nil)
	_ Publisher       = (*events.Hub)(nil)
)

// DispatcherOptions configure a Dispatcher. Store and Fleet are required.
type DispatcherOptions struct {
	Store  DispatcherStore
	Fleet  Fleet
	Events Publisher // nil: no events
	// Client sends the requests to agents (default: a plain client); each
	// attempt is bounded by Timeout (default 10s).
	Client  *http.Client
	Timeout time.Duration
	// Expiry is how long a command may take to be delivered and confirmed
	// (default 5m); a running backfill extends it while it makes progress.
	Expiry time.Duration
	// MinBackoff and MaxBackoff bound the wait between delivery attempts
	// (defaults 1s and 30s); it doubles per failed attempt.
	MinBackoff, MaxBackoff time.Duration
	// Workers bounds the deliveries in flight (default 32).
	Workers int
	// ReconcileEvery is the least time between two acts of the reconciler on
	// one collector (default 30s), so an agent that keeps coming back wrong is
	// not flooded.
	ReconcileEvery time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	// Owns, when set, says whether this server delivers a collector's
	// commands: in a cluster only the replica that owns (scrapes) the
	// collector does; nil: every collector's. A command submitted here for a
	// collector owned elsewhere is written to the store and announced; the
	// owner takes it (Adopt).
	Owns func(collector string) bool
	// Announce, when set, is told the collector of every command submitted
	// and every desired state changed here, for its owner to Adopt.
	Announce func(collector string)
	// Tokens rotates the scrape tokens of registered collectors
	// (rotate-credentials with scrape_token); nil: no such rotation. New sets
	// the Lifecycle.
	Tokens TokenRotator
	// TargetsReady is closed once discovery has delivered its first targets
	// (nil: at once). Until then no command is delivered: the commands a
	// stopped server left open would find no collector to deliver to.
	TargetsReady <-chan struct{}
}

// TokenRotator keeps a registered collector's scrape token while a new one is
// rolled out; *Lifecycle is one.
type TokenRotator interface {
	// NextToken makes and keeps a new token for collector and returns its hex
	// SHA-256 for the agent.
	NextToken(ctx context.Context, collector string) (string, error)
	// TokenAcknowledged switches to the token of that SHA-256: the agent has it.
	TokenAcknowledged(ctx context.Context, collector, sha256 string) error
	// TokenAbandoned forgets it: the agent never got it.
	TokenAbandoned(ctx context.Context, collector, sha256 string) error
}

// Errors of Submit, to be checked with errors.Is.
var (
	// ErrNotScraped: the collector is not a current target, so there is no
	// agent address to send to.
	ErrNotScraped = errors.New("the collector is not being scraped")
	// ErrNotAgent: the target does not expose corral's contract, so it is not a
	// corral agent and takes no commands.
	ErrNotAgent = errors.New("the target is not a corral agent")
	// ErrNotStarted: Run has not loaded the store yet.
	ErrNotStarted = errors.New("the dispatcher is starting; retry shortly")
)

// Dispatcher delivers commands and follows them to their end. Its methods are
// safe for concurrent use.
type Dispatcher struct {
	o   DispatcherOptions
	log *slog.Logger
	m   *metrics

	signer atomic.Pointer[agentctl.Signer]
	// ctx ends with Run's context; deliveries and background writes live in it.
	ctx     context.Context
	stopCtx context.CancelFunc
	loaded  chan struct{} // closed once Run has loaded the store
	wake    chan struct{}
	sem     chan struct{}
	wg      sync.WaitGroup

	submitMu sync.Mutex // serialises read-modify-write of desired states

	mu         sync.Mutex
	open       map[string]*entry   // every command not final, by ID
	queues     map[string][]*entry // undelivered commands per collector, oldest first
	acked      map[string][]*entry // acknowledged commands per collector
	desired    map[string]store.DesiredState
	reconciled map[string]time.Time // last act of the reconciler per collector
	// reconciling counts the reconciler's commands per collector still being
	// submitted: until they are queued, hasOpenLocked cannot see them.
	reconciling map[string]int
	dirty       map[*entry]bool // store writes to try again
	rotating    bool            // a key rotation check is running
	closing     bool            // Run is returning: no new background work
}

// entry is one open command.
type entry struct {
	c        store.Command
	base     baseline
	inflight bool          // a delivery attempt is running
	changed  chan struct{} // closed and replaced on every change
	wmu      sync.Mutex    // one store write of this command at a time
	progress time.Time     // when progress was last written
}

// baseline is what the server saw of the agent when the command was made, and
// what the acknowledgement promised: the confirmation compares scrapes with it.
type baseline struct {
	StartTime      float64 `json:"start_time,omitempty"`
	LastCollection float64 `json:"last_collection,omitempty"`
	Generation     float64 `json:"config_generation,omitempty"`
	// TargetGeneration is the generation update_config's answer reported.
	TargetGeneration float64 `json:"target_generation,omitempty"`
}

// NewDispatcher returns a dispatcher; call Run to load the store and start delivering.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		// A transport of its own, so its idle connections close with Run.
		o.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Expiry <= 0 {
		o.Expiry = 5 * time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.ReconcileEvery <= 0 {
		o.ReconcileEvery = 30 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Dispatcher{
		o: o, log: o.Logger, m: newMetrics(o.Registerer), ctx: ctx, stopCtx: stop,
		loaded: make(chan struct{}), wake: make(chan struct{}, 1), sem: make(chan struct{}, o.Workers),
		open: map[string]*entry{}, queues: map[string][]*entry{}, acked: map[string][]*entry{},
		desired: map[string]store.DesiredState{}, reconciled: map[string]time.Time{}, reconciling: map[string]int{}, dirty: map[*entry]bool{},
	}
}

// Run loads the signing key, the desired states and the open commands, then
// delivers, expires and retries until ctx ends. Deliveries in flight are
// waited for.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.stopCtx()
	context.AfterFunc(ctx, d.stopCtx) // deliveries in flight end with ctx
	key, err := EnsureKey(ctx, d.o.Store)
	if err != nil {
		return err
	}
	signer, err := signerOf(key)
	if err != nil {
		return err
	}
	d.signer.Store(signer)
	ds, err := d.o.Store.DesiredStates(ctx)
	if err != nil {
		return fmt.Errorf("load desired states: %w", err)
	}
	cs, err := d.o.Store.OpenCommands(ctx)
	if err != nil {
		return fmt.Errorf("load open commands: %w", err)
	}
	d.mu.Lock()
	for _, s := range ds {
		d.desired[s.Collector] = s
	}
	resent := 0
	for _, c := range cs {
		if !d.owns(c.Collector) {
			continue // another replica's to deliver
		}
		e := &entry{c: c, changed: make(chan struct{})}
		_ = json.Unmarshal(c.Baseline, &e.base)
		if c.State == store.CommandSent {
			// It may or may not have reached the agent before the server
			// stopped: send it again under the same id (the agent answers an id
			// it knows from memory, without running it twice).
			e.c.State, e.c.NextAttemptAt = store.CommandPending, time.Now()
			resent++
		}
		d.open[c.ID] = e
		if e.c.State == store.CommandAcknowledged {
			d.acked[c.Collector] = append(d.acked[c.Collector], e)
		} else {
			d.queues[c.Collector] = append(d.queues[c.Collector], e)
		}
	}
	d.m.open.Set(float64(len(d.open)))
	d.mu.Unlock()
	close(d.loaded)
	if len(cs) > 0 {
		d.log.Info("resumed open commands", "open", len(cs), "in_flight_at_stop", resent)
	}
	d.checkRotation()
	if d.o.TargetsReady != nil {
		select {
		case <-d.o.TargetsReady:
		case <-ctx.Done():
			return nil
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.closing = true
			d.mu.Unlock()
			d.wg.Wait()
			d.o.Client.CloseIdleConnections()
			return nil
		case <-d.wake:
		case <-timer.C:
		}
		next := d.step(time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(10*time.Millisecond, time.Until(next)))
	}
}

// Ready is closed once Run has loaded the store.
func (d *Dispatcher) Ready() <-chan struct{} { return d.loaded }

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// step starts the due deliveries, expires what ran out of time and retries the
// store writes that failed. It returns when it wants to run next.
func (d *Dispatcher) step(now time.Time) time.Time {
	next := now.Add(time.Minute)
	var due, expired, retry []*entry
	d.mu.Lock()
	free := cap(d.sem) - len(d.sem)
	for col, q := range d.queues {
		if !d.owns(col) {
			continue // its owner delivers it; Adopt drops it here
		}
		e := q[0]
		switch {
		case e.inflight:
		case d.awaitingLocked(col) && now.Before(e.c.ExpiresAt):
			// The previous command's effect is not confirmed yet: sending the
			// next one now could undo it before any scrape saw it.
		case !now.Before(e.c.ExpiresAt):
			expired = append(expired, e)
			e.inflight = true // until expire has written it
		case !now.Before(e.c.NextAttemptAt):
			if free > 0 {
				free--
				e.inflight = true
				due = append(due, e)
			} else {
				next = now.Add(50 * time.Millisecond)
			}
		default:
			next = minTime(next, e.c.NextAttemptAt)
		}
		next = minTime(next, e.c.ExpiresAt)
	}
	for col, list := range d.acked {
		if !d.owns(col) {
			continue
		}
		for _, e := range list {
			if !now.Before(e.c.ExpiresAt) {
				expired = append(expired, e)
			} else {
				next = minTime(next, e.c.ExpiresAt)
			}
		}
	}
	for e := range d.dirty {
		retry = append(retry, e)
		delete(d.dirty, e)
		next = minTime(next, now.Add(time.Second))
	}
	d.mu.Unlock()
	for _, e := range expired {
		d.expire(e, now)
	}
	for _, e := range due {
		d.sem <- struct{}{}
		d.spawn(func() {
			defer func() { <-d.sem }()
			d.deliver(e)
		})
	}
	for _, e := range retry {
		d.persistAsync(e)
	}
	return next
}

// awaitingLocked reports whether collector has an acknowledged command whose
// effect no scrape has confirmed yet; a running backfill does not hold the queue
// (a pause must be able to stop it).
func (d *Dispatcher) awaitingLocked(collector string) bool {
	for _, e := range d.acked[collector] {
		if e.c.Command != agentctl.Backfill {
			return true
		}
	}
	return false
}

// spawn runs fn in a goroutine that Run waits for; once Run is returning it
// runs nothing (what fn would have written is written again at the next start).
func (d *Dispatcher) spawn(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	d.wg.Go(fn)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Request is a command asked for.
type Request struct {
	// ID is the command's id; "" generates one. A bulk operation derives it
	// from its own id, so running the operation again creates nothing twice.
	ID        string
	Collector string
	Command   string          // one of agentctl.Commands()
	Args      json.RawMessage // the agent's args
	Reason    string
	Actor     store.Actor
	Remote    string
	// Action names it in the audit trail (default: the command); Params are
	// the audit row's parameters, secrets redacted (default: Args).
	Action string
	Params json.RawMessage
	BulkID string
	// Desired, when set, changes the collector's desired state in the same
	// transaction as the command.
	Desired func(d *store.DesiredState)
}

// Submit creates and queues a command. The collector must be a current target;
// the caller has checked that the actor may act on it.
func (d *Dispatcher) Submit(ctx context.Context, r Request) (store.Command, error) {
	select {
	case <-d.loaded:
	default:
		return store.Command{}, ErrNotStarted
	}
	if !agentctl.IsCommand(r.Command) {
		return store.Command{}, fmt.Errorf("unknown command %q", r.Command)
	}
	h, ok := d.o.Fleet.Get(r.Collector)
	if !ok || h.Target == nil {
		return store.Command{}, fmt.Errorf("%s: %w", r.Collector, ErrNotScraped)
	}
	// A collector another replica owns has no scrape here to tell: its owner
	// finds out when it delivers.
	// Only once a scrape here has read its metrics: after a restart LastSeen
	// comes from the store before the first scrape, with no agent fields yet.
	if h.Scraped && !h.Agent.HasContract && d.owns(r.Collector) {
		return store.Command{}, fmt.Errorf("%s: %w (its /metrics has no corral_collector_state); it takes no commands", r.Collector, ErrNotAgent)
	}
	id := r.ID
	if id == "" {
		id = newCommandID()
	}
	if err := agentctl.ValidateID(id); err != nil {
		return store.Command{}, err
	}
	args := r.Args
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	params := r.Params
	if params == nil {
		params = args
	}
	// Callers redact already, but the reconciler's resend of a desired
	// config passes the agent's args: the audit row never keeps a secret.
	params = Redact(params)
	action := r.Action
	if action == "" {
		action = r.Command
	}
	org, team := tenantOf(&h)
	now := time.Now()
	b := baseline{LastCollection: h.Agent.LastCollection, Generation: h.Agent.ConfigGeneration}
	if h.Agent.HasStartTime {
		b.StartTime = h.Agent.StartTime
	}
	bj, _ := json.Marshal(b)
	c := store.Command{ID: id, Collector: r.Collector, Command: r.Command, Args: args, State: store.CommandPending,
		NextAttemptAt: now, ExpiresAt: now.Add(d.o.Expiry), CreatedAt: now, Baseline: bj, Actor: r.Actor,
		Reason: r.Reason, BulkID: r.BulkID, Org: org, Team: team}
	audit := store.AuditEntry{At: now, Actor: r.Actor, Remote: r.Remote, Action: action, Collector: r.Collector, Org: org,
		Team: team, Reason: r.Reason, Params: params, Result: store.ResultPending, BulkID: r.BulkID}

	var des *store.DesiredState
	if r.Desired != nil {
		d.submitMu.Lock()
		defer d.submitMu.Unlock()
		d.mu.Lock()
		cur := d.desired[r.Collector]
		d.mu.Unlock()
		cur.Config = maps.Clone(cur.Config)
		cur.Tags = append([]string(nil), cur.Tags...)
		cur.Collector = r.Collector
		r.Desired(&cur)
		cur.UpdatedBy, cur.UpdatedAt = r.Actor.Name, now
		des = &cur
	}
	if err := d.o.Store.SubmitCommand(ctx, c, audit, des); err != nil {
		return store.Command{}, err
	}
	c.CreatedAt, c.NextAttemptAt, c.ExpiresAt = ms(c.CreatedAt), ms(c.NextAttemptAt), ms(c.ExpiresAt)
	e := &entry{c: c, base: b, changed: make(chan struct{})}
	owned := d.owns(r.Collector)
	d.mu.Lock()
	if des != nil {
		d.desired[r.Collector] = *des
	}
	if owned {
		d.open[id] = e
		d.queues[r.Collector] = append(d.queues[r.Collector], e)
		d.m.open.Set(float64(len(d.open)))
	}
	d.mu.Unlock()
	d.m.submitted.WithLabelValues(c.Command).Inc()
	d.publishCommand(c)
	if owned {
		d.poke()
	} else if d.o.Announce != nil {
		d.o.Announce(r.Collector)
	}
	return c, nil
}

// SetDesired changes a collector's desired state without a command (tags and
// group, kept by the server only) and appends audit, atomically.
func (d *Dispatcher) SetDesired(ctx context.Context, collector string, actor store.Actor, audit store.AuditEntry, change func(*store.DesiredState)) (store.DesiredState, error) {
	d.submitMu.Lock()
	defer d.submitMu.Unlock()
	d.mu.Lock()
	cur := d.desired[collector]
	d.mu.Unlock()
	cur.Config = maps.Clone(cur.Config)
	cur.Tags = append([]string(nil), cur.Tags...)
	cur.Collector = collector
	change(&cur)
	cur.UpdatedBy, cur.UpdatedAt = actor.Name, time.Now()
	if err := d.o.Store.SetDesired(ctx, cur); err != nil {
		return store.DesiredState{}, err
	}
	if _, err := d.o.Store.AppendAudit(ctx, audit); err != nil {
		d.log.Warn("desired state changed but its audit row was not written", "collector", collector, "err", err)
	}
	d.mu.Lock()
	d.desired[collector] = cur
	d.mu.Unlock()
	if d.o.Announce != nil {
		d.o.Announce(collector)
	}
	return cur, nil
}

// Desired returns a collector's desired state, if it has one.
func (d *Dispatcher) Desired(collector string) (store.DesiredState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.desired[collector]
	return s, ok
}

// Forget drops what the dispatcher holds of a collector that was unregistered:
// its desired state and open commands (the store has failed them already).
func (d *Dispatcher) Forget(collector string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.desired, collector)
	delete(d.reconciled, collector)
	for _, list := range [][]*entry{d.queues[collector], d.acked[collector]} {
		for _, e := range list {
			delete(d.open, e.c.ID)
			e.c.State, e.c.Error = store.CommandFailed, "the collector was unregistered"
			close(e.changed)
			e.changed = make(chan struct{})
		}
	}
	delete(d.queues, collector)
	delete(d.acked, collector)
	d.m.open.Set(float64(len(d.open)))
}

// Command returns a command: the live copy while it is open, else the store's.
func (d *Dispatcher) Command(ctx context.Context, id string) (store.Command, error) {
	d.mu.Lock()
	e, ok := d.open[id]
	var c store.Command
	if ok {
		c = e.c
	}
	d.mu.Unlock()
	if ok {
		return c, nil
	}
	return d.o.Store.Command(ctx, id)
}

// Wait waits until command id satisfies done or is final, or ctx ends, and
// returns it as it then is (with ctx's error when ctx ended first).
func (d *Dispatcher) Wait(ctx context.Context, id string, done func(store.Command) bool) (store.Command, error) {
	for {
		d.mu.Lock()
		e, ok := d.open[id]
		var (
			c  store.Command
			ch chan struct{}
		)
		if ok {
			c, ch = e.c, e.changed
		}
		d.mu.Unlock()
		if !ok {
			c, err := d.o.Store.Command(context.WithoutCancel(ctx), id)
			if err != nil || d.o.Owns == nil || store.CommandFinal(c.State) || done(c) {
				return c, err
			}
			// Another replica delivers it: follow its row.
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-ctx.Done():
				return c, ctx.Err()
			}
		}
		if store.CommandFinal(c.State) || done(c) {
			return c, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return c, ctx.Err()
		}
	}
}

// change applies fn to e's command under the lock and wakes its waiters; it
// returns the command as it now is, and false when it was final already (final
// is final: a late answer or scrape changes nothing).
func (d *Dispatcher) change(e *entry, fn func(c *store.Command)) (store.Command, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changeLocked(e, fn)
}

func (d *Dispatcher) changeLocked(e *entry, fn func(c *store.Command)) (store.Command, bool) {
	if store.CommandFinal(e.c.State) {
		return e.c, false
	}
	fn(&e.c)
	close(e.changed)
	e.changed = make(chan struct{})
	if store.CommandFinal(e.c.State) {
		d.dropLocked(e)
	}
	return e.c, true
}

// dropLocked takes a final command out of the queues; it stays in open until
// its final state is written, so Wait and Command never read a stale row.
func (d *Dispatcher) dropLocked(e *entry) {
	col := e.c.Collector
	d.queues[col] = without(d.queues[col], e)
	if len(d.queues[col]) == 0 {
		delete(d.queues, col)
	}
	d.acked[col] = without(d.acked[col], e)
	if len(d.acked[col]) == 0 {
		delete(d.acked, col)
	}
}

func without(list []*entry, e *entry) []*entry {
	for i, x := range list {
		if x == e {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// persist writes e's current command to the store. Writes of one command are
// serialised and each writes the latest state, so the last write wins. A
// failed write is tried again by the next step.
func (d *Dispatcher) persist(e *entry) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	d.mu.Lock()
	c := e.c
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
	defer cancel()
	err := d.o.Store.UpdateCommand(ctx, c)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			d.dirty[e] = true
		}
		return err
	}
	if store.CommandFinal(c.State) && e.c.State == c.State {
		if _, ok := d.open[c.ID]; ok {
			delete(d.open, c.ID)
			d.m.open.Set(float64(len(d.open)))
		}
	}
	return nil
}

func (d *Dispatcher) persistAsync(e *entry) {
	d.spawn(func() {
		if err := d.persist(e); err != nil && !errors.Is(err, store.ErrNotFound) {
			d.log.Warn("writing a command failed; will retry", "command", e.c.ID, "err", err)
			d.poke()
		}
	})
}

// expire ends a command that ran out of time.
func (d *Dispatcher) expire(e *entry, now time.Time) {
	c, ok := d.change(e, func(c *store.Command) {
		e.inflight = false
		switch c.State {
		case store.CommandAcknowledged:
			c.Error = fmt.Sprintf("acknowledged at %s but no scrape confirmed it within %s", c.AckedAt.Format(time.RFC3339), d.o.Expiry)
		default:
			last := c.Error
			c.Error = fmt.Sprintf("not delivered within %s (%d attempts)", d.o.Expiry, c.Attempts)
			if last != "" {
				c.Error += "; last error: " + last
			}
		}
		c.State, c.FinishedAt = store.CommandExpired, now
	})
	if ok {
		d.finished(e, c)
	}
}

// finished writes and announces a command that reached its final state.
func (d *Dispatcher) finished(e *entry, c store.Command) {
	d.m.finished.WithLabelValues(c.Command, c.State).Inc()
	if c.State == store.CommandConfirmed {
		d.m.confirmTime.Observe(c.FinishedAt.Sub(c.CreatedAt).Seconds())
	}
	if err := d.persist(e); err != nil {
		d.log.Warn("writing a finished command failed; will retry", "command", c.ID, "err", err)
	}
	d.publishCommand(c)
	d.poke() // the next command of the collector may go now
	if sha := tokenOf(c); sha != "" && c.State != store.CommandConfirmed && d.o.Tokens != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
		if err := d.o.Tokens.TokenAbandoned(ctx, c.Collector, sha); err != nil {
			d.log.Warn("forgetting a scrape token the agent never got failed", "collector", c.Collector, "err", err)
		}
		cancel()
	}
	if isRotation(c.BulkID) {
		d.checkRotation()
	}
	if c.State != store.CommandConfirmed {
		d.log.Info("command did not succeed", "collector", c.Collector, "command", c.Command, "id", c.ID, "state", c.State, "reason", c.Error)
	}
}

// tokenOf is the scrape token SHA-256 a rotate_credentials command rolls out, or "".
func tokenOf(c store.Command) string {
	if c.Command != agentctl.RotateCredentials {
		return ""
	}
	var a struct {
		SHA string `json:"metrics_token_sha256"`
	}
	_ = json.Unmarshal(c.Args, &a)
	return a.SHA
}

func newCommandID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "cmd-" + hex.EncodeToString(b[:])
}

// tenantOf is the org and team of a collector as it is scraped now (its
// target's, set once by discovery).
func tenantOf(h *health.Health) (org, team string) {
	if h.Target == nil {
		return "", ""
	}
	return h.Target.Org, h.Target.Team
}

// owns reports whether this server delivers collector's commands.
func (d *Dispatcher) owns(collector string) bool { return d.o.Owns == nil || d.o.Owns(collector) }

// Adopt reads again from the store what other replicas may have changed:
// the desired states of collectors (all of them when none are given), and the
// open commands of the collectors this server owns now but does not hold
// yet. It drops what it holds of collectors it no longer owns (their new
// owner loads them from the store). A command recorded as sent by the
// previous owner is sent again under the same id: the agent answers an id it
// knows from memory without running it twice. Call it when the ownership
// changed and when another replica announced a collector.
func (d *Dispatcher) Adopt(ctx context.Context, collectors ...string) error {
	select {
	case <-d.loaded:
	default:
		return nil // Run loads everything itself
	}
	var ds []store.DesiredState
	var err error
	if len(collectors) == 0 {
		ds, err = d.o.Store.DesiredStates(ctx)
	} else {
		ds, err = d.o.Store.DesiredStatesOf(ctx, collectors)
	}
	if err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	return d.adopt(ctx, ds, collectors)
}

// AdoptOpen is Adopt for the open commands alone, for a periodic sweep: it
// finds a command whose announcement was lost (the bus was reconnecting).
func (d *Dispatcher) AdoptOpen(ctx context.Context) error {
	select {
	case <-d.loaded:
	default:
		return nil
	}
	return d.adopt(ctx, nil, nil)
}

func (d *Dispatcher) adopt(ctx context.Context, ds []store.DesiredState, collectors []string) error {
	cs, err := d.o.Store.OpenCommands(ctx)
	if err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	only := map[string]bool{}
	for _, c := range collectors {
		only[c] = true
	}
	d.mu.Lock()
	for _, s := range ds {
		d.desired[s.Collector] = s
	}
	for col, q := range d.queues {
		if d.owns(col) {
			continue
		}
		for _, e := range q {
			if !e.inflight {
				d.releaseLocked(e)
			}
		}
	}
	for col, list := range d.acked {
		if d.owns(col) {
			continue
		}
		for _, e := range list {
			d.releaseLocked(e)
		}
	}
	adopted := 0
	for _, c := range cs {
		if _, held := d.open[c.ID]; held || !d.owns(c.Collector) || (len(only) > 0 && !only[c.Collector]) {
			continue
		}
		e := &entry{c: c, changed: make(chan struct{})}
		_ = json.Unmarshal(c.Baseline, &e.base)
		if c.State == store.CommandSent {
			e.c.State, e.c.NextAttemptAt = store.CommandPending, time.Now()
		}
		d.open[c.ID] = e
		if e.c.State == store.CommandAcknowledged {
			d.acked[c.Collector] = append(d.acked[c.Collector], e)
		} else {
			d.queues[c.Collector] = append(d.queues[c.Collector], e)
		}
		adopted++
	}
	for col, q := range d.queues {
		slices.SortStableFunc(q, func(a, b *entry) int { return a.c.CreatedAt.Compare(b.c.CreatedAt) })
		d.queues[col] = q
	}
	d.m.open.Set(float64(len(d.open)))
	d.mu.Unlock()
	if adopted > 0 {
		d.log.Info("adopted open commands", "commands", adopted)
		d.poke()
	}
	return nil
}

// releaseLocked lets go of an open command of a collector another replica
// owns now: the store keeps it, its waiters read it from there.
func (d *Dispatcher) releaseLocked(e *entry) {
	delete(d.open, e.c.ID)
	d.dropLocked(e)
	close(e.changed)
	e.changed = make(chan struct{})
}
