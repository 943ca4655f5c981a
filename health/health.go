// Package health turns scrape results into what corral says of a collector:
// its status with the reason, freshness, completeness per aligned hour and
// day, CPU and memory of the agent. It keeps that in memory (the Evaluator),
// hands changes to a Recorder (the store's batching writer) and every
// evaluation to an Observer (real-time events, command confirmation).
package health

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/corral-dev/corral/exporter/contract"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
)

// DefaultIncompleteBelow is the completeness under which a collector is
// incomplete when its thresholds do not say.
const DefaultIncompleteBelow = 0.9

// Thresholds decide the status. Zero fields take defaults that depend on the
// target's intervals (see Resolve).
type Thresholds struct {
	OfflineAfter    time.Duration
	StaleAfter      time.Duration
	SlowScrape      time.Duration
	SlowCollection  time.Duration
	IncompleteBelow float64
}

// Recorder receives what the evaluator wants kept: status changes, buckets and
// the states of collectors. It must not block; the store's batching writer
// (*store.Writer) is one and does not.
type Recorder interface {
	StatusChanges(...fleet.StatusChange)
	Buckets(...fleet.Bucket)
	Collectors(...fleet.CollectorState)
}

// State is what the store keeps of a collector's health.
func (h *Health) State() fleet.CollectorState {
	t := h.Target
	return fleet.CollectorState{ID: h.Collector, Job: t.Job, Instance: t.Instance, URL: t.URL, Labels: t.Labels,
		Provider: t.Provider, Source: t.Source, Status: h.Status, Reason: h.Reason, StatusSince: h.StatusSince,
		LastSeen: h.LastSeen, LastItem: h.LastItem, FirstSeen: h.FirstSeen}
}

// Observer gets every evaluation (the real-time events, the command
// dispatcher): a copy of the health, by pointer, because a Health is hundreds
// of bytes and every scrape loop goroutine carries this call on its stack,
// and the status change it caused, if any. It must not keep h after it
// returns, nor block.
type Observer func(h *Health, change *fleet.StatusChange)

// Options of an Evaluator. Every field may be left zero.
type Options struct {
	// Recorder keeps the changes (nil: kept nowhere).
	Recorder Recorder
	// Observe gets every evaluation (nil: none).
	Observe Observer
	// Thresholds are a target's configured thresholds (its job's, refined
	// by its __corral_*__ labels); zero fields are resolved per evaluation.
	Thresholds func(t *targets.Target) Thresholds
	// Restore returns what the store remembers of a collector, asked when
	// the evaluator first tracks it; nil or a nil answer: nothing.
	Restore func(id string) *Restored
	// Forgot gets what the evaluator knew of each collector it forgets, as
	// Restore would give it back (nil: nobody is told). It is called outside
	// the evaluator's locks and must not block.
	Forgot func(id string, r *Restored)
	// Now is the clock of Track (default time.Now); results carry their own times.
	Now func() time.Time
}

// Health is everything corral knows about one collector at a moment.
type Health struct {
	Collector   string
	Target      *targets.Target
	Status      fleet.Status
	Reason      string
	StatusSince time.Time

	Up         bool
	FirstSeen  time.Time
	LastScrape time.Time
	LastSeen   time.Time // last successful scrape
	// Scraped is whether this process has had a successful scrape of it, so
	// Agent holds what that scrape read. LastSeen may come from the store
	// before that (Restored), with Agent still empty.
	Scraped        bool
	ScrapeDuration time.Duration
	// LastError and LastReason are the last scrape's failure and its reason
	// (timeout, refused, http_503 …); both clear with a successful scrape.
	LastError           string
	LastReason          string
	ConsecutiveFailures int
	// CollectionError is the agent's own trouble, from its latest successful
	// scrape: its collection runs failing in a row. "" while they succeed.
	CollectionError string
	Samples         int

	Agent scrape.AgentSample // latest successful scrape's agent values

	Freshness    time.Duration
	HasFreshness bool
	LastItem     time.Time
	// Completeness over the last hour and day (rolling); NaN without an expectation.
	Completeness1h, Completeness24h float64
	// CollectionMean is the mean duration of the agent's collection runs between
	// the last two scrapes.
	CollectionMean time.Duration
	CPURatio       float64 // cores used by the agent process
	HasCPU         bool
	Restarts       int
	Uptime         time.Duration

	Thresholds Thresholds // as resolved for this collector
}

type slot struct {
	id       int64 // minute or hour number since the epoch
	expected float64
	actual   float64
	active   float64
}

type collectorHealth struct {
	mu       sync.Mutex
	h        Health
	interval time.Duration
	timeout  time.Duration
	th       Thresholds // configured; zero fields resolved per evaluation

	prev      scrape.AgentSample
	prevAt    time.Time
	hasPrev   bool
	minutes   [60]slot
	hours     [24]slot
	hour, day fleet.Bucket
	closed    []fleet.Bucket // buckets left behind since the last hand-over
	persisted time.Time
}

// Evaluator turns scrape results into health. It is safe for concurrent use: each
// loop observes its own collector.
type Evaluator struct {
	mu         sync.RWMutex
	collectors map[string]*collectorHealth
	sorted     []string
	opts       Options
	// PersistEvery bounds how often a collector's snapshot is handed to the
	// recorder when nothing but last_seen changed.
	persistEvery time.Duration
}

// NewEvaluator returns an evaluator.
func NewEvaluator(o Options) *Evaluator {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Evaluator{collectors: map[string]*collectorHealth{}, opts: o, persistEvery: time.Minute}
}

// Restored is what the store remembers of a collector across a server restart.
type Restored struct {
	Status      fleet.Status
	Reason      string
	StatusSince time.Time
	FirstSeen   time.Time
	LastSeen    time.Time
	LastItem    time.Time
	Buckets     []fleet.Bucket // the current hour's and day's buckets
}

// Track starts or updates the evaluation of a target (scrape.Sink). interval
// and timeout are the target's scrape settings.
func (e *Evaluator) Track(t *targets.Target, interval, timeout time.Duration) {
	var th Thresholds
	if e.opts.Thresholds != nil {
		th = e.opts.Thresholds(t)
	}
	now := e.opts.Now()
	// What the store remembers is asked outside the lock: it may be a query,
	// and every scrape loop takes the lock to report.
	var restored *Restored
	e.mu.RLock()
	_, known := e.collectors[t.Collector]
	e.mu.RUnlock()
	if !known && e.opts.Restore != nil {
		restored = e.opts.Restore(t.Collector)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.collectors[t.Collector]
	if !ok {
		c = &collectorHealth{h: Health{Collector: t.Collector, Status: fleet.StatusUnknown, Reason: "not scraped yet", StatusSince: now, FirstSeen: now,
			Completeness1h: math.NaN(), Completeness24h: math.NaN()}}
		if r := restored; r != nil {
			c.h.Status, c.h.Reason, c.h.StatusSince = r.Status, r.Reason, r.StatusSince
			if !r.FirstSeen.IsZero() {
				c.h.FirstSeen = r.FirstSeen
			}
			c.h.LastSeen = r.LastSeen
			c.h.LastItem = r.LastItem
			for _, b := range r.Buckets {
				switch b.Window {
				case fleet.Window1h:
					c.hour = b
				case fleet.Window24h:
					c.day = b
				}
			}
		}
		e.collectors[t.Collector] = c
		e.sorted = append(e.sorted, t.Collector)
		sort.Strings(e.sorted)
	}
	c.mu.Lock()
	c.h.Target = t
	c.interval, c.timeout, c.th = interval, timeout, th
	c.mu.Unlock()
}

// Forget stops the evaluation of collectors not in keep (scrape.Sink).
func (e *Evaluator) Forget(keep map[string]bool) {
	type forgotten struct {
		id string
		r  *Restored
	}
	var gone []forgotten
	e.mu.Lock()
	out := e.sorted[:0]
	for _, id := range e.sorted {
		if keep[id] {
			out = append(out, id)
			continue
		}
		if e.opts.Forgot != nil {
			gone = append(gone, forgotten{id, e.collectors[id].restored()})
		}
		delete(e.collectors, id)
	}
	e.sorted = out
	e.mu.Unlock()
	for _, f := range gone {
		e.opts.Forgot(f.id, f.r)
	}
}

// restored is what Restore would answer for the collector as it is now.
func (c *collectorHealth) restored() *Restored {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &Restored{Status: c.h.Status, Reason: c.h.Reason, StatusSince: c.h.StatusSince, FirstSeen: c.h.FirstSeen,
		LastSeen: c.h.LastSeen, LastItem: c.h.LastItem}
	for _, b := range []fleet.Bucket{c.hour, c.day} {
		if !b.Start.IsZero() {
			r.Buckets = append(r.Buckets, b)
		}
	}
	return r
}

// Get returns a copy of one collector's health.
func (e *Evaluator) Get(id string) (Health, bool) {
	e.mu.RLock()
	c, ok := e.collectors[id]
	e.mu.RUnlock()
	if !ok {
		return Health{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h, true
}

// Each calls fn with every collector's health, sorted by collector, until fn
// returns false. fn gets a copy and may keep it.
func (e *Evaluator) Each(fn func(Health) bool) {
	e.mu.RLock()
	ids := e.sorted
	cs := make([]*collectorHealth, len(ids))
	for i, id := range ids {
		cs[i] = e.collectors[id]
	}
	e.mu.RUnlock()
	for _, c := range cs {
		c.mu.Lock()
		h := c.h
		c.mu.Unlock()
		if !fn(h) {
			return
		}
	}
}

// Len is the number of collectors evaluated.
func (e *Evaluator) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.sorted)
}

// Observe accounts one scrape result and re-derives the collector's status
// (scrape.Sink).
func (e *Evaluator) Observe(r *scrape.Result) {
	e.mu.RLock()
	c, ok := e.collectors[r.Target.Collector]
	e.mu.RUnlock()
	if !ok {
		return
	}
	c.mu.Lock()
	change, buckets, snap := c.observe(r, e.persistEvery)
	c.mu.Unlock()
	if rec := e.opts.Recorder; rec != nil {
		if change != nil {
			rec.StatusChanges(*change)
		}
		rec.Buckets(buckets...)
		if snap != nil && snap.Target != nil {
			rec.Collectors(snap.State())
		}
	}
	if e.opts.Observe != nil {
		c.mu.Lock()
		h := c.h
		c.mu.Unlock()
		e.opts.Observe(&h, change)
	}
}

func (c *collectorHealth) observe(r *scrape.Result, persistEvery time.Duration) (*fleet.StatusChange, []fleet.Bucket, *Health) {
	now := r.Start.Add(r.Duration)
	h := &c.h
	h.LastScrape = r.Start
	h.ScrapeDuration = r.Duration
	ok := r.Err == nil

	// Completeness is accounted on the agent's own clock: between two collection
	// runs (corral_collector_last_collection_timestamp_seconds) the items counter
	// grows by what that run brought, and that span expects rate × its length
	// while the agent was meant to be active (at both ends). Scrape timing adds no
	// noise, and a paused or waiting agent expects nothing.
	if ok && c.hasPrev {
		a, p := &r.Agent, &c.prev
		var actual float64
		if a.HasItems && p.HasItems {
			if a.Items >= p.Items {
				actual = a.Items - p.Items
			} else {
				actual = a.Items // counter reset: the new value is all increase
			}
		}
		from, to := fromUnix(p.LastCollection), fromUnix(a.LastCollection)
		if p.LastCollection > 0 && to.After(from) {
			var expected, active float64
			if contract.Active(p.State) && contract.Active(a.State) {
				dt := to.Sub(from).Seconds()
				active = dt
				if a.ExpectedInterval > 0 && a.ExpectedItems > 0 {
					expected = a.ExpectedItems / a.ExpectedInterval * dt
				}
			}
			c.account(from, to, expected, actual, active)
		} else if actual > 0 {
			c.account(c.prevAt, now, 0, actual, 0)
		}
	}
	c.countScrape(now, ok)

	if ok {
		h.Up = true
		h.Scraped = true
		h.LastSeen = now
		h.ConsecutiveFailures = 0
		h.LastError, h.LastReason = "", ""
		h.Samples = r.Samples
		a := r.Agent
		if c.hasPrev {
			dt := now.Sub(c.prevAt).Seconds()
			if a.HasCPU && c.prev.HasCPU && dt > 0 && a.CPUSeconds >= c.prev.CPUSeconds {
				h.CPURatio = (a.CPUSeconds - c.prev.CPUSeconds) / dt
				h.HasCPU = true
			}
			if dc := a.DurationCount - c.prev.DurationCount; dc > 0 {
				h.CollectionMean = time.Duration((a.DurationSum - c.prev.DurationSum) / dc * float64(time.Second))
			}
			if a.HasStartTime && c.prev.HasStartTime && a.StartTime > c.prev.StartTime+0.001 {
				h.Restarts++
			}
		} else if a.DurationCount > 0 {
			h.CollectionMean = time.Duration(a.DurationSum / a.DurationCount * float64(time.Second))
		}
		if a.HasStartTime && a.StartTime > 0 {
			h.Uptime = now.Sub(time.Unix(0, int64(a.StartTime*1e9)))
		}
		if a.LastItem > 0 {
			h.LastItem = time.Unix(0, int64(a.LastItem*1e9))
		}
		h.Agent = a
		h.CollectionError = ""
		if a.CollectionFailures > 0 {
			h.CollectionError = fmt.Sprintf("%.0f collection runs failed in a row (%.0f in all)", a.CollectionFailures, a.CollectionsError)
		}
		c.prev, c.prevAt, c.hasPrev = a, now, true
	} else {
		h.Up = false
		h.ConsecutiveFailures++
		h.LastError = r.Err.Error()
		h.LastReason = r.Reason
	}
	if !h.LastItem.IsZero() {
		h.Freshness = max(0, now.Sub(h.LastItem))
		h.HasFreshness = true
	}
	h.Completeness1h = c.rolling(c.minutes[:], now.Unix()/60, 60)
	h.Completeness24h = c.rolling(c.hours[:], now.Unix()/3600, 24)

	th := c.resolve()
	h.Thresholds = th
	status, reason := c.derive(now, th)
	var change *fleet.StatusChange
	if status != h.Status {
		change = &fleet.StatusChange{Collector: h.Collector, From: string(h.Status), To: string(status), Reason: reason, At: now}
		h.Status, h.StatusSince = status, now
	}
	h.Reason = reason
	var snap *Health
	if change != nil || now.Sub(c.persisted) >= persistEvery {
		c.persisted = now
		s := *h
		snap = &s
	}
	buckets := append(c.closed, c.hour, c.day)
	c.closed = nil
	return change, buckets, snap
}

// resolve fills the thresholds the config left unset, from the target's intervals
// and what the agent announces.
func (c *collectorHealth) resolve() Thresholds {
	th := c.th
	if th.OfflineAfter == 0 {
		th.OfflineAfter = max(2*time.Minute, 2*c.interval)
	}
	collection := time.Duration(c.prev.ExpectedInterval * float64(time.Second))
	if th.StaleAfter == 0 {
		if collection > 0 {
			th.StaleAfter = 3 * max(collection, c.interval)
		} else {
			th.StaleAfter = 3 * c.interval
		}
	}
	if th.SlowScrape == 0 {
		th.SlowScrape = c.timeout * 8 / 10
	}
	if th.SlowCollection == 0 && collection > 0 {
		th.SlowCollection = collection / 2
	}
	if th.IncompleteBelow == 0 {
		th.IncompleteBelow = DefaultIncompleteBelow
	}
	return th
}

func (c *collectorHealth) derive(now time.Time, th Thresholds) (fleet.Status, string) {
	h := &c.h
	if h.LastSeen.IsZero() || now.Sub(h.LastSeen) > th.OfflineAfter {
		if h.LastSeen.IsZero() && now.Sub(h.FirstSeen) <= th.OfflineAfter {
			if h.ConsecutiveFailures > 0 {
				return fleet.StatusUnknown, fmt.Sprintf("not reached yet (%s): %s", h.LastReason, h.LastError)
			}
			return fleet.StatusUnknown, "not scraped yet"
		}
		since := "never scraped successfully"
		if !h.LastSeen.IsZero() {
			since = fmt.Sprintf("no successful scrape for %s", roundDur(now.Sub(h.LastSeen)))
		}
		if h.LastError == "" {
			return fleet.StatusOffline, fmt.Sprintf("%s (offline after %s)", since, roundDur(th.OfflineAfter))
		}
		return fleet.StatusOffline, fmt.Sprintf("%s (offline after %s); last error (%s): %s", since, roundDur(th.OfflineAfter), h.LastReason, h.LastError)
	}
	if !h.Up {
		// Reached before, failing now: say so, with why, until offline. What
		// the agent said at its last good scrape (state, freshness, duration)
		// is old news, and a hung agent's timeout is not slowness.
		return fleet.StatusError, fmt.Sprintf("scrape failed (%s): %s; offline after %s without a successful scrape",
			h.LastReason, h.LastError, roundDur(th.OfflineAfter))
	}
	a := h.Agent
	if a.HasContract && a.State == contract.StateError {
		return fleet.StatusError, fmt.Sprintf("the agent reports state error (%.0f failed collections in all)", a.CollectionsError)
	}
	meant := !a.HasContract || contract.Active(a.State)
	if meant && h.HasFreshness && th.StaleAfter > 0 && h.Freshness > th.StaleAfter {
		return fleet.StatusStale, fmt.Sprintf("newest item is %s old (stale after %s)", roundDur(h.Freshness), roundDur(th.StaleAfter))
	}
	if meant && !math.IsNaN(h.Completeness1h) && h.Completeness1h < th.IncompleteBelow {
		return fleet.StatusIncomplete, fmt.Sprintf("%.0f%% of the expected items in the last hour (incomplete below %.0f%%)", h.Completeness1h*100, th.IncompleteBelow*100)
	}
	if th.SlowScrape > 0 && h.ScrapeDuration > th.SlowScrape {
		return fleet.StatusSlow, fmt.Sprintf("scrape took %s (slow after %s)", roundDur(h.ScrapeDuration), roundDur(th.SlowScrape))
	}
	if meant && th.SlowCollection > 0 && h.CollectionMean > th.SlowCollection {
		return fleet.StatusSlow, fmt.Sprintf("collection runs take %s (slow after %s)", roundDur(h.CollectionMean), roundDur(th.SlowCollection))
	}
	switch a.State {
	case contract.StatePaused:
		return fleet.StatusPaused, "paused"
	case contract.StateWaiting:
		return fleet.StatusWaiting, "outside its active schedule"
	}
	return fleet.StatusOnline, "ok"
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}

// minExpected is the expectation below which completeness is not judged: too few
// items expected say nothing.
const minExpected = 10

func (c *collectorHealth) rolling(slots []slot, cur int64, n int64) float64 {
	var exp, act float64
	for _, s := range slots {
		if s.id > cur-n && s.id <= cur {
			exp += s.expected
			act += s.actual
		}
	}
	if exp < minExpected {
		return math.NaN()
	}
	return min(1, act/exp)
}

// account spreads one span's amounts pro rata over the minutes, hours and aligned
// buckets it covers.
func (c *collectorHealth) account(from, to time.Time, expected, actual, active float64) {
	total := to.Sub(from).Seconds()
	if total <= 0 {
		return
	}
	for t := from; t.Before(to); {
		next := t.Truncate(time.Minute).Add(time.Minute)
		if next.After(to) {
			next = to
		}
		f := next.Sub(t).Seconds() / total
		e, a, ac := expected*f, actual*f, active*f
		m := &c.minutes[int(t.Unix()/60)%60]
		if id := t.Unix() / 60; m.id != id {
			*m = slot{id: id}
		}
		m.expected += e
		m.actual += a
		m.active += ac
		hs := &c.hours[int(t.Unix()/3600)%24]
		if id := t.Unix() / 3600; hs.id != id {
			*hs = slot{id: id}
		}
		hs.expected += e
		hs.actual += a
		hs.active += ac
		c.bucket(&c.hour, fleet.Window1h, t.UTC().Truncate(time.Hour))
		c.bucket(&c.day, fleet.Window24h, dayStart(t))
		c.hour.ExpectedItems += e
		c.hour.ActualItems += a
		c.hour.ActiveSeconds += ac
		c.day.ExpectedItems += e
		c.day.ActualItems += a
		c.day.ActiveSeconds += ac
		t = next
	}
}

func fromUnix(sec float64) time.Time { return time.Unix(0, int64(sec*1e9)) }

func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// bucket moves b to the window starting at start when it is not there yet.
func (c *collectorHealth) bucket(b *fleet.Bucket, window string, start time.Time) {
	if b.Start.Equal(start) && b.Window == window {
		return
	}
	if !b.Start.IsZero() {
		c.closed = append(c.closed, *b)
	}
	*b = fleet.Bucket{Collector: c.h.Collector, Window: window, Start: start}
}

func (c *collectorHealth) countScrape(at time.Time, ok bool) {
	c.bucket(&c.hour, fleet.Window1h, at.UTC().Truncate(time.Hour))
	c.bucket(&c.day, fleet.Window24h, dayStart(at))
	for _, b := range []*fleet.Bucket{&c.hour, &c.day} {
		b.ScrapesTotal++
		if ok {
			b.ScrapesOK++
		}
	}
}
