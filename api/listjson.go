package api

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/corral-dev/corral/api/wire"
)

// The answer of GET /collectors is up to 1,000 rows, and the web UI asks for
// ten such pages at once: encoding/json spends most of its time there on
// reflection and on sorting and copying each row's labels. appendList writes
// the same bytes by hand (TestListJSONMatches compares them with
// encoding/json's on many rows); what it does not know how to write exactly
// — a number or time encoding/json refuses — it leaves to encoding/json.

// listBufs are the buffers of the answers, reused across requests.
var listBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeList answers with out as writeJSON(w, 200, out) would.
func writeList(w http.ResponseWriter, out *wire.CollectorList) {
	bp := listBufs.Get().(*[]byte)
	b, ok := appendList((*bp)[:0], out)
	if !ok {
		listBufs.Put(bp)
		writeJSON(w, http.StatusOK, out)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	secureHeaders(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)    // the client went away; nothing to do
	if cap(b) <= 4<<20 { // a buffer for a page of 1,000 rows, not one for any size
		*bp = b
		listBufs.Put(bp)
	}
}

// appendList appends the JSON of out and a newline, as json.Encoder writes it;
// ok is false when it cannot, and then b is to be dropped.
func appendList(b []byte, out *wire.CollectorList) (_ []byte, ok bool) {
	b = append(b, `{"data":`...)
	if out.Data == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range out.Data {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendCollector(b, &out.Data[i]); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"page":`...)
	b = strconv.AppendInt(b, int64(out.Page), 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(out.Limit), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(out.Total), 10)
	b = append(b, `,"total_pages":`...)
	b = strconv.AppendInt(b, int64(out.TotalPages), 10)
	b = append(b, `,"summary":`...)
	// The summary and the groups are small: encoding/json's own.
	rest, err := json.Marshal(out.Summary)
	if err != nil {
		return b, false
	}
	b = append(b, rest...)
	if len(out.Groups) > 0 {
		if rest, err = json.Marshal(out.Groups); err != nil {
			return b, false
		}
		b = append(b, `,"groups":`...)
		b = append(b, rest...)
	}
	return append(b, "}\n"...), true
}

func appendCollector(b []byte, c *wire.Collector) (_ []byte, ok bool) {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"status":`...)
	b = appendString(b, c.Status)
	b = append(b, `,"reason":`...)
	b = appendString(b, c.Reason)
	b = append(b, `,"status_since":`...)
	if b, ok = appendTime(b, c.StatusSince); !ok {
		return b, false
	}
	b = append(b, `,"job":`...)
	b = appendString(b, c.Job)
	b = append(b, `,"instance":`...)
	b = appendString(b, c.Instance)
	b = append(b, `,"org":`...)
	b = appendString(b, c.Org)
	b = append(b, `,"team":`...)
	b = appendString(b, c.Team)
	b = append(b, `,"labels":`...)
	b = appendLabels(b, c.Labels)
	b = append(b, `,"provider":`...)
	b = appendString(b, c.Provider)
	b = append(b, `,"up":`...)
	b = strconv.AppendBool(b, c.Up)
	b = append(b, `,"last_seen":`...)
	if b, ok = appendTime(b, c.LastSeen); !ok {
		return b, false
	}
	for _, f := range [...]struct {
		name string
		v    *float64
	}{
		{`,"freshness_seconds":`, c.Freshness}, {`,"completeness_1h":`, c.Completeness1h},
		{`,"completeness_24h":`, c.Completeness24h}, {`,"cpu":`, c.CPU}, {`,"memory_bytes":`, c.Memory},
		{`,"items_collected":`, c.Items},
	} {
		b = append(b, f.name...)
		if b, ok = appendFloat(b, f.v); !ok {
			return b, false
		}
	}
	b = append(b, `,"tags":`...)
	if c.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range c.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"group":`...)
	b = appendString(b, c.Group)
	return append(b, '}'), true
}

// appendLabels writes m with its keys sorted, as encoding/json does.
func appendLabels(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var stack [32]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// appendString writes s as encoding/json does (HTML-safe): plain printable
// ASCII as it is, anything else through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat writes *v as encoding/json's float64 encoder does; ok is false
// for NaN and ±Inf, which it refuses.
func appendFloat(b []byte, v *float64) (_ []byte, ok bool) {
	if v == nil {
		return append(b, "null"...), true
	}
	f := *v
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendTime writes *t as time.Time.MarshalJSON does; ok is false for a year
// it refuses.
func appendTime(b []byte, t *time.Time) (_ []byte, ok bool) {
	if t == nil {
		return append(b, "null"...), true
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	// MarshalJSON drops the seconds of a zone offset and refuses one of 24h or
	// more: encoding/json's business.
	if _, off := t.Zone(); off%60 != 0 || off >= 24*3600 || off <= -24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
