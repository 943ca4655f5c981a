package logpull

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Record is one record pulled from an agent's /logs.
type Record struct {
	Cursor uint64    // position in the agent's stream
	Time   time.Time // when the agent logged it
	Level  string    // as the agent wrote it: DEBUG, INFO, WARN, ERROR, INFO+2 …
	// LevelNum is the level on slog's scale (DEBUG -4, INFO 0, WARN 4, ERROR 8);
	// a level that is not slog's counts as INFO.
	LevelNum int
	Message  string
	Attrs    json.RawMessage // a JSON object, or nil for none
}

// logPage is one answer of an agent's /logs (exporter.LogPage on the wire).
type logPage struct {
	Stream  string   `json:"stream"`
	Records []Record `json:"-"`
	Next    uint64   `json:"next_cursor"`
	Oldest  uint64   `json:"oldest_cursor"`
	Missed  uint64   `json:"missed"`
}

// wireRecord is a record as the agent sends it.
type wireRecord struct {
	Cursor  uint64          `json:"cursor"`
	Time    time.Time       `json:"time"`
	Level   string          `json:"level"`
	Message string          `json:"msg"`
	Attrs   json.RawMessage `json:"attrs"`
}

// Bounds of what a page may hold.
const (
	maxStreamLen = 256
	maxLevelLen  = 64
)

var errBadPage = errors.New("invalid /logs page")

// decodeLogPage decodes and checks one /logs answer to after=after&limit=limit:
// the agent is outside input, so a page that breaks the protocol's promises
// (cursors increasing from after, next_cursor at or past them, at most limit
// records, attrs an object) is refused as a whole rather than half stored.
// A record without a time gets now.
func decodeLogPage(body []byte, limit int, now time.Time) (logPage, error) {
	var wire struct {
		logPage
		Records []wireRecord `json:"records"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return logPage{}, fmt.Errorf("%w: %v", errBadPage, err)
	}
	p := wire.logPage
	switch {
	case p.Stream == "":
		return p, fmt.Errorf("%w: no stream id", errBadPage)
	case len(p.Stream) > maxStreamLen:
		return p, fmt.Errorf("%w: stream id of %d bytes, over %d", errBadPage, len(p.Stream), maxStreamLen)
	case len(wire.Records) > limit:
		return p, fmt.Errorf("%w: %d records, over the limit %d asked for", errBadPage, len(wire.Records), limit)
	case p.Next > math.MaxInt64 || p.Missed > math.MaxInt64:
		return p, fmt.Errorf("%w: next_cursor %d or missed %d out of range", errBadPage, p.Next, p.Missed)
	}
	p.Records = make([]Record, len(wire.Records))
	var prev uint64
	for i, w := range wire.Records {
		if w.Cursor == 0 || w.Cursor <= prev || w.Cursor > p.Next {
			return p, fmt.Errorf("%w: record %d has cursor %d after %d (next_cursor %d); cursors must increase up to next_cursor",
				errBadPage, i, w.Cursor, prev, p.Next)
		}
		prev = w.Cursor
		if len(w.Level) > maxLevelLen {
			return p, fmt.Errorf("%w: record %d: level of %d bytes", errBadPage, i, len(w.Level))
		}
		attrs := bytes.TrimSpace(w.Attrs)
		switch {
		case len(attrs) == 0 || bytes.Equal(attrs, []byte("null")):
			attrs = nil
		case attrs[0] != '{':
			return p, fmt.Errorf("%w: record %d: attrs are not a JSON object", errBadPage, i)
		}
		t := w.Time
		if t.IsZero() {
			t = now
		}
		p.Records[i] = Record{Cursor: w.Cursor, Time: t, Level: w.Level, LevelNum: levelNum(w.Level),
			Message: w.Message, Attrs: attrs}
	}
	return p, nil
}

// levelNum is a level's number on slog's scale; slog's names with an offset
// ("WARN+1") and any case are understood, anything else is INFO.
func levelNum(s string) int {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return int(slog.LevelInfo)
	}
	return int(l)
}
