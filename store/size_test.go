package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/store/testdb"
)

// BenchmarkPostgresRowSizes measures what a collector costs in PostgreSQL, for
// docs/scaling.md: the bytes on disk (table, indexes and TOAST) of its state
// row, of one completeness bucket and of one status change, with 10,000 of each
// kind written as the Writer writes them (b.N is ignored: one round):
//
//	go test -run '^$' -bench PostgresRowSizes -benchtime 1x ./store/
func BenchmarkPostgresRowSizes(b *testing.B) {
	const n = 10_000
	s := openStore(b, testdb.Postgres(b))
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		if err := s.UpsertCollectors(ctx, someCollectors(n, now)); err != nil {
			b.Fatal(err)
		}
		bs := buckets(n/24, 24, now)
		for i := range n / 24 {
			bs = append(bs, fleet.Bucket{Collector: fmt.Sprintf("collector-%05d", i), Window: fleet.Window24h, Start: now.UTC().Truncate(24 * time.Hour),
				ExpectedItems: 86400, ActualItems: 86000, ActiveSeconds: 86400, ScrapesOK: 5700, ScrapesTotal: 5760, UpdatedAt: now})
		}
		if err := s.UpsertBuckets(ctx, bs); err != nil {
			b.Fatal(err)
		}
		cs := make([]fleet.StatusChange, n)
		for i := range cs {
			cs[i] = fleet.StatusChange{Collector: fmt.Sprintf("collector-%05d", i%1000), From: "online", To: "offline",
				Reason: "no successful scrape for 2m0s (connection refused)", At: now.Add(time.Duration(i) * time.Millisecond)}
		}
		if err := s.AppendStatusChanges(ctx, cs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ table, unit string }{
		{"collectors", "B/collector"}, {"buckets", "B/bucket"}, {"status_changes", "B/status_change"},
	} {
		var bytes, rows float64
		if err := s.db.QueryRowContext(ctx, `SELECT pg_total_relation_size($1::regclass), (SELECT count(*) FROM `+tc.table+`)`, tc.table).Scan(&bytes, &rows); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(bytes/rows, tc.unit)
	}
}
