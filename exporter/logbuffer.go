package exporter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// LogRecord is one structured log record as /logs serves it.
type LogRecord struct {
	Cursor  uint64         `json:"cursor"`
	Time    time.Time      `json:"time"`
	Level   string         `json:"level"`
	Message string         `json:"msg"`
	Attrs   map[string]any `json:"attrs,omitempty"`
}

// LogPage is the answer of /logs.
type LogPage struct {
	// Stream identifies this buffer; it changes when the agent process restarts, so a
	// reader knows its cursor refers to records that are gone.
	Stream  string      `json:"stream"`
	Records []LogRecord `json:"records"`
	// Next is the cursor to pass as after= on the next call.
	Next uint64 `json:"next_cursor"`
	// Oldest is the cursor of the oldest record still held.
	Oldest uint64 `json:"oldest_cursor"`
	// Missed counts the records between after= and Oldest that the ring already dropped.
	Missed uint64 `json:"missed"`
}

// LogBuffer keeps the agent's most recent log records in a bounded ring with a
// monotonically increasing cursor. It is safe for concurrent use.
type LogBuffer struct {
	mu     sync.Mutex
	ring   []LogRecord
	next   uint64 // cursor of the next record; the first record gets 1
	stream string
}

// NewLogBuffer returns a ring holding at most size records (default 1000).
func NewLogBuffer(size int) *LogBuffer {
	if size <= 0 {
		size = 1000
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &LogBuffer{ring: make([]LogRecord, 0, size), next: 1, stream: hex.EncodeToString(b[:])}
}

func (b *LogBuffer) add(r LogRecord) {
	b.mu.Lock()
	r.Cursor = b.next
	b.next++
	if len(b.ring) < cap(b.ring) {
		b.ring = append(b.ring, r)
	} else {
		b.ring[int((r.Cursor-1)%uint64(cap(b.ring)))] = r
	}
	b.mu.Unlock()
}

// Count is how many records the buffer was given since it was made (the
// cursor of the newest); what /metrics exposes as corral_collector_log_records_total.
func (b *LogBuffer) Count() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next - 1
}

// Page returns up to limit records with a cursor greater than after, oldest first.
func (b *LogBuffer) Page(after uint64, limit int) LogPage {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	oldest := b.next - uint64(len(b.ring))
	p := LogPage{Stream: b.stream, Oldest: oldest, Next: after, Records: []LogRecord{}}
	if after >= b.next {
		// A cursor from the future belongs to another stream; start over.
		after = 0
	}
	start := after + 1
	if start < oldest {
		p.Missed = oldest - start
		start = oldest
	}
	for c := start; c < b.next && len(p.Records) < limit; c++ {
		p.Records = append(p.Records, b.ring[int((c-1)%uint64(cap(b.ring)))])
	}
	if n := len(p.Records); n > 0 {
		p.Next = p.Records[n-1].Cursor
	} else if after < oldest && oldest > 0 {
		p.Next = oldest - 1
	}
	return p
}

// Handler returns a slog.Handler that records into the buffer and passes every record
// on to next (which may be nil).
func (b *LogBuffer) Handler(next slog.Handler, level slog.Leveler) slog.Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &bufferHandler{buf: b, next: next, level: level}
}

type bufferHandler struct {
	buf    *LogBuffer
	next   slog.Handler
	level  slog.Leveler
	attrs  []slog.Attr
	groups []string
}

func (h *bufferHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l >= h.level.Level() {
		return true
	}
	return h.next != nil && h.next.Enabled(ctx, l)
}

func (h *bufferHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= h.level.Level() {
		attrs := make(map[string]any, len(h.attrs)+r.NumAttrs())
		prefix := ""
		for _, g := range h.groups {
			prefix += g + "."
		}
		for _, a := range h.attrs {
			addAttr(attrs, "", a)
		}
		r.Attrs(func(a slog.Attr) bool {
			addAttr(attrs, prefix, a)
			return true
		})
		if len(attrs) == 0 {
			attrs = nil
		}
		h.buf.add(LogRecord{Time: r.Time, Level: r.Level.String(), Message: r.Message, Attrs: attrs})
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func addAttr(dst map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			addAttr(dst, prefix+a.Key+".", g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	switch v.Kind() {
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			dst[prefix+a.Key] = err.Error()
			return
		}
		dst[prefix+a.Key] = v.String()
	case slog.KindTime:
		dst[prefix+a.Key] = v.Time()
	case slog.KindDuration:
		dst[prefix+a.Key] = v.Duration().String()
	default:
		dst[prefix+a.Key] = v.Any()
	}
}

func (h *bufferHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	prefix := ""
	for _, g := range h.groups {
		prefix += g + "."
	}
	c.attrs = append(append([]slog.Attr{}, h.attrs...), prefixed(prefix, as)...)
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func prefixed(prefix string, as []slog.Attr) []slog.Attr {
	if prefix == "" {
		return as
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

func (h *bufferHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(append([]string{}, h.groups...), name)
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}
