package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/store/testdb"
)

// TestWriterOutagePostgres stops a real PostgreSQL server for 30 seconds while the
// Writer keeps being fed: nothing blocks, nothing is dropped, no error escapes,
// and once the server is back everything is written exactly once within the
// backoff bound.
func TestWriterOutagePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("takes over 30s")
	}
	const (
		outage     = 30 * time.Second
		maxBackoff = 2 * time.Second
		fleetSize  = 1000
	)
	checkLeaks(t)
	ctx := context.Background()
	srv := testdb.PostgresServer(t)
	s := openStore(t, srv.URL(t))
	var logs logBuffer
	w := NewWriter(s, WriterOptions{
		FlushInterval: 50 * time.Millisecond, MinBackoff: 100 * time.Millisecond, MaxBackoff: maxBackoff,
		Logger: slogTo(&logs), Registerer: prometheus.NewRegistry(),
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	var (
		statusSent int
		lastStatus = map[string]string{}
		bucketKeys = map[string]float64{}
		slowest    time.Duration
	)
	// enqueue feeds round r of the fleet's writes, as the scrape path would, and
	// records the slowest call.
	enqueue := func(r, from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("c%04d", i)
			status := fmt.Sprintf("r%d", r)
			start := at.Add(time.Duration(r) * time.Hour)
			t0 := time.Now()
			w.Collectors(fleet.CollectorState{ID: id, Status: fleet.Status(status), LastSeen: at.Add(time.Duration(r) * time.Second)})
			w.StatusChanges(fleet.StatusChange{Collector: id, From: lastStatus[id], To: status, At: at.Add(time.Duration(r) * time.Second)})
			w.Buckets(fleet.Bucket{Collector: id, Window: "1h", Start: start, ActualItems: float64(r), ScrapesOK: int64(r)})
			slowest = max(slowest, time.Since(t0))
			statusSent++
			lastStatus[id] = status
			bucketKeys[id+start.String()] = float64(r)
		}
	}
	waitWritten := func(within time.Duration) time.Duration {
		t.Helper()
		t0 := time.Now()
		for w.Pending() > 0 {
			if time.Since(t0) > within {
				t.Fatalf("%d writes still pending %v after the store came back", w.Pending(), within)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(t0)
	}

	enqueue(0, 0, fleetSize)
	waitWritten(10 * time.Second)
	if n := count(t, s, "status_changes"); n != fleetSize {
		t.Fatalf("%d status changes before the outage, want %d", n, fleetSize)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("server stopped for %v", outage)
	outageStart := time.Now()
	pendingBefore, round := w.Pending(), 1
	for time.Since(outageStart) < outage {
		// Every 100ms a tenth of the fleet reports something new.
		from := (round * 100) % fleetSize
		enqueue(round, from, from+100)
		round++
		select {
		case err := <-done:
			t.Fatalf("Run returned during the outage: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	pendingDuring := w.Pending()
	wantPending := (statusSent - fleetSize) + len(bucketKeys) - fleetSize + min((round-1)*100, fleetSize)
	if pendingDuring <= pendingBefore || pendingDuring != wantPending {
		t.Fatalf("pending %d before the outage and %d at its end, want %d (nothing flushed, nothing dropped)", pendingBefore, pendingDuring, wantPending)
	}
	// Enqueuing never touches the database (TestWriterNeverBlocks proves it with a
	// hung one); this bound only catches work under the lock that grows with the
	// backlog. Typically a few ms; loose for loaded CI machines.
	if slowest > 2*time.Second {
		t.Errorf("an enqueue took %v during the outage: the scrape path must not wait", slowest)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	recovered := waitWritten(maxBackoff + 10*time.Second)
	t.Logf("outage %v, %d rounds enqueued meanwhile (%d writes pending, slowest enqueue %v); all written %v after the restart",
		time.Since(outageStart)-recovered, round-1, pendingDuring, slowest, recovered)

	// Exactly once: one row per status change (none lost, none twice), one per
	// bucket key with its last value, every collector in its last state.
	if n := count(t, s, "status_changes"); n != statusSent {
		t.Errorf("%d status changes stored, %d enqueued", n, statusSent)
	}
	var distinct int
	if err := s.db.QueryRowContext(ctx, "SELECT count(DISTINCT dedup_key) FROM status_changes").Scan(&distinct); err != nil || distinct != statusSent {
		t.Errorf("%d distinct status change keys, %v; want %d", distinct, err, statusSent)
	}
	if n := count(t, s, "buckets"); n != len(bucketKeys) {
		t.Errorf("%d buckets stored, %d distinct enqueued", n, len(bucketKeys))
	}
	cs, err := s.Collectors(ctx)
	if err != nil || len(cs) != fleetSize {
		t.Fatalf("%d collectors, %v", len(cs), err)
	}
	for _, c := range cs {
		if string(c.Status) != lastStatus[c.ID] {
			t.Fatalf("collector %s has status %q, want its last %q", c.ID, c.Status, lastStatus[c.ID])
		}
	}
	if n := value(t, w.m.writes.WithLabelValues("status_change")); int(n) != statusSent {
		t.Errorf("corral_store_writes_total{kind=status_change} = %v, want %d", n, statusSent)
	}
	if n := value(t, w.m.errors); n < 1 {
		t.Errorf("corral_store_write_errors_total = %v during an outage", n)
	}
	if ts := value(t, w.m.lastSuccess); ts < float64(time.Now().Add(-recovered-time.Second).Unix()) {
		t.Errorf("corral_store_last_successful_flush_timestamp_seconds = %v, before the recovery", ts)
	}
	// One warning when the store went away, one info line when it came back.
	if down, up := logs.lines("store unavailable: the database is unreachable"), logs.lines("store writable again"); len(down) != 1 || len(up) != 1 {
		t.Errorf("logged %d unreachable and %d recovered lines, want 1 each:\n%q\n%q", len(down), len(up), down, up)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
