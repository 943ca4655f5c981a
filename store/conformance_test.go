package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/fleet"
)

// TestConformance runs the one conformance suite, unchanged, against a real
// SQLite file and a real PostgreSQL database.
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runConformance(t, func(t *testing.T) *Store { return openStore(t, b.url(t)) })
		})
	}
}

// runConformance checks the behaviour every backend must share. open returns a
// fresh, empty store for t.
func runConformance(t *testing.T, open func(t *testing.T) *Store) {
	ctx := context.Background()
	// Times with nanoseconds and a zone other than UTC: the store gives back UTC
	// milliseconds.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	base := time.Date(2025, 3, 14, 15, 9, 26, 535897932, zone)

	t.Run("Ping", func(t *testing.T) {
		s := open(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if d := s.Dialect(); d != DialectSQLite && d != DialectPostgres {
			t.Fatalf("Dialect() = %q", d)
		}
	})

	t.Run("Collectors", func(t *testing.T) {
		s := open(t)
		if got, err := s.Collectors(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty store: Collectors() = %v, %v", got, err)
		}
		if _, err := s.Collector(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Collector(unknown) error = %v, want ErrNotFound", err)
		}
		in := []fleet.CollectorState{
			{
				ID: "b/pg-1", Job: "pg", Instance: "10.0.0.1:9187", URL: "http://10.0.0.1:9187/metrics",
				Labels:   map[string]string{"env": "prod", "city": "Zürich", "emoji": "🐄", "jp": "東京", "quote": `a"b\c`, "": "empty key"},
				Provider: "file_sd", Source: "/etc/corral/sd/pg.yml",
				Status: "stale", Reason: "no new item for 12m (threshold 3m)",
				StatusSince: base, LastSeen: base.Add(time.Second), LastItem: base.Add(-12 * time.Minute),
				FirstSeen: base.Add(-24 * time.Hour), UpdatedAt: base.Add(2 * time.Second),
			},
			{ID: "a/never-scraped", Job: "a", Status: "unknown", UpdatedAt: base}, // zero times, nil labels
		}
		if err := s.UpsertCollectors(ctx, in); err != nil {
			t.Fatal(err)
		}
		want := make([]fleet.CollectorState, len(in))
		for i, c := range in {
			want[i] = normCollector(c)
		}
		got, err := s.Collectors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, []fleet.CollectorState{want[1], want[0]}) {
			t.Fatalf("Collectors() =\n%+v\nwant (ordered by ID)\n%+v", got, []fleet.CollectorState{want[1], want[0]})
		}
		one, err := s.Collector(ctx, "b/pg-1")
		if err != nil || !reflect.DeepEqual(one, want[0]) {
			t.Fatalf("Collector() = %+v, %v\nwant %+v", one, err, want[0])
		}
		if one.StatusSince.Location() != time.UTC || one.LastSeen.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("times not UTC milliseconds: %v", one.LastSeen)
		}
		if one.Labels == nil || got[0].Labels == nil {
			t.Fatal("labels read back as a nil map")
		}
	})

	t.Run("CollectorsUpsert", func(t *testing.T) {
		s := open(t)
		c := fleet.CollectorState{ID: "c1", Job: "j", Status: "online", Labels: map[string]string{"a": "1"},
			FirstSeen: base, LastSeen: base, UpdatedAt: base}
		for range 3 { // idempotent
			if err := s.UpsertCollectors(ctx, []fleet.CollectorState{c}); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, s, "collectors"); n != 1 {
			t.Fatalf("%d rows after upserting one collector three times", n)
		}
		// A newer state replaces every value but FirstSeen, which stays the first.
		c2 := fleet.CollectorState{ID: "c1", Job: "j2", Status: "offline", Reason: "no scrape for 2m",
			Labels: map[string]string{"b": "2"}, FirstSeen: base.Add(time.Hour), LastSeen: base.Add(time.Minute)}
		before := time.Now()
		if err := s.UpsertCollectors(ctx, []fleet.CollectorState{c2}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Collector(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if got.UpdatedAt.Before(ms(before).Add(-time.Millisecond)) || got.UpdatedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("zero UpdatedAt stored as %v, want about now", got.UpdatedAt)
		}
		want := normCollector(c2)
		want.FirstSeen, want.UpdatedAt = ms(base), got.UpdatedAt
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after update: %+v\nwant %+v", got, want)
		}
		// Of the same ID twice in one call, the last wins.
		err = s.UpsertCollectors(ctx, []fleet.CollectorState{{ID: "c1", Status: "error"}, {ID: "c2"}, {ID: "c1", Status: "paused"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Collector(ctx, "c1"); got.Status != "paused" {
			t.Fatalf("status %q, want the last of the call (paused)", got.Status)
		}
		if err := s.UpsertCollectors(ctx, nil); err != nil {
			t.Fatalf("empty upsert: %v", err)
		}
	})

	t.Run("CollectorsMany", func(t *testing.T) {
		s := open(t)
		const n = 2*rowsPerStatement + 7 // two full statements and a short one
		cs := make([]fleet.CollectorState, n)
		for i := range cs {
			cs[i] = fleet.CollectorState{ID: fmt.Sprintf("c%05d", i), Status: "online", Labels: map[string]string{"i": fmt.Sprint(i)}, LastSeen: base}
		}
		if err := s.UpsertCollectors(ctx, cs); err != nil {
			t.Fatal(err)
		}
		got, err := s.Collectors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || got[n-1].ID != cs[n-1].ID || got[n-1].Labels["i"] != fmt.Sprint(n-1) {
			t.Fatalf("got %d collectors (last %+v), want %d", len(got), got[len(got)-1], n)
		}
	})

	t.Run("Upsert10k", func(t *testing.T) {
		s := open(t)
		cs := someCollectors(10_000, base)
		// The time is reported, not asserted: typically 0.1s (0.06s in
		// BenchmarkUpsertCollectors10k, which is where a regression shows),
		// 2s under the race detector.
		for round := range 2 { // insert, then update every row
			start := time.Now()
			if err := s.UpsertCollectors(ctx, cs); err != nil {
				t.Fatal(err)
			}
			d := time.Since(start)
			t.Logf("%s: upsert of 10,000 collectors (round %d): %v", s.Dialect(), round+1, d)
		}
		if n := count(t, s, "collectors"); n != 10_000 {
			t.Fatalf("%d rows, want 10000", n)
		}
	})

	t.Run("StatusHistory", func(t *testing.T) {
		s := open(t)
		if got, err := s.StatusHistory(ctx, "c1", time.Time{}, time.Time{}, 0); err != nil || len(got) != 0 {
			t.Fatalf("empty store: %v, %v", got, err)
		}
		at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
		in := []fleet.StatusChange{
			{Collector: "c1", From: "unknown", To: "online", Reason: "first scrape", At: at(0)},
			{Collector: "c2", From: "unknown", To: "online", At: at(0)},
			{Collector: "c1", From: "online", To: "stale", Reason: "no item for 5m — ünïcödé", At: at(5)},
			{Collector: "c1", From: "stale", To: "online", At: at(10)},
			{Collector: "c1", From: "online", To: "offline", Reason: "same ms as the next", At: at(15)},
			{Collector: "c1", From: "running", To: "paused", Reason: "desired paused; pause sent again", At: at(15), Kind: fleet.KindReconcile},
		}
		if err := s.AppendStatusChanges(ctx, in[:2]); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendStatusChanges(ctx, in[2:]); err != nil {
			t.Fatal(err)
		}
		got, err := s.StatusHistory(ctx, "c1", time.Time{}, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantOrder := []int{5, 4, 3, 2, 0} // newest first; a tie newest appended first
		if len(got) != len(wantOrder) {
			t.Fatalf("got %d changes, want %d: %+v", len(got), len(wantOrder), got)
		}
		for i, k := range wantOrder {
			w := in[k]
			w.At = ms(w.At)
			w.ID = got[i].ID
			if w.Kind == "" {
				w.Kind = fleet.KindStatus // the default
			}
			if !reflect.DeepEqual(got[i], w) {
				t.Errorf("change %d = %+v, want %+v", i, got[i], w)
			}
			if i > 0 && got[i].ID >= got[i-1].ID {
				t.Errorf("IDs not in append order: %d after %d", got[i].ID, got[i-1].ID)
			}
		}
		for _, tc := range []struct {
			name     string
			from, to time.Time
			limit    int
			want     []string // reasons or To, newest first
		}{
			{"from inclusive", at(10), time.Time{}, 0, []string{"paused", "offline", "online"}},
			{"to inclusive", time.Time{}, at(5), 0, []string{"stale", "online"}},
			{"window", at(5), at(10), 0, []string{"online", "stale"}},
			{"same instant", at(15), at(15), 0, []string{"paused", "offline"}},
			{"limit", time.Time{}, time.Time{}, 2, []string{"paused", "offline"}},
			{"empty range", at(1), at(4), 0, nil},
		} {
			got, err := s.StatusHistory(ctx, "c1", tc.from, tc.to, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var tos []string
			for _, c := range got {
				tos = append(tos, c.To)
			}
			if !reflect.DeepEqual(tos, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, tos, tc.want)
			}
		}
		all, err := s.StatusHistory(ctx, "", time.Time{}, at(0), 0)
		if err != nil || len(all) != 2 || all[0].Collector != "c2" || all[1].Collector != "c1" {
			t.Fatalf(`StatusHistory("") = %+v, %v; want c2's then c1's first change`, all, err)
		}
		// A zero At is the time of the append.
		if err := s.AppendStatusChanges(ctx, []fleet.StatusChange{{Collector: "c3", To: "online"}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.StatusHistory(ctx, "c3", time.Time{}, time.Time{}, 0); len(got) != 1 || time.Since(got[0].At) > time.Minute {
			t.Fatalf("zero At: %+v", got)
		}
	})

	t.Run("StatusKeyIdempotent", func(t *testing.T) {
		s := open(t)
		cs := []fleet.StatusChange{
			{Collector: "c1", To: "online", At: base, Key: "k1"},
			{Collector: "c1", To: "stale", At: base.Add(time.Second), Key: "k2"},
		}
		for range 2 {
			if err := s.AppendStatusChanges(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		// Changes without a key are always appended.
		for range 2 {
			if err := s.AppendStatusChanges(ctx, []fleet.StatusChange{{Collector: "c1", To: "x", At: base}}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.StatusHistory(ctx, "c1", time.Time{}, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[0].Key != "k2" || got[3].Key != "k1" || got[1].Key != "" || got[2].Key != "" {
			t.Fatalf("got %+v; want k2, k1 once each and two unkeyed changes", got)
		}
	})

	t.Run("Buckets", func(t *testing.T) {
		s := open(t)
		h := base.UTC().Truncate(time.Hour)
		d := time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)
		in := []fleet.Bucket{
			{Collector: "c1", Window: "1h", Start: h, ExpectedItems: 60, ActualItems: 59.5, ActiveSeconds: 3600, ScrapesOK: 239, ScrapesTotal: 240, UpdatedAt: base},
			{Collector: "c1", Window: "1h", Start: h.Add(-2 * time.Hour), ExpectedItems: 60, ActualItems: 60, ActiveSeconds: 3600, ScrapesOK: 240, ScrapesTotal: 240, UpdatedAt: base},
			{Collector: "c1", Window: "1h", Start: h.Add(-time.Hour), ExpectedItems: 0.1, ActualItems: 1e-9, ActiveSeconds: 0.001, ScrapesOK: 0, ScrapesTotal: math.MaxInt32 + 1, UpdatedAt: base},
			{Collector: "c1", Window: "24h", Start: d, ExpectedItems: 1440, ActualItems: 900, ActiveSeconds: 54000, ScrapesOK: 3600, ScrapesTotal: 3601, UpdatedAt: base},
			{Collector: "c2", Window: "1h", Start: h, ExpectedItems: 1, UpdatedAt: base},
		}
		for range 2 { // idempotent
			if err := s.UpsertBuckets(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, s, "buckets"); n != len(in) {
			t.Fatalf("%d rows, want %d", n, len(in))
		}
		norm := func(b fleet.Bucket) fleet.Bucket { b.Start, b.UpdatedAt = ms(b.Start), ms(b.UpdatedAt); return b }
		got, err := s.Buckets(ctx, "c1", "1h", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := []fleet.Bucket{norm(in[1]), norm(in[2]), norm(in[0])} // oldest first
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Buckets(c1, 1h) =\n%+v\nwant\n%+v", got, want)
		}
		for _, tc := range []struct {
			name     string
			window   string
			from, to time.Time
			want     []fleet.Bucket
		}{
			{"exact start", "1h", h, h, []fleet.Bucket{norm(in[0])}},
			{"from inclusive", "1h", h.Add(-time.Hour), time.Time{}, []fleet.Bucket{norm(in[2]), norm(in[0])}},
			{"to inclusive", "1h", time.Time{}, h.Add(-time.Hour), []fleet.Bucket{norm(in[1]), norm(in[2])}},
			{"between", "1h", h.Add(-time.Hour + time.Millisecond), h.Add(-time.Millisecond), nil},
			{"day", "24h", d, d, []fleet.Bucket{norm(in[3])}},
			{"every window", "", time.Time{}, time.Time{}, []fleet.Bucket{norm(in[3]), norm(in[1]), norm(in[2]), norm(in[0])}}, // d is 00:00, h 09:00
		} {
			got, err := s.Buckets(ctx, "c1", tc.window, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: got\n%+v\nwant\n%+v", tc.name, got, tc.want)
			}
		}
		// New values replace the old ones of the same (collector, window, start);
		// the last of a key within one call wins; a zero UpdatedAt means now.
		upd := in[0]
		upd.ActualItems, upd.ScrapesOK, upd.UpdatedAt = 1, 2, time.Time{}
		last := upd
		last.ActualItems = 60
		if err := s.UpsertBuckets(ctx, []fleet.Bucket{upd, last}); err != nil {
			t.Fatal(err)
		}
		got, err = s.Buckets(ctx, "c1", "1h", h, h)
		if err != nil || len(got) != 1 || got[0].ActualItems != 60 || got[0].ScrapesOK != 2 || time.Since(got[0].UpdatedAt) > time.Minute {
			t.Fatalf("after update: %+v, %v", got, err)
		}
		if n := count(t, s, "buckets"); n != len(in) {
			t.Fatalf("%d rows after update, want %d", n, len(in))
		}
		for _, bad := range []float64{math.NaN(), math.Inf(1)} {
			b := in[0]
			b.ExpectedItems = bad
			if err := s.UpsertBuckets(ctx, []fleet.Bucket{b}); err == nil {
				t.Errorf("bucket with expected %v accepted", bad)
			}
		}
	})

	t.Run("BucketsMany", func(t *testing.T) {
		s := open(t)
		bs := buckets(30, 48, base) // 1440 rows
		if err := s.UpsertBuckets(ctx, bs); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertBuckets(ctx, bs); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, "buckets"); n != len(bs) {
			t.Fatalf("%d rows, want %d", n, len(bs))
		}
	})

	t.Run("Registry", func(t *testing.T) {
		s := open(t)
		if got, err := s.ListRegistered(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty store: %v, %v", got, err)
		}
		r := RegisteredCollector{
			ID: "r2", Name: "binance-trades", URL: "http://10.0.0.7:9100/metrics",
			Labels: map[string]string{"exchange": "bínance", "lang": "中文"}, Org: "acme", Team: "market-data",
			Thresholds:  map[string]string{"stale_after": "5m", "incomplete_below": "0.95"},
			TokenSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", CreatedAt: base,
		}
		if err := s.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Register(ctx, RegisteredCollector{ID: "r1", Name: "n1", URL: "http://a:1/metrics"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Register(ctx, RegisteredCollector{ID: "r2", Name: "other"}); !errors.Is(err, ErrExists) {
			t.Fatalf("second Register of r2: %v, want ErrExists", err)
		}
		want := r
		want.CreatedAt = ms(base)
		got, err := s.Registered(ctx, "r2")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Registered(r2) = %+v, %v\nwant %+v", got, err, want)
		}
		list, err := s.ListRegistered(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "r1" || !reflect.DeepEqual(list[1], want) {
			t.Fatalf("ListRegistered() = %+v, %v", list, err)
		}
		if list[0].Labels == nil || list[0].Thresholds == nil || time.Since(list[0].CreatedAt) > time.Minute {
			t.Fatalf("defaults of r1: %+v", list[0])
		}

		archived := base.Add(time.Hour)
		if err := s.Archive(ctx, "r2", archived); err != nil {
			t.Fatal(err)
		}
		if err := s.Archive(ctx, "r2", archived.Add(time.Hour)); err != nil {
			t.Fatalf("archive again: %v", err)
		}
		if err := s.Archive(ctx, "nope", archived); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Archive(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := s.Registered(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Registered(unknown) = %v, want ErrNotFound", err)
		}
		list, err = s.ListRegistered(ctx)
		if err != nil || len(list) != 1 || list[0].ID != "r1" {
			t.Fatalf("ListRegistered() after archive = %+v, %v", list, err)
		}
		got, err = s.Registered(ctx, "r2")
		if err != nil || got.ArchivedAt == nil || !got.ArchivedAt.Equal(ms(archived)) {
			t.Fatalf("archived r2 = %+v, %v; want archived at %v (the first archive)", got, err, ms(archived))
		}
		// Registering an archived ID registers it again.
		again := RegisteredCollector{ID: "r2", Name: "binance-trades-v2", URL: "http://10.0.0.8:9100/metrics", CreatedAt: base.Add(2 * time.Hour)}
		if err := s.Register(ctx, again); err != nil {
			t.Fatalf("re-register archived r2: %v", err)
		}
		got, err = s.Registered(ctx, "r2")
		if err != nil || got.ArchivedAt != nil || got.Name != again.Name || len(got.Labels) != 0 || !got.CreatedAt.Equal(ms(again.CreatedAt)) {
			t.Fatalf("re-registered r2 = %+v, %v", got, err)
		}
		if err := s.Register(ctx, RegisteredCollector{}); err == nil {
			t.Fatal("Register with an empty ID succeeded")
		}
	})

	t.Run("Text", func(t *testing.T) {
		// Values PostgreSQL refuses in text are made storable rather than failing
		// the batch (and every retry of it).
		s := open(t)
		c := fleet.CollectorState{ID: "c1", Reason: "bad\x00byte \xff here", Labels: map[string]string{"k": "nul\x00"}}
		if err := s.UpsertCollectors(ctx, []fleet.CollectorState{c}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Collector(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Reason != "badbyte \uFFFD here" || got.Labels["k"] != "nul\x00" {
			t.Fatalf("got reason %q, labels %q", got.Reason, got.Labels)
		}
		if err := s.AppendStatusChanges(ctx, []fleet.StatusChange{{Collector: "c1", Reason: "\x00"}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Writers and readers at once: SQLite's busy timeout and immediate
		// transactions must keep them from failing.
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 4 {
			wg.Go(func() {
				for i := range 10 {
					b := fleet.Bucket{Collector: fmt.Sprintf("c%d", g), Window: "1h", Start: base.Add(time.Duration(i) * time.Hour), ActualItems: float64(i)}
					if err := s.UpsertBuckets(ctx, []fleet.Bucket{b}); err != nil {
						errs <- err
					}
					if err := s.UpsertCollectors(ctx, []fleet.CollectorState{{ID: fmt.Sprintf("c%d", g), Status: fleet.Status(fmt.Sprint(i))}}); err != nil {
						errs <- err
					}
					if _, err := s.Collectors(ctx); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := count(t, s, "buckets"); n != 40 {
			t.Fatalf("%d buckets, want 40", n)
		}
	})
}

// normCollector is c as the store gives it back.
func normCollector(c fleet.CollectorState) fleet.CollectorState {
	c.StatusSince, c.LastSeen, c.LastItem, c.FirstSeen, c.UpdatedAt = ms(c.StatusSince), ms(c.LastSeen), ms(c.LastItem), ms(c.FirstSeen), ms(c.UpdatedAt)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	return c
}

// someCollectors returns n collector states with typical values.
func someCollectors(n int, at time.Time) []fleet.CollectorState {
	cs := make([]fleet.CollectorState, n)
	for i := range cs {
		id := fmt.Sprintf("collector-%05d", i)
		cs[i] = fleet.CollectorState{
			ID: id, Job: "postgres", Instance: fmt.Sprintf("10.0.%d.%d:9187", i/250, i%250),
			URL:      fmt.Sprintf("http://10.0.%d.%d:9187/metrics", i/250, i%250),
			Labels:   map[string]string{"collector": id, "env": "prod", "team": "data", "region": "eu-west-1"},
			Provider: "file_sd", Source: "/etc/corral/sd/postgres.yml",
			Status: "online", StatusSince: at.Add(-time.Hour), LastSeen: at, LastItem: at.Add(-10 * time.Second),
			FirstSeen: at.Add(-48 * time.Hour), UpdatedAt: at,
		}
	}
	return cs
}

// buckets returns hourly buckets of n collectors over hours hours before at.
func buckets(n, hours int, at time.Time) []fleet.Bucket {
	h := at.UTC().Truncate(time.Hour)
	bs := make([]fleet.Bucket, 0, n*hours)
	for i := range n {
		for k := range hours {
			bs = append(bs, fleet.Bucket{
				Collector: fmt.Sprintf("collector-%05d", i), Window: "1h", Start: h.Add(-time.Duration(k) * time.Hour),
				ExpectedItems: 3600, ActualItems: 3590, ActiveSeconds: 3600, ScrapesOK: 239, ScrapesTotal: 240, UpdatedAt: at,
			})
		}
	}
	return bs
}
