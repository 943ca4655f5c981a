package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/corral-dev/corral/api/wire"
)

type logsCmd struct {
	ID     string `arg:"" help:"Collector id."`
	Level  string `enum:",debug,info,warn,error,DEBUG,INFO,WARN,ERROR" default:"" help:"Only records of this level and above: debug, info, warn or error."`
	Query  string `short:"q" help:"Only records whose message or attributes (key=value) contain this text, case-insensitively."`
	Since  string `placeholder:"TIME" help:"Only records from this time on: ${time_help}."`
	Limit  int    `default:"100" help:"The newest this many records (at most 1000), printed oldest first."`
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum} (json: one object per line)."`
	Follow bool   `short:"f" help:"Then print new records as they arrive (the WebSocket) until Ctrl-C."`
}

// logPrinter prints records once each: within a stream the server's cursors
// only grow, so the highest printed per stream is all it must remember.
type logPrinter struct {
	o       logsCmd
	out     io.Writer
	printed map[string]uint64 // stream → highest cursor printed
	min     *slog.Level
}

func (p *logPrinter) print(r wire.LogRecord) {
	if c, ok := p.printed[r.Stream]; ok && r.Cursor <= c {
		return
	}
	p.printed[r.Stream] = r.Cursor
	if p.o.Output == "json" {
		r.ID = 0 // as the live records come: a record prints alike either way
		b, _ := json.Marshal(r)
		fmt.Fprintln(p.out, string(b))
		return
	}
	var attrs map[string]json.RawMessage
	_ = json.Unmarshal(r.Attrs, &attrs)
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s %s", r.Time.Local().Format("2006-01-02T15:04:05.000Z07:00"), r.Level, r.Message)
	for _, k := range keys {
		v := string(attrs[k])
		var s string
		if json.Unmarshal(attrs[k], &s) == nil && s != "" && !strings.ContainsAny(s, " \"=\n") {
			v = s
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	fmt.Fprintln(p.out, b.String())
}

// matches applies the filters to a live record as the server applies them to
// stored ones (the WebSocket sends every record of the collector).
func (p *logPrinter) matches(r wire.LogRecord) bool {
	if p.min != nil {
		var l slog.Level
		if l.UnmarshalText([]byte(r.Level)) != nil {
			l = slog.LevelInfo
		}
		if l < *p.min {
			return false
		}
	}
	if p.o.Query == "" {
		return true
	}
	text := strings.ToLower(r.Message)
	var attrs map[string]json.RawMessage
	_ = json.Unmarshal(r.Attrs, &attrs)
	for k, v := range attrs {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		text += "\n" + strings.ToLower(k) + "=" + strings.ToLower(s)
	}
	return strings.Contains(text, strings.ToLower(p.o.Query))
}

func (o logsCmd) Run(ctx context.Context, g *globals) error { return logs(ctx, o, g.config, g.stdout) }

// logs prints a collector's newest records oldest first, then with -f follows
// the live ones.
func logs(ctx context.Context, o logsCmd, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	if o.Since != "" {
		// The same forms as audit --since; resolved once, so that a
		// reconnecting -f keeps the start it was given.
		t, err := parseWhen("since", o.Since, time.Now())
		if err != nil {
			return err
		}
		o.Since = t.Format(time.RFC3339Nano)
	}
	o.Level = strings.ToLower(o.Level)
	p := &logPrinter{o: o, out: out, printed: map[string]uint64{}}
	if o.Level != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(o.Level)) // kong checked the name
		p.min = &l
	}
	if !o.Follow {
		return fetchLogs(ctx, c, o, p)
	}
	// Subscribe first, then read the stored records: a record stored in
	// between comes both ways and is printed once.
	conn, err := c.dialEvents(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	sub, _ := json.Marshal(map[string]any{"action": "subscribe", "collectors": []string{o.ID}, "types": []string{wire.EventLog}})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		return err
	}
	var queued []wire.LogRecord
	subscribed := false
	for !subscribed {
		e, err := readEvent(ctx, conn)
		if err != nil {
			return err
		}
		switch e.Type {
		case wire.MessageSubscribed:
			subscribed = true
		case wire.MessageError:
			return fmt.Errorf("the server refused the subscription: %s", e.Data)
		case wire.EventLog:
			queued = append(queued, record(e)) // sent before the reply: keep
		}
	}
	if err := fetchLogs(ctx, c, o, p); err != nil {
		return err
	}
	for _, r := range queued {
		if p.matches(r) {
			p.print(r)
		}
	}
	for {
		e, err := readEvent(ctx, conn)
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		switch e.Type {
		case wire.EventLog:
			if r := record(e); e.Collector == o.ID && p.matches(r) {
				p.print(r)
			}
		case wire.MessageResync:
			// Events were dropped: what was stored meanwhile is on the API.
			fmt.Fprintln(os.Stderr, "corralctl: fell behind the live records; reading them back from the server")
			if err := fetchLogs(ctx, c, o, p); err != nil {
				return err
			}
		}
	}
}

// record is the log record of a collector:log event.
func record(e wire.Event[json.RawMessage]) wire.LogRecord {
	var r wire.LogRecord
	_ = json.Unmarshal(e.Data, &r)
	return r
}

func readEvent(ctx context.Context, conn *websocket.Conn) (wire.Event[json.RawMessage], error) {
	var e wire.Event[json.RawMessage]
	_, msg, err := conn.Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return e, err
		}
		return e, fmt.Errorf("event stream ended: %w", err)
	}
	if err := json.Unmarshal(msg, &e); err != nil {
		return e, fmt.Errorf("event stream: %w", err)
	}
	return e, nil
}

// fetchLogs prints the newest o.Limit matching records, oldest first.
func fetchLogs(ctx context.Context, c *client, o logsCmd, p *logPrinter) error {
	q, err := pageQuery(o.Limit, map[string]string{"level": o.Level, "q": o.Query, "since": o.Since})
	if err != nil {
		return err
	}
	var page wire.Page[wire.LogRecord]
	if err := c.do(ctx, http.MethodGet, "/api/v1/collectors/"+url.PathEscape(o.ID)+"/logs", q, nil, &page); err != nil {
		return err
	}
	slices.Reverse(page.Data)
	for _, r := range page.Data {
		p.print(r)
	}
	return nil
}
