package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/corral-dev/corral/fleet"
)

// TestWriterConcurrentSQLite enqueues from 8 goroutines while Run flushes to a
// real SQLite file, then ends Run: its last flush must store everything, in order.
func TestWriterConcurrentSQLite(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	s := openStore(t, sqliteURL(t))
	w := NewWriter(s, WriterOptions{FlushInterval: 10 * time.Millisecond, MaxBatch: 50, Registerer: prometheus.NewRegistry()})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	const goroutines, n = 8, 300
	at := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			id := fmt.Sprintf("g%d", g)
			for i := range n {
				w.Collectors(fleet.CollectorState{ID: id, Status: fleet.Status(fmt.Sprint(i)), Labels: map[string]string{"g": id}, LastSeen: at})
				w.StatusChanges(fleet.StatusChange{Collector: id, To: fmt.Sprint(i), At: at}) // same At: order is append order
				w.Buckets(fleet.Bucket{Collector: id, Window: "1h", Start: at.Add(time.Duration(i%10) * time.Hour), ActualItems: float64(i)})
			}
		})
	}
	wg.Wait()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if p := w.Pending(); p != 0 {
		t.Fatalf("Pending() = %d after the final flush", p)
	}

	if got := count(t, s, "status_changes"); got != goroutines*n {
		t.Fatalf("%d status changes stored, want %d", got, goroutines*n)
	}
	for g := range goroutines {
		id := fmt.Sprintf("g%d", g)
		c, err := s.Collector(ctx, id)
		if err != nil || string(c.Status) != fmt.Sprint(n-1) || c.Labels["g"] != id {
			t.Errorf("collector %s = %+v, %v; want the last state", id, c, err)
		}
		h, err := s.StatusHistory(ctx, id, time.Time{}, time.Time{}, 0)
		if err != nil || len(h) != n {
			t.Fatalf("history of %s: %d changes, %v", id, len(h), err)
		}
		for k, c := range h {
			if want := fmt.Sprint(n - 1 - k); c.To != want {
				t.Fatalf("history of %s, newest first: change %d is %q, want %q", id, k, c.To, want)
			}
		}
		bs, err := s.Buckets(ctx, id, "1h", time.Time{}, time.Time{})
		if err != nil || len(bs) != 10 {
			t.Fatalf("buckets of %s: %d, %v", id, len(bs), err)
		}
		for k, b := range bs {
			if want := float64(n - 10 + k); b.ActualItems != want { // the last i with i%10 == k
				t.Errorf("bucket %s %d: actual %v, want %v", id, k, b.ActualItems, want)
			}
		}
	}
}

// TestWriterLatestWins: while pending, a newer collector state or bucket replaces
// the older; status changes all stay.
func TestWriterLatestWins(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteURL(t))
	w := NewWriter(s, WriterOptions{})
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		w.Collectors(fleet.CollectorState{ID: "c1", Status: fleet.Status(fmt.Sprint(i))})
		w.Buckets(fleet.Bucket{Collector: "c1", Window: "1h", Start: start, ActualItems: float64(i)})
		w.StatusChanges(fleet.StatusChange{Collector: "c1", To: fmt.Sprint(i), At: start})
	}
	if p := w.Pending(); p != 1+1+5 {
		t.Fatalf("Pending() = %d, want 7", p)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Collector(ctx, "c1")
	bs, _ := s.Buckets(ctx, "c1", "1h", start, start)
	if c.Status != "4" || len(bs) != 1 || bs[0].ActualItems != 4 || count(t, s, "status_changes") != 5 {
		t.Fatalf("collector %+v, buckets %+v, %d status changes", c, bs, count(t, s, "status_changes"))
	}
	if err := w.Flush(ctx); err != nil || w.Pending() != 0 {
		t.Fatalf("empty flush: %v, pending %d", err, w.Pending())
	}
}

// faulty is a real store that fails chosen transactions, to see what the Writer
// puts back.
type faulty struct {
	*Store
	mu     sync.Mutex
	calls  map[string]int // kind → calls so far
	failAt map[string]int // kind → the call that fails
}

var errInjected = errors.New("injected failure")

// failCall makes the nth call of kind from now on fail.
func (f *faulty) failCall(kind string, nth int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAt[kind] = f.calls[kind] + nth
}

func (f *faulty) failing(kind string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[kind]++
	return f.calls[kind] == f.failAt[kind]
}

func (f *faulty) UpsertCollectors(ctx context.Context, cs []fleet.CollectorState) error {
	if f.failing("collector") {
		return errInjected
	}
	return f.Store.UpsertCollectors(ctx, cs)
}

func (f *faulty) AppendStatusChanges(ctx context.Context, cs []fleet.StatusChange) error {
	if f.failing("status") {
		return errInjected
	}
	return f.Store.AppendStatusChanges(ctx, cs)
}

func (f *faulty) UpsertBuckets(ctx context.Context, bs []fleet.Bucket) error {
	if f.failing("bucket") {
		return errInjected
	}
	return f.Store.UpsertBuckets(ctx, bs)
}

func TestWriterPutBack(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteURL(t))
	f := &faulty{Store: s, calls: map[string]int{}, failAt: map[string]int{}}
	reg := prometheus.NewRegistry()
	w := NewWriter(f, WriterOptions{MaxBatch: 2, Registerer: reg})
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	status := func(i int) fleet.StatusChange {
		return fleet.StatusChange{Collector: "c1", To: fmt.Sprintf("s%d", i), At: at}
	}

	// Collectors fail: nothing else is written before them.
	w.Collectors(fleet.CollectorState{ID: "c1", Status: "old"}, fleet.CollectorState{ID: "c2"}, fleet.CollectorState{ID: "c3"})
	w.StatusChanges(status(1), status(2), status(3), status(4), status(5))
	w.Buckets(fleet.Bucket{Collector: "c1", Window: "1h", Start: at, ActualItems: 1})
	f.failCall("collector", 1)
	if err := w.Flush(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Flush = %v, want the injected failure", err)
	}
	if p, n := w.Pending(), count(t, s, "status_changes"); p != 9 || n != 0 {
		t.Fatalf("after a failed collector write: pending %d (want 9), %d status changes stored (want 0)", p, n)
	}

	// A newer state enqueued meanwhile wins over the one put back. The second
	// status transaction fails: the first (s1, s2) is committed and not repeated.
	w.Collectors(fleet.CollectorState{ID: "c1", Status: "new"})
	f.failCall("status", 2)
	if err := w.Flush(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Flush = %v, want the injected failure", err)
	}
	if p := w.Pending(); p != 3+1 { // s3 s4 s5 and the bucket
		t.Fatalf("pending %d after the failed second status batch, want 4", p)
	}
	w.StatusChanges(status(6))
	w.Buckets(fleet.Bucket{Collector: "c1", Window: "1h", Start: at, ActualItems: 2})
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p := w.Pending(); p != 0 {
		t.Fatalf("pending %d after a good flush", p)
	}
	h, err := s.StatusHistory(ctx, "c1", time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range h {
		got = append(got, c.To)
	}
	if fmt.Sprint(got) != "[s6 s5 s4 s3 s2 s1]" {
		t.Fatalf("history newest first %v, want each change once, in order", got)
	}
	c, _ := s.Collector(ctx, "c1")
	bs, _ := s.Buckets(ctx, "c1", "1h", at, at)
	if c.Status != "new" || len(bs) != 1 || bs[0].ActualItems != 2 {
		t.Fatalf("collector %+v, buckets %+v: want the newest values", c, bs)
	}
	if e := value(t, w.m.errors); e != 2 {
		t.Errorf("corral_store_write_errors_total = %v, want 2", e)
	}
	if n := value(t, w.m.writes.WithLabelValues("status_change")); n != 6 {
		t.Errorf(`corral_store_writes_total{kind="status_change"} = %v, want 6`, n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	if len(mfs) != 6 || series != 8 { // writes_total has a series per kind
		t.Errorf("gathered %d metrics, %d series; want 6, 8", len(mfs), series)
	}
}

// hung is a real store whose writes hang until released, like a database that
// stopped answering.
type hung struct {
	*Store
	entered chan struct{}
	release chan struct{}
}

func (h *hung) UpsertCollectors(ctx context.Context, cs []fleet.CollectorState) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-h.release
	return h.Store.UpsertCollectors(ctx, cs)
}

// TestWriterNeverBlocks: while a flush hangs in the database, enqueuing returns.
func TestWriterNeverBlocks(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	s := openStore(t, sqliteURL(t))
	h := &hung{Store: s, entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := NewWriter(h, WriterOptions{FlushInterval: time.Millisecond, MaxBatch: 1000})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	w.Collectors(fleet.CollectorState{ID: "first"})
	<-h.entered // a flush is now stuck in the database
	enqueued := make(chan struct{})
	go func() {
		defer close(enqueued)
		for i := range 3000 { // many full batches: kicks must not block either
			w.Collectors(fleet.CollectorState{ID: fmt.Sprint(i)})
			w.StatusChanges(fleet.StatusChange{Collector: fmt.Sprint(i)})
			w.Buckets(fleet.Bucket{Collector: fmt.Sprint(i), Window: "1h"})
		}
		_ = w.Pending()
	}()
	select {
	case <-enqueued:
	case <-time.After(30 * time.Second):
		t.Fatal("enqueuing blocked while a flush hung in the database")
	}
	if p := w.Pending(); p != 1+3*3000 {
		t.Fatalf("Pending() = %d, want %d", p, 1+3*3000)
	}
	// Let the database answer again and write the rest.
	close(h.release)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := count(t, s, "collectors"); n != 3001 {
		t.Fatalf("%d collectors stored, want 3001", n)
	}
}

func TestWriterRejectsNonFinite(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteURL(t))
	var logs logBuffer
	w := NewWriter(s, WriterOptions{Logger: slogTo(&logs)})
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Buckets(
		fleet.Bucket{Collector: "c1", Window: "1h", Start: at, ExpectedItems: math.NaN()},
		fleet.Bucket{Collector: "c1", Window: "1h", Start: at.Add(time.Hour), ActualItems: math.Inf(-1)},
		fleet.Bucket{Collector: "c1", Window: "1h", Start: at.Add(2 * time.Hour), ActualItems: 3},
	)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("a bad bucket blocked the flush: %v", err)
	}
	if n := count(t, s, "buckets"); n != 1 {
		t.Fatalf("%d buckets stored, want the 1 good one", n)
	}
	if r := value(t, w.m.rejected); r != 2 || len(logs.lines("not finite")) != 1 {
		t.Fatalf("rejected %v, logs %q", r, logs.lines(""))
	}
}

func TestWriterBackoff(t *testing.T) {
	w := NewWriter(nil, WriterOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	var got []time.Duration
	for f := 1; f <= 6; f++ {
		got = append(got, w.backoff(f))
	}
	if fmt.Sprint(got) != "[100ms 200ms 400ms 800ms 1s 1s]" {
		t.Fatalf("backoff = %v", got)
	}
	d := NewWriter(nil, WriterOptions{})
	if d.opts.FlushInterval != time.Second || d.opts.MaxBatch != 5000 || d.opts.MinBackoff != 500*time.Millisecond || d.opts.MaxBackoff != 30*time.Second {
		t.Fatalf("defaults %+v", d.opts)
	}
}

// value reads the value of a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("%s is neither a counter nor a gauge", m.Desc())
	return 0
}
