package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkUpsertCollectors10k upserts the states of a 10,000-collector fleet in
// one call, as the Writer does after a restart or an outage (the first round
// inserts, the others update every row):
//
//	go test -run '^$' -bench UpsertCollectors10k ./store/
func BenchmarkUpsertCollectors10k(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := openStore(b, be.url(b))
			cs := someCollectors(10_000, time.Now())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.UpsertCollectors(ctx, cs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(cs))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkUpsertBuckets upserts 10,000 completeness buckets (1,000 collectors,
// 10 hourly windows each) in one call.
func BenchmarkUpsertBuckets(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := openStore(b, be.url(b))
			bs := buckets(1000, 10, time.Now())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.UpsertBuckets(ctx, bs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(bs))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
