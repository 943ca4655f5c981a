package health

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
)

// memRecorder keeps what the evaluator hands over, in memory, for assertions.
type memRecorder struct {
	changes []fleet.StatusChange
	buckets map[string]fleet.Bucket
	snaps   int
}

func (m *memRecorder) StatusChanges(cs ...fleet.StatusChange) { m.changes = append(m.changes, cs...) }
func (m *memRecorder) Buckets(bs ...fleet.Bucket) {
	if m.buckets == nil {
		m.buckets = map[string]fleet.Bucket{}
	}
	for _, b := range bs {
		m.buckets[b.Window+"@"+b.Start.Format(time.RFC3339)] = b
	}
}
func (m *memRecorder) Collectors(cs ...fleet.CollectorState) { m.snaps += len(cs) }

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func running(items float64, lastItem time.Time) scrape.AgentSample {
	return scrape.AgentSample{HasContract: true, State: "running", Items: items, HasItems: true, LastItem: unix(lastItem),
		ExpectedItems: 10, ExpectedInterval: 10, DurationCount: 1, DurationSum: 0.01}
}

func newEval(t *testing.T, th Thresholds) (*Evaluator, *targets.Target, *memRecorder) {
	t.Helper()
	rec := &memRecorder{}
	e := NewEvaluator(Options{Recorder: rec, Thresholds: func(*targets.Target) Thresholds { return th }, Now: func() time.Time { return t0 }})
	tg := &targets.Target{Collector: "c1", Job: "j", Instance: "h:1", Labels: map[string]string{"collector": "c1", "job": "j", "instance": "h:1"}}
	e.Track(tg, 10*time.Second, 5*time.Second)
	return e, tg, rec
}

func ok(tg *targets.Target, at time.Time, a scrape.AgentSample) *scrape.Result {
	if a.LastCollection == 0 {
		a.LastCollection = unix(at)
	}
	return &scrape.Result{Target: tg, Start: at, Duration: 10 * time.Millisecond, Agent: a}
}

func fail(tg *targets.Target, at time.Time) *scrape.Result {
	return &scrape.Result{Target: tg, Start: at, Duration: time.Millisecond, Err: errors.New("connection refused"), Reason: scrape.ReasonRefused}
}

func status(t *testing.T, e *Evaluator) (fleet.Status, string) {
	t.Helper()
	h, _ := e.Get("c1")
	return h.Status, h.Reason
}

func TestStatusDerivation(t *testing.T) {
	cases := []struct {
		name   string
		th     Thresholds
		steps  func(tg *targets.Target) []*scrape.Result
		want   fleet.Status
		reason string
	}{
		{"online", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			var rs []*scrape.Result
			for i := range 10 {
				at := t0.Add(time.Duration(i) * 10 * time.Second)
				rs = append(rs, ok(tg, at, running(float64(i*10), at)))
			}
			return rs
		}, fleet.StatusOnline, "ok"},
		{"unknown before the grace", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			return []*scrape.Result{fail(tg, t0.Add(time.Second))}
		}, fleet.StatusUnknown, "not reached yet (refused): connection refused"},
		{"offline after the grace", Thresholds{OfflineAfter: 30 * time.Second}, func(tg *targets.Target) []*scrape.Result {
			return []*scrape.Result{ok(tg, t0, running(0, t0)), fail(tg, t0.Add(10*time.Second)), fail(tg, t0.Add(20*time.Second)), fail(tg, t0.Add(40*time.Second))}
		}, fleet.StatusOffline, "no successful scrape for 40s"},
		{"never reached is offline after the grace", Thresholds{OfflineAfter: 30 * time.Second}, func(tg *targets.Target) []*scrape.Result {
			return []*scrape.Result{fail(tg, t0.Add(31*time.Second))}
		}, fleet.StatusOffline, "never scraped successfully (offline after 30s); last error (refused): connection refused"},
		{"offline names the last failure's reason", Thresholds{OfflineAfter: 30 * time.Second}, func(tg *targets.Target) []*scrape.Result {
			return []*scrape.Result{ok(tg, t0, running(0, t0)), fail(tg, t0.Add(40*time.Second))}
		}, fleet.StatusOffline, "last error (refused): connection refused"},
		{"agent error", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			a := running(0, t0)
			a.State = "error"
			return []*scrape.Result{ok(tg, t0, a)}
		}, fleet.StatusError, "state error"},
		{"stale", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			// expected interval 10s → stale after 30s
			return []*scrape.Result{ok(tg, t0, running(0, t0.Add(-time.Minute)))}
		}, fleet.StatusStale, "stale after 30s"},
		{"paused is not stale", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			a := running(0, t0.Add(-time.Hour))
			a.State = "paused"
			return []*scrape.Result{ok(tg, t0, a)}
		}, fleet.StatusPaused, "paused"},
		{"waiting", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			a := running(0, t0.Add(-time.Hour))
			a.State = "waiting"
			return []*scrape.Result{ok(tg, t0, a)}
		}, fleet.StatusWaiting, "schedule"},
		{"incomplete", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			var rs []*scrape.Result
			for i := range 10 { // 1 item/s expected, half arrive
				at := t0.Add(time.Duration(i) * 10 * time.Second)
				rs = append(rs, ok(tg, at, running(float64(i*5), at)))
			}
			return rs
		}, fleet.StatusIncomplete, "50% of the expected items"},
		{"slow scrape", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			r := ok(tg, t0, running(0, t0))
			r.Duration = 4500 * time.Millisecond // slow after 80% of the 5s timeout
			return []*scrape.Result{r}
		}, fleet.StatusSlow, "scrape took 4.5s"},
		{"slow collection", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			a, b := running(0, t0), running(10, t0.Add(10*time.Second))
			b.DurationCount, b.DurationSum = 2, 6.01 // one run of 6s; slow after half of 10s
			return []*scrape.Result{ok(tg, t0, a), ok(tg, t0.Add(10*time.Second), b)}
		}, fleet.StatusSlow, "collection runs take 6s"},
		{"not a corral agent: up is online", Thresholds{}, func(tg *targets.Target) []*scrape.Result {
			return []*scrape.Result{ok(tg, t0, scrape.AgentSample{})}
		}, fleet.StatusOnline, "ok"},
		{"threshold override", Thresholds{StaleAfter: 2 * time.Hour}, func(tg *targets.Target) []*scrape.Result {
			return []*scrape.Result{ok(tg, t0, running(0, t0.Add(-time.Hour)))}
		}, fleet.StatusOnline, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, tg, _ := newEval(t, c.th)
			for _, r := range c.steps(tg) {
				e.Observe(r)
			}
			st, reason := status(t, e)
			if st != c.want || !strings.Contains(reason, c.reason) {
				t.Errorf("status %s (%s), want %s (… %s …)", st, reason, c.want, c.reason)
			}
		})
	}
}

func TestStatusHistoryRows(t *testing.T) {
	e, tg, rec := newEval(t, Thresholds{OfflineAfter: 20 * time.Second})
	e.Observe(ok(tg, t0, running(0, t0)))
	e.Observe(fail(tg, t0.Add(10*time.Second)))
	e.Observe(fail(tg, t0.Add(30*time.Second)))
	e.Observe(ok(tg, t0.Add(40*time.Second), running(40, t0.Add(40*time.Second))))
	var got []string
	for _, c := range rec.changes {
		got = append(got, c.From+"→"+c.To)
	}
	if want := "unknown→online online→error error→offline offline→online"; strings.Join(got, " ") != want {
		t.Errorf("history %v, want %s", got, want)
	}
	if c := rec.changes[1]; !strings.Contains(c.Reason, "scrape failed (refused)") || !c.At.Equal(t0.Add(10*time.Second).Add(time.Millisecond)) {
		t.Errorf("failing row: %+v", c)
	}
	if c := rec.changes[2]; c.Reason == "" || !c.At.Equal(t0.Add(30*time.Second).Add(time.Millisecond)) {
		t.Errorf("offline row: %+v", c)
	}
}

// TestScrapeAndCollectionErrors: while scrapes fail the status says so, with
// the failure, until offline — a hung agent's timeouts are not "slow", an old
// freshness is not "stale" — and the last scrape error clears with the next
// good scrape; the agent's own collection failures are reported apart.
func TestScrapeAndCollectionErrors(t *testing.T) {
	e, tg, _ := newEval(t, Thresholds{OfflineAfter: time.Minute})
	e.Observe(ok(tg, t0, running(0, t0)))
	hung := fail(tg, t0.Add(10*time.Second))
	hung.Duration, hung.Reason, hung.Err = 5*time.Second, scrape.ReasonTimeout, errors.New("context deadline exceeded")
	e.Observe(hung)
	if st, reason := status(t, e); st != fleet.StatusError || !strings.Contains(reason, "scrape failed (timeout)") || !strings.Contains(reason, "offline after 1m") {
		t.Errorf("hung agent: %s (%s), want error with the timeout", st, reason)
	}
	e.Observe(fail(tg, t0.Add(50*time.Second))) // the newest item is 50s old now, with a 30s stale threshold
	if st, reason := status(t, e); st != fleet.StatusError || !strings.Contains(reason, "refused") {
		t.Errorf("killed agent: %s (%s), want error, not stale", st, reason)
	}
	h, _ := e.Get("c1")
	if h.LastError == "" || h.LastReason != scrape.ReasonRefused {
		t.Errorf("last error %q (%s)", h.LastError, h.LastReason)
	}
	a := running(50, t0.Add(60*time.Second))
	a.CollectionFailures, a.CollectionsError = 3, 7
	e.Observe(ok(tg, t0.Add(60*time.Second), a))
	h, _ = e.Get("c1")
	if h.LastError != "" || h.LastReason != "" || h.Status == fleet.StatusError {
		t.Errorf("after a good scrape: last error %q (%s), status %s", h.LastError, h.LastReason, h.Status)
	}
	if !strings.Contains(h.CollectionError, "3 collection runs failed in a row") {
		t.Errorf("collection error %q", h.CollectionError)
	}
	e.Observe(ok(tg, t0.Add(70*time.Second), running(60, t0.Add(70*time.Second))))
	if h, _ = e.Get("c1"); h.CollectionError != "" {
		t.Errorf("collection error not cleared: %q", h.CollectionError)
	}
}

func TestCompletenessCounterResetAndBuckets(t *testing.T) {
	e, tg, rec := newEval(t, Thresholds{})
	// 1 item/s expected; counter goes 0, 10, 20, then the agent restarts: 5, 15.
	items := []float64{0, 10, 20, 5, 15}
	for i, v := range items {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		r := ok(tg, at, running(v, at))
		r.Duration = 0
		e.Observe(r)
	}
	h, _ := e.Get("c1")
	// increases: 10 + 10 + 5 + 10 = 35 of 40 expected
	if math.Abs(h.Completeness1h-35.0/40) > 1e-9 {
		t.Errorf("completeness %v, want %v", h.Completeness1h, 35.0/40)
	}
	b := rec.buckets["1h@"+t0.Format(time.RFC3339)]
	if math.Abs(b.ActualItems-35) > 1e-9 || math.Abs(b.ExpectedItems-40) > 1e-9 || b.ScrapesOK != 5 || b.ScrapesTotal != 5 {
		t.Errorf("hour bucket %+v", b)
	}
	if d := rec.buckets["24h@"+t0.Truncate(24*time.Hour).Format(time.RFC3339)]; d.ScrapesTotal != 5 {
		t.Errorf("day bucket %+v", d)
	}
}

func TestWaitingExpectsNothing(t *testing.T) {
	e, tg, rec := newEval(t, Thresholds{})
	a := running(0, t0)
	a.State = "waiting"
	for i := range 20 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		r := ok(tg, at, a)
		r.Duration = 0
		e.Observe(r)
	}
	b := rec.buckets["1h@"+t0.Format(time.RFC3339)]
	if b.ExpectedItems != 0 || b.ActiveSeconds != 0 || b.ScrapesTotal != 20 {
		t.Errorf("waiting bucket %+v", b)
	}
	if h, _ := e.Get("c1"); !math.IsNaN(h.Completeness1h) || h.Status != fleet.StatusWaiting {
		t.Errorf("waiting: completeness %v, status %s", h.Completeness1h, h.Status)
	}
}

func TestBucketSplitAtHourBoundary(t *testing.T) {
	e, tg, rec := newEval(t, Thresholds{})
	start := t0.Add(time.Hour - 5*time.Second)
	a, b := running(0, start), running(10, start)
	a.LastCollection, b.LastCollection = unix(start), unix(start.Add(10*time.Second))
	e.Observe(&scrape.Result{Target: tg, Start: start, Agent: a})
	e.Observe(&scrape.Result{Target: tg, Start: start.Add(10 * time.Second), Agent: b})
	first := rec.buckets["1h@"+t0.Format(time.RFC3339)]
	second := rec.buckets["1h@"+t0.Add(time.Hour).Format(time.RFC3339)]
	if math.Abs(first.ActualItems-5) > 1e-9 || math.Abs(second.ActualItems-5) > 1e-9 || first.ScrapesTotal != 1 || second.ScrapesTotal != 1 {
		t.Errorf("split: %+v / %+v", first, second)
	}
}

func TestRestartsAndCPU(t *testing.T) {
	e, tg, _ := newEval(t, Thresholds{})
	a := running(0, t0)
	a.HasStartTime, a.StartTime, a.HasCPU, a.CPUSeconds = true, unix(t0.Add(-time.Hour)), true, 100
	e.Observe(ok(tg, t0, a))
	b := a
	b.CPUSeconds = 105 // 5 CPU seconds in 10s: half a core
	e.Observe(ok(tg, t0.Add(10*time.Second), b))
	c := b
	c.StartTime = unix(t0.Add(15 * time.Second))
	c.CPUSeconds = 1
	e.Observe(ok(tg, t0.Add(20*time.Second), c))
	h, _ := e.Get("c1")
	if h.Restarts != 1 {
		t.Errorf("restarts %d", h.Restarts)
	}
	if h.Uptime != 5*time.Second+10*time.Millisecond {
		t.Errorf("uptime %s", h.Uptime)
	}
	e.Observe(ok(tg, t0.Add(30*time.Second), c))
	if h, _ := e.Get("c1"); !h.HasCPU || h.CPURatio != 0 {
		t.Errorf("cpu after restart: %v %v", h.HasCPU, h.CPURatio)
	}
}

func TestRestoredStateContinues(t *testing.T) {
	rec := &memRecorder{}
	tg := &targets.Target{Collector: "c1", Labels: map[string]string{"collector": "c1"}}
	hour := fleet.Bucket{Collector: "c1", Window: fleet.Window1h, Start: t0, ExpectedItems: 100, ActualItems: 90, ScrapesOK: 9, ScrapesTotal: 10}
	restored := &Restored{Status: fleet.StatusOnline, Reason: "ok", StatusSince: t0.Add(-time.Hour), Buckets: []fleet.Bucket{hour}}
	e := NewEvaluator(Options{Recorder: rec, Now: func() time.Time { return t0.Add(30 * time.Minute) },
		Restore: func(id string) *Restored { return restored }})
	e.Track(tg, 10*time.Second, 5*time.Second)
	at := t0.Add(31 * time.Minute)
	e.Observe(ok(tg, at, running(0, at)))
	b := rec.buckets["1h@"+t0.Format(time.RFC3339)]
	if b.ScrapesTotal != 11 || b.ActualItems != 90 {
		t.Errorf("restored bucket did not continue: %+v", b)
	}
	if len(rec.changes) != 0 {
		t.Errorf("a restored online collector scraped ok changed status: %+v", rec.changes)
	}
	if h, _ := e.Get("c1"); !h.StatusSince.Equal(t0.Add(-time.Hour)) {
		t.Errorf("status since lost: %s", h.StatusSince)
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// TestForgotRestores: what Forgot is given of a forgotten collector, handed
// back by Restore, continues it where it was — status, first seen, and the
// scrapes of its current buckets.
func TestForgotRestores(t *testing.T) {
	var kept *Restored
	e := NewEvaluator(Options{Now: func() time.Time { return t0 }, Forgot: func(id string, r *Restored) {
		if id == "c1" {
			kept = r
		}
	}})
	tg := &targets.Target{Collector: "c1", Job: "j", Instance: "h:1", Labels: map[string]string{"collector": "c1"}}
	e.Track(tg, 10*time.Second, 5*time.Second)
	for i := range 3 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		e.Observe(ok(tg, at, running(float64(i*10), at)))
	}
	before, _ := e.Get("c1")
	e.Forget(map[string]bool{})
	if kept == nil || kept.Status != before.Status || !kept.FirstSeen.Equal(before.FirstSeen) || len(kept.Buckets) != 2 || kept.Buckets[0].ScrapesTotal != 3 {
		t.Fatalf("Forgot got %+v; the collector was %s since %v with 3 scrapes", kept, before.Status, before.FirstSeen)
	}

	again := NewEvaluator(Options{Now: func() time.Time { return t0.Add(time.Minute) }, Restore: func(string) *Restored { return kept }})
	again.Track(tg, 10*time.Second, 5*time.Second)
	at := t0.Add(40 * time.Second)
	again.Observe(ok(tg, at, running(40, at)))
	h, _ := again.Get("c1")
	if h.Status != before.Status || !h.FirstSeen.Equal(before.FirstSeen) {
		t.Fatalf("restored from what Forgot got: %s since %v first seen %v, want %s first seen %v", h.Status, h.StatusSince, h.FirstSeen, before.Status, before.FirstSeen)
	}
}
