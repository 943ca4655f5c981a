package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// TestRestoreWhileStoreUnavailable: a collector that leaves discovery and
// comes back while the store is unavailable goes on from what the server
// knew of it — not from zero, which would overwrite its stored buckets and
// break its history once the store is back — and, once the store answers
// again, from the store.
func TestRestoreWhileStoreUnavailable(t *testing.T) {
	ctx := context.Background()
	pg := testdb.PostgresServer(t)
	st, err := store.Open(ctx, pg.URL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &server{store: st, log: slog.New(slog.DiscardHandler)}
	rs := s.newRestorer(map[string]*health.Restored{})
	hour := time.Now().UTC().Truncate(time.Hour)
	known := &health.Restored{Status: fleet.StatusOnline, Reason: "ok", FirstSeen: hour.Add(-48 * time.Hour),
		Buckets: []fleet.Bucket{{Collector: "c1", Window: fleet.Window1h, Start: hour, ScrapesOK: 500, ScrapesTotal: 500}}}
	rs.forgot("c1", known)

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	got := rs.restore("c1")
	if got == nil || got.Status != fleet.StatusOnline || len(got.Buckets) != 1 || got.Buckets[0].ScrapesTotal != 500 || !got.FirstSeen.Equal(known.FirstSeen) {
		t.Fatalf("restored with the store down: %+v, want what the server knew: %+v", got, known)
	}
	if r := rs.restore("never-seen"); r != nil {
		t.Fatalf("a collector never seen restored as %+v", r)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	// The store answers again: it is the truth (here, it has no c1).
	if r := rs.restore("c1"); r != nil {
		t.Fatalf("with the store back, c1 (not stored) restored as %+v", r)
	}
}
