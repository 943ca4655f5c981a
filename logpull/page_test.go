package logpull

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter"
)

// agentPage is a real agent's /logs answer: n records, a ring of ring.
func agentPage(t testing.TB, ring, n int) []byte {
	t.Helper()
	buf := exporter.NewLogBuffer(ring)
	log := slog.New(buf.Handler(nil, slog.LevelDebug))
	for i := range n {
		switch i % 4 {
		case 0:
			log.Debug("tick", "i", i)
		case 1:
			log.Info("collected", "rows", i, "db", "billing")
		case 2:
			log.Warn("slow query", "took", time.Second, "sql", `SELECT "x" <> 'y'`)
		default:
			log.Error("failed", "err", errors.New("connection refused"), "group", slog.GroupValue(slog.Int("a", 1)))
		}
	}
	b, err := json.Marshal(buf.Page(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeLogPage(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p, err := decodeLogPage(agentPage(t, 5, 8), 1000, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stream == "" || len(p.Records) != 5 || p.Missed != 3 || p.Oldest != 4 || p.Next != 8 {
		t.Fatalf("page %+v", p)
	}
	want := []struct {
		level string
		num   int
	}{{"ERROR", 8}, {"DEBUG", -4}, {"INFO", 0}, {"WARN", 4}, {"ERROR", 8}}
	for i, r := range p.Records {
		if r.Cursor != uint64(4+i) || r.Level != want[i].level || r.LevelNum != want[i].num || r.Time.IsZero() || r.Attrs[0] != '{' {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	for _, tc := range []struct {
		name, body string
		want       string // in the error; "" for none
		check      func(logPage) bool
	}{
		{"empty ring", `{"stream":"s","records":[],"next_cursor":0,"oldest_cursor":1,"missed":0}`, "", func(p logPage) bool { return len(p.Records) == 0 }},
		{"levels", `{"stream":"s","records":[{"cursor":1,"level":"warn+2","msg":"m"},{"cursor":2,"level":"NOTICE"},{"cursor":3,"level":"debug-1"}],"next_cursor":3}`, "",
			func(p logPage) bool {
				return p.Records[0].LevelNum == 6 && p.Records[1].LevelNum == 0 && p.Records[2].LevelNum == -5
			}},
		{"no time: now", `{"stream":"s","records":[{"cursor":1}],"next_cursor":1}`, "", func(p logPage) bool { return p.Records[0].Time.Equal(now) }},
		{"null attrs", `{"stream":"s","records":[{"cursor":1,"attrs":null}],"next_cursor":1}`, "", func(p logPage) bool { return p.Records[0].Attrs == nil }},
		{"not JSON", `<html>`, "invalid /logs page", nil},
		{"no stream", `{"records":[],"next_cursor":0}`, "no stream id", nil},
		{"long stream", `{"stream":"` + strings.Repeat("x", 300) + `","next_cursor":0}`, "stream id of 300 bytes", nil},
		{"too many", `{"stream":"s","records":[{"cursor":1},{"cursor":2},{"cursor":3}],"next_cursor":3}`, "over the limit", nil},
		{"cursor zero", `{"stream":"s","records":[{"cursor":0}],"next_cursor":1}`, "cursors must increase", nil},
		{"not increasing", `{"stream":"s","records":[{"cursor":2},{"cursor":2}],"next_cursor":2}`, "cursors must increase", nil},
		{"past next", `{"stream":"s","records":[{"cursor":5}],"next_cursor":4}`, "cursors must increase", nil},
		{"attrs array", `{"stream":"s","records":[{"cursor":1,"attrs":[1]}],"next_cursor":1}`, "not a JSON object", nil},
		{"attrs string", `{"stream":"s","records":[{"cursor":1,"attrs":"x"}],"next_cursor":1}`, "not a JSON object", nil},
		{"huge next", `{"stream":"s","records":[],"next_cursor":18446744073709551615}`, "out of range", nil},
		{"negative cursor", `{"stream":"s","records":[{"cursor":-1}],"next_cursor":1}`, "invalid /logs page", nil},
		{"bad time", `{"stream":"s","records":[{"cursor":1,"time":"yesterday"}],"next_cursor":1}`, "invalid /logs page", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit := 2
			if tc.name == "levels" {
				limit = 3
			}
			p, err := decodeLogPage([]byte(tc.body), limit, now)
			if tc.want == "" {
				if err != nil || !tc.check(p) {
					t.Fatalf("%+v, %v", p, err)
				}
				return
			}
			if err == nil || !errors.Is(err, errBadPage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeLogPage: any body either is refused or gives a page that keeps the
// protocol's promises, which the puller relies on.
func FuzzDecodeLogPage(f *testing.F) {
	f.Add(agentPage(f, 1000, 20))
	f.Add(agentPage(f, 3, 10))
	f.Add([]byte(`{"stream":"s","records":[{"cursor":1,"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"m","attrs":{"k":"v"}}],"next_cursor":1,"oldest_cursor":1,"missed":0}`))
	f.Add([]byte(`{"stream":"s","records":null,"next_cursor":0}`))
	f.Add([]byte(`{"stream":"s","records":[{"cursor":2},{"cursor":1}],"next_cursor":2}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		now := time.Now()
		p, err := decodeLogPage(body, 1000, now)
		if err != nil {
			if !errors.Is(err, errBadPage) {
				t.Fatalf("error not marked as a bad page: %v", err)
			}
			return
		}
		if p.Stream == "" || len(p.Stream) > maxStreamLen || len(p.Records) > 1000 {
			t.Fatalf("accepted stream %q with %d records", p.Stream, len(p.Records))
		}
		var prev uint64
		for _, r := range p.Records {
			if r.Cursor <= prev || r.Cursor > p.Next || r.Time.IsZero() {
				t.Fatalf("accepted record %+v after %d (next %d)", r, prev, p.Next)
			}
			prev = r.Cursor
			if r.Attrs != nil {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(r.Attrs, &m); err != nil {
					t.Fatalf("accepted attrs %s: %v", r.Attrs, err)
				}
			}
			if bytes.ContainsAny([]byte(r.Level), "\n") && r.LevelNum != 0 {
				t.Fatalf("level %q parsed as %d", r.Level, r.LevelNum)
			}
		}
	})
}
