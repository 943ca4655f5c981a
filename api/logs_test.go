package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

type logsJSON struct {
	Data   []LogJSON `json:"data"`
	Total  int64     `json:"total"`
	Limit  int       `json:"limit"`
	Offset int       `json:"offset"`
}

// seedLogs stores 40 records of acme-red-1 (cursor N at t0+N s, levels by N%4:
// DEBUG INFO WARN ERROR) and a few awkward ones of acme-blue-1.
func seedLogs(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	levels := []struct {
		name string
		num  int
	}{{"DEBUG", -4}, {"INFO", 0}, {"WARN", 4}, {"ERROR", 8}}
	var rs []store.LogRecord
	for c := uint64(1); c <= 40; c++ {
		l := levels[c%4]
		rs = append(rs, store.LogRecord{Stream: "s1", Cursor: c, Time: t0.Add(time.Duration(c) * time.Second),
			Level: l.name, LevelNum: l.num, Message: fmt.Sprintf("run %d", c), Attrs: json.RawMessage(fmt.Sprintf(`{"run":%d,"db":"billing"}`, c))})
	}
	if _, err := st.AppendLogs(ctx, store.LogCursor{Collector: "acme-red-1", Stream: "s1", Cursor: 40}, rs); err != nil {
		t.Fatal(err)
	}
	awkward := []store.LogRecord{
		{Stream: "s", Cursor: 1, Time: t0, Level: "INFO", Message: "a, \"quoted\"\nmultiline message", Attrs: json.RawMessage(`{"k":"v, w"}`)},
		{Stream: "s", Cursor: 2, Time: t0, Level: "WARN", LevelNum: 4, Message: "=HYPERLINK(\"http://evil\")"},
	}
	if _, err := st.AppendLogs(ctx, store.LogCursor{Collector: "acme-blue-1", Stream: "s", Cursor: 2}, awkward); err != nil {
		t.Fatal(err)
	}
}

func getLogs(t *testing.T, h http.Handler, token, path string) logsJSON {
	t.Helper()
	code, body, _ := do(t, h, token, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var l logsJSON
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return l
}

func logCursors(l logsJSON) []uint64 {
	var out []uint64
	for _, r := range l.Data {
		out = append(out, r.Cursor)
	}
	return out
}

func TestLogsFiltersAndPages(t *testing.T) {
	h, tokens, st := fixedFixture(t)
	seedLogs(t, st)
	at := func(c int) string { return t0.Add(time.Duration(c) * time.Second).Format(time.RFC3339) }
	for _, tc := range []struct {
		query  string
		want   []uint64
		total  int64
		limit  int
		offset int
	}{
		{"limit=3", []uint64{40, 39, 38}, 40, 3, 0},
		{"limit=3&offset=3", []uint64{37, 36, 35}, 40, 3, 3},
		{"limit=3&order=asc", []uint64{1, 2, 3}, 40, 3, 0},
		{"limit=2&offset=39", []uint64{1}, 40, 2, 39},
		{"offset=100", nil, 40, 100, 100},
		{"level=error", []uint64{39, 35, 31, 27, 23, 19, 15, 11, 7, 3}, 10, 100, 0},
		{"level=WARN&limit=4", []uint64{39, 38, 35, 34}, 20, 4, 0},
		{"level=debug&limit=1", []uint64{40}, 40, 1, 0},
		{"q=RUN%203", []uint64{39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 3}, 11, 100, 0},
		{"q=db%3Dbilling&limit=1", []uint64{40}, 40, 1, 0},
		{"q=nothing", nil, 0, 100, 0},
		{"since=" + at(38), []uint64{40, 39, 38}, 3, 100, 0},
		{"until=" + at(2), []uint64{2, 1}, 2, 100, 0},
		{fmt.Sprintf("since=%d&until=%d&level=error", t0.Unix()+10, t0.Unix()+20), []uint64{19, 15, 11}, 3, 100, 0},
	} {
		t.Run(tc.query, func(t *testing.T) {
			l := getLogs(t, h, tokens[uSuper], "/api/v1/collectors/acme-red-1/logs?"+tc.query)
			if got := logCursors(l); !slices.Equal(got, tc.want) || l.Total != tc.total || l.Limit != tc.limit || l.Offset != tc.offset {
				t.Errorf("%v total %d limit %d offset %d; want %v total %d limit %d offset %d",
					got, l.Total, l.Limit, l.Offset, tc.want, tc.total, tc.limit, tc.offset)
			}
			if l.Data == nil {
				t.Error("data is null, want []")
			}
		})
	}
	l := getLogs(t, h, tokens[uSuper], "/api/v1/collectors/acme-red-1/logs?limit=1")
	r := l.Data[0]
	if r.Collector != "acme-red-1" || r.Stream != "s1" || r.Level != "DEBUG" || r.Message != "run 40" || string(r.Attrs) != `{"run":40,"db":"billing"}` ||
		!r.Time.Equal(t0.Add(40*time.Second)) || r.ID == 0 || r.ReceivedAt.IsZero() {
		t.Errorf("record %+v", r)
	}
	// A viewer of the collector's team may read its logs; one without scope may not.
	if l := getLogs(t, h, tokens[uViewer], "/api/v1/collectors/acme-red-1/logs?limit=1"); l.Total != 40 {
		t.Errorf("viewer: total %d", l.Total)
	}
	if code, _, _ := do(t, h, tokens[uViewer], "/api/v1/collectors/acme-blue-1/logs"); code != http.StatusNotFound {
		t.Errorf("viewer of another team: %d", code)
	}
	// A collector without records answers an empty page.
	if l := getLogs(t, h, tokens[uSuper], "/api/v1/collectors/nolabel-1/logs"); l.Total != 0 || len(l.Data) != 0 {
		t.Errorf("no records: %+v", l)
	}
}

func TestLogsBadParameters(t *testing.T) {
	h, tokens, _ := fixedFixture(t)
	for _, tc := range []struct{ query, field string }{
		{"level=verbose", "level"},
		{"since=yesterday", "since"},
		{"until=tomorrow", "until"},
		{"since=20&until=10", "until"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=x", "limit"},
		{"offset=-1", "offset"},
		{"offset=x", "offset"},
		{"order=sideways", "order"},
		{"format=xml", "format"},
		{"q=" + strings.Repeat("x", 501), "q"},
	} {
		path := "/api/v1/collectors/acme-red-1/logs?" + tc.query
		code, body, _ := do(t, h, tokens[uSuper], path)
		var e wire.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusBadRequest || e.Code != wire.CodeBadRequest || e.Details["field"] != tc.field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", path, code, body, tc.field)
		}
	}
	// Scope first: a collector out of scope is 404 whatever the parameters say.
	if code, _, _ := do(t, h, tokens[uViewer], "/api/v1/collectors/globex-1/logs?level=verbose"); code != http.StatusNotFound {
		t.Errorf("out of scope with bad parameters: %d", code)
	}
}

func TestLogsExport(t *testing.T) {
	h, tokens, st := fixedFixture(t)
	seedLogs(t, st)
	tok := tokens[uSuper]

	t.Run("csv", func(t *testing.T) {
		code, body, hdr := do(t, h, tok, "/api/v1/collectors/acme-red-1/logs?format=csv&level=error&limit=2&offset=5")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") ||
			hdr.Get("Content-Disposition") != `attachment; filename="acme-red-1-logs.csv"` || hdr.Get("X-Total-Count") != "10" {
			t.Fatalf("%d %v", code, hdr)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], csvHeader) || len(rows) != 11 { // every match, limit and offset aside
			t.Fatalf("%d rows, header %v", len(rows), rows[0])
		}
		if r := rows[1]; r[0] != t0.Add(39*time.Second).Format(time.RFC3339Nano) || r[1] != "ERROR" || r[2] != "run 39" ||
			r[3] != `{"run":39,"db":"billing"}` || r[4] != "s1" || r[5] != "39" || r[6] == "" {
			t.Errorf("first row %q", r)
		}
	})

	t.Run("csv escaping", func(t *testing.T) {
		_, body, hdr := do(t, h, tok, "/api/v1/collectors/acme-blue-1/logs?format=csv&order=asc")
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(rows) != 3 {
			t.Fatalf("%v: %q", err, body)
		}
		if rows[1][2] != "a, \"quoted\"\nmultiline message" || rows[1][3] != `{"k":"v, w"}` {
			t.Errorf("quoted fields read back as %q", rows[1])
		}
		if rows[2][2] != `'=HYPERLINK("http://evil")` {
			t.Errorf("a formula left to the spreadsheet: %q", rows[2][2])
		}
		if hdr.Get("X-Corral-Export-Truncated") != "" {
			t.Error("a small export marked truncated")
		}
	})

	t.Run("json", func(t *testing.T) {
		code, body, hdr := do(t, h, tok, "/api/v1/collectors/acme-red-1/logs?format=json&q=run%201")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
			hdr.Get("Content-Disposition") != `attachment; filename="acme-red-1-logs.json"` || hdr.Get("X-Total-Count") != "11" {
			t.Fatalf("%d %v", code, hdr)
		}
		var rs []LogJSON
		if err := json.Unmarshal([]byte(body), &rs); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var got []uint64
		for _, r := range rs {
			got = append(got, r.Cursor)
		}
		if want := []uint64{19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1}; !slices.Equal(got, want) {
			t.Errorf("exported %v, want %v", got, want)
		}
	})

	t.Run("empty", func(t *testing.T) {
		_, body, _ := do(t, h, tok, "/api/v1/collectors/nolabel-1/logs?format=json")
		var rs []LogJSON
		if err := json.Unmarshal([]byte(body), &rs); err != nil || len(rs) != 0 {
			t.Errorf("%v: %q", err, body)
		}
		_, body, _ = do(t, h, tok, "/api/v1/collectors/nolabel-1/logs?format=csv")
		if body != strings.Join(csvHeader, ",")+"\n" {
			t.Errorf("empty CSV %q", body)
		}
	})

	t.Run("out of scope", func(t *testing.T) {
		code, body, hdr := do(t, h, tokens[uViewer], "/api/v1/collectors/acme-blue-1/logs?format=csv")
		if code != http.StatusNotFound || hdr.Get("Content-Disposition") != "" || strings.Contains(body, "quoted") {
			t.Errorf("%d %s", code, body)
		}
	})
}
