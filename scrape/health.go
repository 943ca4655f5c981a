package scrape

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/corral-dev/corral/targets"
)

// Statuses of a collector, worst first (DESIGN.md, "Health, freshness, completeness").
const (
	StatusOffline    = "offline"
	StatusError      = "error"
	StatusStale      = "stale"
	StatusIncomplete = "incomplete"
	StatusSlow       = "slow"
	StatusPaused     = "paused"
	StatusWaiting    = "waiting"
	StatusOnline     = "online"
	StatusUnknown    = "unknown"
	StatusArchived   = "archived"
)

// Statuses lists every status, worst first.
func Statuses() []string {
	return []string{StatusOffline, StatusError, StatusStale, StatusIncomplete, StatusSlow,
		StatusPaused, StatusWaiting, StatusOnline, StatusUnknown, StatusArchived}
}

// Thresholds decide the status. Zero fields take defaults that depend on the
// target's intervals (see Resolve).
type Thresholds struct {
	OfflineAfter    time.Duration
	StaleAfter      time.Duration
	SlowScrape      time.Duration
	SlowCollection  time.Duration
	IncompleteBelow float64
}

// Windows of completeness.
const (
	Window1h  = "1h"
	Window24h = "24h"
)

// StatusChange is one row of the status history.
type StatusChange struct {
	Collector string
	From, To  string
	Reason    string
	At        time.Time
}

// Bucket is the completeness of one collector in one aligned window.
type Bucket struct {
	Collector     string
	Window        string // Window1h or Window24h
	Start         time.Time
	Expected      float64
	Actual        float64
	ActiveSeconds float64
	ScrapesOK     int64
	ScrapesTotal  int64
}

// Recorder receives what the evaluator wants kept: status changes, buckets and
// snapshots of collectors. It must not block (the store's batching writer does not).
type Recorder interface {
	StatusChanges(...StatusChange)
	Buckets(...Bucket)
	Collectors(...Health)
}

// Health is everything corral knows about one collector at a moment.
type Health struct {
	Collector string
	Target    *targets.Target
	// labels is the target's label set in the text format without the closing
	// brace, rendered once per target for the publishers.
	labels string

	Status      string
	Reason      string
	StatusSince time.Time

	Up                  bool
	FirstSeen           time.Time
	LastScrape          time.Time
	LastSeen            time.Time // last successful scrape
	ScrapeDuration      time.Duration
	LastError           string
	LastReason          string
	ConsecutiveFailures int
	Samples             int

	Agent AgentSample // latest successful scrape's agent values

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

	prev      AgentSample
	prevAt    time.Time
	hasPrev   bool
	minutes   [60]slot
	hours     [24]slot
	hour, day Bucket
	closed    []Bucket // buckets left behind since the last hand-over
	persisted time.Time
}

// Evaluator turns scrape results into health. It is safe for concurrent use: each
// loop observes its own collector.
type Evaluator struct {
	mu         sync.RWMutex
	collectors map[string]*collectorHealth
	sorted     []string
	rec        Recorder
	// PersistEvery bounds how often a collector's snapshot is handed to the
	// recorder when nothing but last_seen changed.
	persistEvery time.Duration
}

// NewEvaluator returns an evaluator that hands changes to rec (which may be nil).
func NewEvaluator(rec Recorder) *Evaluator {
	return &Evaluator{collectors: map[string]*collectorHealth{}, rec: rec, persistEvery: time.Minute}
}

// Restored is what the store remembers of a collector across a server restart.
type Restored struct {
	Status, Reason string
	StatusSince    time.Time
	FirstSeen      time.Time
	LastSeen       time.Time
	LastItem       time.Time
	Buckets        []Bucket // the current hour's and day's buckets
}

// Track starts or updates the evaluation of a target. interval and timeout are the
// target's scrape settings; th its configured thresholds. restored may be nil.
func (e *Evaluator) Track(t *targets.Target, interval, timeout time.Duration, th Thresholds, now time.Time, restored *Restored) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.collectors[t.Collector]
	if !ok {
		c = &collectorHealth{h: Health{Collector: t.Collector, Status: StatusUnknown, Reason: "not scraped yet", StatusSince: now, FirstSeen: now,
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
				case Window1h:
					c.hour = b
				case Window24h:
					c.day = b
				}
			}
		}
		e.collectors[t.Collector] = c
		e.sorted = append(e.sorted, t.Collector)
		sort.Strings(e.sorted)
	}
	c.mu.Lock()
	if c.h.Target != t {
		c.h.labels = openLabels(t)
	}
	c.h.Target = t
	c.interval, c.timeout, c.th = interval, timeout, th
	c.mu.Unlock()
}

// Forget stops the evaluation of collectors not in keep.
func (e *Evaluator) Forget(keep map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.sorted[:0]
	for _, id := range e.sorted {
		if keep[id] {
			out = append(out, id)
		} else {
			delete(e.collectors, id)
		}
	}
	e.sorted = out
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

// Observe accounts one scrape result and re-derives the collector's status.
func (e *Evaluator) Observe(r *Result) {
	e.mu.RLock()
	c, ok := e.collectors[r.Target.Collector]
	e.mu.RUnlock()
	if !ok {
		return
	}
	c.mu.Lock()
	change, buckets, snap := c.observe(r, e.persistEvery)
	c.mu.Unlock()
	if e.rec == nil {
		return
	}
	if change != nil {
		e.rec.StatusChanges(*change)
	}
	e.rec.Buckets(buckets...)
	if snap != nil {
		e.rec.Collectors(*snap)
	}
	if o, ok := e.rec.(Observer); ok {
		c.mu.Lock()
		h := c.h
		c.mu.Unlock()
		o.Observed(&h, change)
	}
}

// Observer is a Recorder that also wants every evaluation (the real-time
// events, the command dispatcher). Observed gets a copy of the health, by
// pointer: a Health is hundreds of bytes, and every scrape loop goroutine
// carries this call on its stack. It must not keep h after it returns.
type Observer interface {
	Observed(h *Health, change *StatusChange)
}

func activeState(s string) bool {
	switch s {
	case "running", "error", "starting":
		return true
	}
	return false
}

func (c *collectorHealth) observe(r *Result, persistEvery time.Duration) (*StatusChange, []Bucket, *Health) {
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
			if activeState(p.State) && activeState(a.State) {
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
		h.LastSeen = now
		h.ConsecutiveFailures = 0
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
	var change *StatusChange
	if status != h.Status {
		change = &StatusChange{Collector: h.Collector, From: h.Status, To: status, Reason: reason, At: now}
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
		th.IncompleteBelow = 0.9
	}
	return th
}

func (c *collectorHealth) derive(now time.Time, th Thresholds) (string, string) {
	h := &c.h
	if h.LastSeen.IsZero() || now.Sub(h.LastSeen) > th.OfflineAfter {
		if h.LastSeen.IsZero() && now.Sub(h.FirstSeen) <= th.OfflineAfter {
			if h.ConsecutiveFailures > 0 {
				return StatusUnknown, fmt.Sprintf("not reached yet: %s", h.LastError)
			}
			return StatusUnknown, "not scraped yet"
		}
		since := "never scraped successfully"
		if !h.LastSeen.IsZero() {
			since = fmt.Sprintf("no successful scrape for %s", roundDur(now.Sub(h.LastSeen)))
		}
		return StatusOffline, fmt.Sprintf("%s (offline after %s); last error: %s", since, roundDur(th.OfflineAfter), h.LastError)
	}
	a := h.Agent
	if a.HasContract && a.State == "error" {
		return StatusError, fmt.Sprintf("the agent reports state error (%.0f failed collections in all)", a.CollectionsError)
	}
	meant := !a.HasContract || activeState(a.State)
	if meant && h.HasFreshness && th.StaleAfter > 0 && h.Freshness > th.StaleAfter {
		return StatusStale, fmt.Sprintf("newest item is %s old (stale after %s)", roundDur(h.Freshness), roundDur(th.StaleAfter))
	}
	if meant && !math.IsNaN(h.Completeness1h) && h.Completeness1h < th.IncompleteBelow {
		return StatusIncomplete, fmt.Sprintf("%.0f%% of the expected items in the last hour (incomplete below %.0f%%)", h.Completeness1h*100, th.IncompleteBelow*100)
	}
	if th.SlowScrape > 0 && h.ScrapeDuration > th.SlowScrape {
		return StatusSlow, fmt.Sprintf("scrape took %s (slow after %s)", roundDur(h.ScrapeDuration), roundDur(th.SlowScrape))
	}
	if meant && th.SlowCollection > 0 && h.CollectionMean > th.SlowCollection {
		return StatusSlow, fmt.Sprintf("collection runs take %s (slow after %s)", roundDur(h.CollectionMean), roundDur(th.SlowCollection))
	}
	switch a.State {
	case "paused":
		return StatusPaused, "paused"
	case "waiting":
		return StatusWaiting, "outside its active schedule"
	}
	return StatusOnline, "ok"
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
		c.bucket(&c.hour, Window1h, t.UTC().Truncate(time.Hour))
		c.bucket(&c.day, Window24h, dayStart(t))
		c.hour.Expected += e
		c.hour.Actual += a
		c.hour.ActiveSeconds += ac
		c.day.Expected += e
		c.day.Actual += a
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
func (c *collectorHealth) bucket(b *Bucket, window string, start time.Time) {
	if b.Start.Equal(start) && b.Window == window {
		return
	}
	if !b.Start.IsZero() {
		c.closed = append(c.closed, *b)
	}
	*b = Bucket{Collector: c.h.Collector, Window: window, Start: start}
}

func (c *collectorHealth) countScrape(at time.Time, ok bool) {
	c.bucket(&c.hour, Window1h, at.UTC().Truncate(time.Hour))
	c.bucket(&c.day, Window24h, dayStart(at))
	for _, b := range []*Bucket{&c.hour, &c.day} {
		b.ScrapesTotal++
		if ok {
			b.ScrapesOK++
		}
	}
}
