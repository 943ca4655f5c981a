package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The column encodings shared by both dialects.

// millis encodes t as unix milliseconds, or NULL for the zero time.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMillis decodes a nullable millisecond column: NULL is the zero time, any
// other value a UTC time.
func fromMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

// nowOr returns t in milliseconds, or the current time when t is zero.
func nowOr(t time.Time) int64 {
	if t.IsZero() {
		return time.Now().UnixMilli()
	}
	return t.UnixMilli()
}

// toMillis is t truncated to UTC milliseconds, as the store gives times back.
func toMillis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// bound encodes the lower or upper end of a time range; the zero time leaves that
// end open.
func bound(t time.Time, upper bool) int64 {
	switch {
	case !t.IsZero():
		return t.UnixMilli()
	case upper:
		return math.MaxInt64
	}
	return math.MinInt64
}

// encodeMap encodes a label or threshold map as JSON; nil is "{}". encoding/json
// sorts the keys, so equal maps give equal text.
func encodeMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeMap decodes a JSON map column; it never returns a nil map.
func decodeMap(s, column string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" || s == "{}" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", column, err)
	}
	return m, nil
}

// text makes s storable in both databases: PostgreSQL refuses NUL bytes and
// invalid UTF-8 in text columns, and one such value in a batch would otherwise
// fail every retry of it. NULs are dropped and invalid bytes replaced by U+FFFD.
func text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// finite reports whether every value is a finite number: SQLite stores NaN as
// NULL and PostgreSQL's numeric aggregates choke on infinities.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// valuesList returns "($1,$2),($3,$4)…": rows groups of cols placeholders. For
// SQLite it returns "(?,?),(?,?)…" instead: SQLite takes $N for a named parameter
// and looks each name up in a list, which made a 500-row statement take seconds
// to prepare and bind; anonymous ? parameters skip that. The two are equivalent
// here since every parameter is used once, in order.
func valuesList(rows, cols int, dialect string) string {
	var b strings.Builder
	b.Grow(rows * cols * 7)
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			if dialect == DialectSQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			}
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

func rawOr(b json.RawMessage, empty string) string {
	if len(b) == 0 || string(b) == "null" {
		return empty
	}
	return string(b)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
