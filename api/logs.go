package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/when"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// LogReader reads the agents' pulled logs; *store.Store is one.
type LogReader interface {
	Logs(ctx context.Context, q store.LogQuery) ([]store.LogRecord, int64, error)
	EachLog(ctx context.Context, q store.LogQuery, fn func(*store.LogRecord) error) error
}

var _ LogReader = (*store.Store)(nil)

// Log page and export bounds.
const (
	DefaultLogLimit = 100
	MaxLogLimit     = 1000
	// MaxLogExport bounds the rows of one CSV or JSON export.
	MaxLogExport = 100_000
	// maxLogQuery bounds the q parameter.
	maxLogQuery = 500
)

// logLevels are the names the level parameter takes, on slog's scale.
var logLevels = map[string]int{"debug": -4, "info": 0, "warn": 4, "error": 8}

// LogJSON is one log record as the API and the collector:log event carry it:
// the wire's LogRecord, under the name the server's log sink uses.
type LogJSON = wire.LogRecord

// LogView is r as the API shows it.
func LogView(r *store.LogRecord) LogJSON {
	attrs := r.Attrs
	if len(attrs) == 0 {
		attrs = json.RawMessage("{}")
	}
	return LogJSON{ID: r.ID, Collector: r.Collector, Stream: r.Stream, Cursor: r.Cursor, Time: r.Time.UTC(),
		Level: r.Level, Message: r.Message, Attrs: attrs, ReceivedAt: r.ReceivedAt.UTC()}
}

// logQuery reads the filters of a logs request; false after answering 400.
func logQuery(w http.ResponseWriter, r *http.Request, id string) (store.LogQuery, bool) {
	qs := r.URL.Query()
	q := store.LogQuery{Collector: id, Text: qs.Get("q"), Limit: DefaultLogLimit}
	if v := qs.Get("level"); v != "" {
		n, ok := logLevels[strings.ToLower(v)]
		if !ok {
			badParam(w, "level", fmt.Sprintf("%q: want debug, info, warn or error (the minimum level)", v))
			return q, false
		}
		q.MinLevel = &n
	}
	if len(q.Text) > maxLogQuery {
		badParam(w, "q", fmt.Sprintf("%d characters; at most %d", len(q.Text), maxLogQuery))
		return q, false
	}
	var err error
	now := time.Now()
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := qs.Get(p.name); v != "" {
			if *p.t, err = when.Parse(v, now); err != nil {
				badParam(w, p.name, err.Error())
				return q, false
			}
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		badParam(w, "until", "before since")
		return q, false
	}
	if q.Limit, err = intParam(qs, "limit", DefaultLogLimit, 1, MaxLogLimit); err != nil {
		badParam(w, "limit", err.Error())
		return q, false
	}
	if q.Offset, err = intParam(qs, "offset", 0, 0, MaxOffset); err != nil {
		badParam(w, "offset", err.Error())
		return q, false
	}
	switch v := qs.Get("order"); v {
	case "", "desc":
	case "asc":
		q.OldestFirst = true
	default:
		badParam(w, "order", fmt.Sprintf("%q: want desc (newest first, the default) or asc", v))
		return q, false
	}
	return q, true
}

// collectorLogs serves GET /api/v1/collectors/{id}/logs: the collector's
// pulled log records, filtered, newest first, a page at a time; with
// format=csv or format=json every matching record as a download.
func (a *api) collectorLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.visible(r, id); !ok {
		notFound(w, id)
		return
	}
	q, ok := logQuery(w, r, id)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "":
	case "csv", "json":
		a.exportLogs(w, r, q, format)
		return
	default:
		badParam(w, "format", fmt.Sprintf("%q: want csv or json, or none for a page", format))
		return
	}
	out := wire.Page[wire.LogRecord]{Data: []wire.LogRecord{}, Limit: q.Limit, Offset: q.Offset}
	if a.o.Logs != nil {
		rs, total, err := a.o.Logs.Logs(r.Context(), q)
		if err != nil {
			a.internal(w, "read logs", err)
			return
		}
		out.Total = int(total)
		for i := range rs {
			out.Data = append(out.Data, LogView(&rs[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// csvHeader is the first row of a CSV export.
var csvHeader = []string{"time", "level", "msg", "attrs", "stream", "cursor", "received_at"}

// exportLogs streams every record matching q (limit and offset aside), up to
// MaxLogExport, as CSV or a JSON array. X-Total-Count says how many match; an
// export cut at the bound says so in X-Corral-Export-Truncated.
func (a *api) exportLogs(w http.ResponseWriter, r *http.Request, q store.LogQuery, format string) {
	q.Limit, q.Offset = 1, 0
	var total int64
	if a.o.Logs != nil {
		var err error
		if _, total, err = a.o.Logs.Logs(r.Context(), q); err != nil {
			a.internal(w, "count logs", err)
			return
		}
	}
	q.Limit = MaxLogExport
	h := exportHeaders(w, q.Collector+"-logs."+format, total)
	if total > MaxLogExport {
		h.Set("X-Corral-Export-Truncated", fmt.Sprintf("the first %d of %d; narrow since/until or level", MaxLogExport, total))
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	var each func(*store.LogRecord) error
	var finish func() error
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(bw)
		_ = cw.Write(csvHeader)
		row := make([]string, len(csvHeader))
		each = func(rec *store.LogRecord) error {
			v := LogView(rec)
			row[0], row[1], row[2], row[3] = v.Time.Format(time.RFC3339Nano), v.Level, noFormula(v.Message), noFormula(string(v.Attrs))
			row[4], row[5], row[6] = v.Stream, strconv.FormatUint(v.Cursor, 10), v.ReceivedAt.Format(time.RFC3339Nano)
			return cw.Write(row)
		}
		finish = func() error { cw.Flush(); return cw.Error() }
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
		enc := json.NewEncoder(bw)
		first := true
		bw.WriteByte('[')
		each = func(rec *store.LogRecord) error {
			if !first {
				bw.WriteByte(',')
			}
			first = false
			return enc.Encode(LogView(rec))
		}
		finish = func() error { _, err := bw.WriteString("]\n"); return err }
	}
	w.WriteHeader(http.StatusOK)
	var err error
	if a.o.Logs != nil {
		err = a.o.Logs.EachLog(r.Context(), q, each)
	}
	if err == nil {
		err = finish()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil && r.Context().Err() == nil {
		// The status is sent: all that is left is to cut the body short, which
		// leaves the CSV or JSON visibly incomplete, and to say why here.
		a.o.Logger.Warn("log export cut short", "collector", q.Collector, "format", format, "err", err)
	}
}

// exportHeaders sets the headers of a download named name (made safe for the
// header) of total matching rows, and returns the header map.
func exportHeaders(w http.ResponseWriter, name string, total int64) http.Header {
	h := w.Header()
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || strings.ContainsRune(`"\/;`, r) {
			return '_'
		}
		return r
	}, name)
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Total-Count", strconv.FormatInt(total, 10))
	return h
}

// noFormula keeps a spreadsheet from running a cell as a formula (OWASP's
// CSV injection advice): a value starting with = + - @ or a control
// character gets a leading apostrophe.
func noFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
