package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestLogsConformance runs the log store's conformance suite, unchanged, against
// a real SQLite file and a real PostgreSQL database.
func TestLogsConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runLogConformance(t, func(t *testing.T) *Store { return openStore(t, b.url(t)) })
		})
	}
}

// logRecords returns n records of stream, cursors first to first+n-1, one
// second apart from at, levels cycling DEBUG INFO WARN ERROR.
func logRecords(stream string, first uint64, n int, at time.Time) []LogRecord {
	levels := []struct {
		name string
		num  int
	}{{"DEBUG", -4}, {"INFO", 0}, {"WARN", 4}, {"ERROR", 8}}
	rs := make([]LogRecord, n)
	for i := range rs {
		c := first + uint64(i)
		l := levels[int(c)%len(levels)]
		rs[i] = LogRecord{Stream: stream, Cursor: c, Time: at.Add(time.Duration(c) * time.Second),
			Level: l.name, LevelNum: l.num, Message: fmt.Sprintf("record %d", c),
			Attrs: json.RawMessage(fmt.Sprintf(`{"n":%d}`, c))}
	}
	return rs
}

func cursorsOf(rs []LogRecord) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Cursor
	}
	return out
}

func runLogConformance(t *testing.T, open func(t *testing.T) *Store) {
	ctx := context.Background()
	zone := time.FixedZone("UTC-3", -3*3600)
	base := time.Date(2025, 6, 1, 10, 0, 0, 123456789, zone)

	t.Run("AppendIdempotent", func(t *testing.T) {
		s := open(t)
		rs := logRecords("s1", 1, 3, base)
		n, err := s.AppendLogs(ctx, LogCursor{Collector: "c1", Stream: "s1", Cursor: 3}, rs)
		if err != nil || n != 3 {
			t.Fatalf("first append: %d new, %v; want 3", n, err)
		}
		// The same records again with one more: only that one is new.
		n, err = s.AppendLogs(ctx, LogCursor{Collector: "c1", Stream: "s1", Cursor: 4}, logRecords("s1", 1, 4, base))
		if err != nil || n != 1 {
			t.Fatalf("second append: %d new, %v; want 1", n, err)
		}
		// The same cursor in another stream (the agent restarted) is another record,
		// and so is the same stream and cursor of another collector.
		restarted := logRecords("s2", 1, 1, base.Add(time.Minute))
		if n, err := s.AppendLogs(ctx, LogCursor{Collector: "c1", Stream: "s2", Cursor: 1}, restarted); err != nil || n != 1 {
			t.Fatalf("new stream: %d new, %v", n, err)
		}
		if n, err := s.AppendLogs(ctx, LogCursor{Collector: "c2", Stream: "s1", Cursor: 1}, logRecords("s1", 1, 1, base)); err != nil || n != 1 {
			t.Fatalf("other collector: %d new, %v", n, err)
		}
		if n, err := s.CountLogs(ctx, "c1"); err != nil || n != 5 {
			t.Fatalf("CountLogs(c1) = %d, %v; want 5", n, err)
		}
		got, total, err := s.Logs(ctx, LogQuery{Collector: "c1", OldestFirst: true})
		if err != nil || total != 5 {
			t.Fatalf("Logs: %d, %v", total, err)
		}
		want := logRecords("s1", 1, 4, base)
		want = append(want, restarted...)
		for i := range want {
			w := want[i]
			w.ID, w.Collector, w.Time, w.ReceivedAt = got[i].ID, "c1", ms(w.Time), got[i].ReceivedAt
			if !reflect.DeepEqual(got[i], w) {
				t.Errorf("record %d = %+v\nwant %+v", i, got[i], w)
			}
			if got[i].Time.Location() != time.UTC || time.Since(got[i].ReceivedAt) > time.Minute {
				t.Errorf("record %d: time %v, received %v", i, got[i].Time, got[i].ReceivedAt)
			}
		}
		// An empty append still moves the cursor.
		if n, err := s.AppendLogs(ctx, LogCursor{Collector: "c3", Stream: "s9", Cursor: 42}, nil); err != nil || n != 0 {
			t.Fatalf("empty append: %d, %v", n, err)
		}
	})

	t.Run("Cursors", func(t *testing.T) {
		s := open(t)
		if cs, err := s.LogCursors(ctx); err != nil || len(cs) != 0 {
			t.Fatalf("empty store: %v, %v", cs, err)
		}
		steps := []LogCursor{
			{Collector: "b", Stream: "s1", Cursor: 10},
			{Collector: "a", Stream: "s1", Cursor: 1000},
			{Collector: "b", Stream: "s1", Cursor: 20},
			{Collector: "a", Stream: "s2", Cursor: 0}, // the agent restarted
			{Collector: "c", Stream: "big", Cursor: math.MaxInt64},
		}
		for _, c := range steps {
			if _, err := s.AppendLogs(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.LogCursors(ctx)
		want := []LogCursor{{"a", "s2", 0}, {"b", "s1", 20}, {"c", "big", math.MaxInt64}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("LogCursors() = %+v, %v; want %+v", got, err, want)
		}
	})

	t.Run("AppendAtomic", func(t *testing.T) {
		s := open(t)
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c1", Stream: "s1", Cursor: 2}, logRecords("s1", 1, 2, base)); err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string]LogRecord{
			"attrs not an object": {Stream: "s1", Cursor: 9, Time: base, Attrs: json.RawMessage(`[1,2]`)},
			"cursor too large":    {Stream: "s1", Cursor: math.MaxInt64 + 1, Time: base},
		} {
			rs := append(logRecords("s1", 3, 600, base), bad) // the bad one in the second statement
			if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c1", Stream: "s1", Cursor: 603}, rs); err == nil {
				t.Fatalf("%s: no error", name)
			}
			if n, _ := s.CountLogs(ctx, "c1"); n != 2 {
				t.Errorf("%s: %d records after a failed append, want the 2 from before", name, n)
			}
			if cs, _ := s.LogCursors(ctx); len(cs) != 1 || cs[0].Cursor != 2 {
				t.Errorf("%s: cursor moved by a failed append: %+v", name, cs)
			}
		}
		if _, err := s.AppendLogs(ctx, LogCursor{Stream: "s"}, nil); err == nil {
			t.Error("append without a collector: no error")
		}
	})

	t.Run("Text", func(t *testing.T) {
		s := open(t)
		rs := []LogRecord{
			{Stream: "s", Cursor: 1, Time: base, Level: "INFO", Message: "Connected to Zürich-DB", Attrs: json.RawMessage(`{"host":"db.example","port":5432}`)},
			{Stream: "s", Cursor: 2, Time: base, Level: "ERROR", LevelNum: 8, Message: "query failed", Attrs: json.RawMessage(`{"err":"Timeout <after 5s>","user":"ALICE"}`)},
			{Stream: "s", Cursor: 3, Time: base, Level: "INFO", Message: "100% done_ok", Attrs: nil},
			{Stream: "s", Cursor: 4, Time: base, Level: "INFO", Message: "nul \x00 and bad \xff bytes", Attrs: json.RawMessage(`null`)},
		}
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c", Stream: "s", Cursor: 4}, rs); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			q    string
			want []uint64 // newest first: same time, so the last appended first
		}{
			{"zürich", []uint64{1}},
			{"ZÜRICH-db", []uint64{1}},
			{"host=db.example", []uint64{1}},
			{"5432", []uint64{1}},
			{"user=alice", []uint64{2}},
			{"<after", []uint64{2}},
			{"failed", []uint64{2}},
			{"100%", []uint64{3}},
			{"0% d", []uint64{3}},
			{"done_ok", []uint64{3}},
			{"d_n", nil}, // _ is no wildcard
			{"n%o", nil}, // nor is %
			{"%", []uint64{3}},
			{"bad", []uint64{4}},
			{"o", []uint64{3, 2, 1}},
			{"nothing like it", nil},
		} {
			got, total, err := s.Logs(ctx, LogQuery{Collector: "c", Text: tc.q})
			if err != nil {
				t.Fatal(err)
			}
			if c := cursorsOf(got); !slices.Equal(c, tc.want) && !(len(c) == 0 && tc.want == nil) || total != int64(len(tc.want)) {
				t.Errorf("q=%q: %v (total %d), want %v", tc.q, c, total, tc.want)
			}
		}
		got, _, _ := s.Logs(ctx, LogQuery{Collector: "c", OldestFirst: true})
		if string(got[2].Attrs) != "{}" || string(got[3].Attrs) != "{}" {
			t.Errorf("empty attrs read back as %s and %s, want {}", got[2].Attrs, got[3].Attrs)
		}
		var m map[string]any
		if err := json.Unmarshal(got[1].Attrs, &m); err != nil || m["err"] != "Timeout <after 5s>" {
			t.Errorf("attrs read back as %s (%v)", got[1].Attrs, err)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s := open(t)
		// Cursors 1…20, one second apart; levels by cursor % 4: 0 DEBUG, 1 INFO, 2 WARN, 3 ERROR.
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c", Stream: "s", Cursor: 20}, logRecords("s", 1, 20, base)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "other", Stream: "s", Cursor: 20}, logRecords("s", 1, 20, base)); err != nil {
			t.Fatal(err)
		}
		at := func(c int) time.Time { return base.Add(time.Duration(c) * time.Second) }
		lvl := func(n int) *int { return &n }
		for _, tc := range []struct {
			name  string
			q     LogQuery
			want  []uint64
			total int64
		}{
			{"all, newest first, limit", LogQuery{Limit: 3}, []uint64{20, 19, 18}, 20},
			{"offset", LogQuery{Limit: 3, Offset: 3}, []uint64{17, 16, 15}, 20},
			{"offset past the end", LogQuery{Limit: 3, Offset: 25}, nil, 20},
			{"oldest first", LogQuery{Limit: 2, OldestFirst: true}, []uint64{1, 2}, 20},
			{"warn and up", LogQuery{MinLevel: lvl(4), Limit: 4}, []uint64{19, 18, 15, 14}, 10},
			{"error", LogQuery{MinLevel: lvl(8)}, []uint64{19, 15, 11, 7, 3}, 5},
			{"debug and up is all", LogQuery{MinLevel: lvl(-4), Limit: 1}, []uint64{20}, 20},
			{"since inclusive", LogQuery{Since: at(18)}, []uint64{20, 19, 18}, 3},
			{"until inclusive", LogQuery{Until: at(2)}, []uint64{2, 1}, 2},
			{"window and level", LogQuery{Since: at(5), Until: at(12), MinLevel: lvl(8)}, []uint64{11, 7}, 2},
			{"text and level", LogQuery{Text: "record 1", MinLevel: lvl(4)}, []uint64{19, 18, 15, 14, 11, 10}, 6},
			{"unknown collector", LogQuery{Collector: "nope"}, nil, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q := tc.q
				if q.Collector == "" {
					q.Collector = "c"
				}
				got, total, err := s.Logs(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if c := cursorsOf(got); !slices.Equal(c, tc.want) && !(len(c) == 0 && tc.want == nil) || total != tc.total {
					t.Errorf("%v (total %d), want %v (total %d)", c, total, tc.want, tc.total)
				}
				if got == nil {
					t.Error("nil slice: want an empty one")
				}
				// EachLog streams the same rows.
				var streamed []uint64
				if err := s.EachLog(ctx, q, func(r *LogRecord) error { streamed = append(streamed, r.Cursor); return nil }); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(streamed, cursorsOf(got)) {
					t.Errorf("EachLog: %v, Logs: %v", streamed, cursorsOf(got))
				}
			})
		}
		stop := errors.New("stop")
		n := 0
		if err := s.EachLog(ctx, LogQuery{Collector: "c"}, func(*LogRecord) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("EachLog after fn failed: %v, %d calls", err, n)
		}
	})

	t.Run("PurgeByAge", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		old := logRecords("s", 1, 5, base)
		for i := range old {
			old[i].ReceivedAt = now.Add(-8 * 24 * time.Hour)
		}
		fresh := logRecords("s", 6, 3, base) // received now, however old their own time
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c", Stream: "s", Cursor: 8}, append(old, fresh...)); err != nil {
			t.Fatal(err)
		}
		p, err := s.PurgeLogs(ctx, now.Add(-7*24*time.Hour), 0)
		if err != nil || p != (LogPurge{Expired: 5}) {
			t.Fatalf("PurgeLogs = %+v, %v; want 5 expired", p, err)
		}
		got, _, _ := s.Logs(ctx, LogQuery{Collector: "c", OldestFirst: true})
		if !slices.Equal(cursorsOf(got), []uint64{6, 7, 8}) {
			t.Errorf("left %v", cursorsOf(got))
		}
		// The cursor stays: purged records are not pulled again.
		if cs, _ := s.LogCursors(ctx); len(cs) != 1 || cs[0].Cursor != 8 {
			t.Errorf("cursors after purge: %+v", cs)
		}
		if p, err := s.PurgeLogs(ctx, time.Time{}, 0); err != nil || p != (LogPurge{}) {
			t.Errorf("no policy: %+v, %v", p, err)
		}
	})

	t.Run("PurgeByRows", func(t *testing.T) {
		s := open(t)
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "a", Stream: "s", Cursor: 10}, logRecords("s", 1, 10, base)); err != nil {
			t.Fatal(err)
		}
		// Four records at the same millisecond: the newest appended are kept.
		same := logRecords("s", 1, 4, base)
		for i := range same {
			same[i].Time = base
		}
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "b", Stream: "s", Cursor: 4}, same); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c", Stream: "s", Cursor: 2}, logRecords("s", 1, 2, base)); err != nil {
			t.Fatal(err)
		}
		p, err := s.PurgeLogs(ctx, time.Time{}, 3)
		if err != nil || p != (LogPurge{Excess: 7 + 1}) {
			t.Fatalf("PurgeLogs = %+v, %v; want 8 excess", p, err)
		}
		for c, want := range map[string][]uint64{"a": {10, 9, 8}, "b": {4, 3, 2}, "c": {2, 1}} {
			got, _, _ := s.Logs(ctx, LogQuery{Collector: c})
			if !slices.Equal(cursorsOf(got), want) {
				t.Errorf("%s kept %v, want %v", c, cursorsOf(got), want)
			}
		}
		if p, err := s.PurgeLogs(ctx, time.Time{}, 3); err != nil || p != (LogPurge{}) {
			t.Errorf("second purge: %+v, %v", p, err)
		}
	})

	t.Run("Purge100k", func(t *testing.T) {
		s := open(t)
		// 100,000 records of 20 collectors, a quarter of them expired.
		now := time.Now()
		for c := range 20 {
			rs := logRecords("s", 1, 5000, base)
			for i := range rs[:1250] {
				rs[i].ReceivedAt = now.Add(-10 * 24 * time.Hour)
			}
			if _, err := s.AppendLogs(ctx, LogCursor{Collector: fmt.Sprintf("c%02d", c), Stream: "s", Cursor: 5000}, rs); err != nil {
				t.Fatal(err)
			}
		}
		// The time is reported, not asserted (typically 0.1–0.3 s; ~20× that
		// under the race detector): a timed assertion fails on a loaded machine.
		start := time.Now()
		p, err := s.PurgeLogs(ctx, now.Add(-7*24*time.Hour), 2000)
		d := time.Since(start)
		t.Logf("%s: purge of 100,000 log records (25,000 expired, then down to 2,000 per collector): %v", s.Dialect(), d)
		if err != nil || p != (LogPurge{Expired: 25_000, Excess: 20 * 1750}) {
			t.Fatalf("PurgeLogs = %+v, %v", p, err)
		}
		if n := count(t, s, "collector_logs"); n != 20*2000 {
			t.Errorf("%d rows left, want %d", n, 20*2000)
		}
	})

	t.Run("DeleteAndCount", func(t *testing.T) {
		s := open(t)
		for _, c := range []string{"gone", "kept"} {
			if _, err := s.AppendLogs(ctx, LogCursor{Collector: c, Stream: "s", Cursor: 7}, logRecords("s", 1, 7, base)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteLogs(ctx, "gone")
		if err != nil || n != 7 {
			t.Fatalf("DeleteLogs = %d, %v; want 7", n, err)
		}
		if n, err := s.CountLogs(ctx, "gone"); err != nil || n != 0 {
			t.Errorf("CountLogs(gone) = %d, %v", n, err)
		}
		if n, _ := s.CountLogs(ctx, "kept"); n != 7 {
			t.Errorf("CountLogs(kept) = %d", n)
		}
		if cs, _ := s.LogCursors(ctx); len(cs) != 1 || cs[0].Collector != "kept" {
			t.Errorf("cursors after delete: %+v", cs)
		}
		if n, err := s.DeleteLogs(ctx, "never-there"); err != nil || n != 0 {
			t.Errorf("DeleteLogs(unknown) = %d, %v", n, err)
		}
		// A deleted collector that comes back starts afresh.
		if n, err := s.AppendLogs(ctx, LogCursor{Collector: "gone", Stream: "s", Cursor: 7}, logRecords("s", 1, 7, base)); err != nil || n != 7 {
			t.Errorf("append after delete: %d, %v", n, err)
		}
	})
}

// BenchmarkAppendLogs appends pages of 1,000 new records (one page of an
// agent's /logs) with the cursor move, as the log puller does:
//
//	go test -run '^$' -bench AppendLogs ./store/
func BenchmarkAppendLogs(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := openStore(b, be.url(b))
			ctx := context.Background()
			page := logRecords("s", 1, 1000, time.Now())
			for i := range page {
				page[i].Attrs = json.RawMessage(fmt.Sprintf(`{"collector":"pg-billing","run":%d,"rows":1234,"duration":"1.2s"}`, i))
				page[i].Message = "collection finished"
			}
			var next uint64 = 1
			b.ReportAllocs()
			for b.Loop() {
				for i := range page {
					page[i].Cursor = next + uint64(i)
				}
				next += uint64(len(page))
				if _, err := s.AppendLogs(ctx, LogCursor{Collector: "c", Stream: "s", Cursor: next - 1}, page); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(page))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
