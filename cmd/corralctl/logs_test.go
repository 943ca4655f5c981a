package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// logServer is the real API and WebSocket over a real store, as corral serves
// them, with a logged-in corralctl config.
type logServer struct {
	st     *store.Store
	hub    *events.Hub
	cfg    string // corralctl's config file
	t0     time.Time
	cursor uint64
}

func newLogServer(t *testing.T) *logServer {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateOrg(ctx, store.Org{ID: "default"}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword("pw-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, store.User{Username: "admin", PasswordHash: hash}, store.RoleBinding{Role: store.RoleSuperAdmin}); err != nil {
		t.Fatal(err)
	}
	eval := health.NewEvaluator(health.Options{})
	for _, id := range []string{"pg-1", "pg-2"} {
		eval.Track(&targets.Target{Collector: id, Job: "pg", URL: "http://" + id + ":9100/metrics", Labels: map[string]string{"collector": id},
			Org: targets.DefaultTenancy.DefaultOrg}, time.Minute, 10*time.Second)
	}
	hub := events.NewHub(events.Options{})
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { hub.Run(hubCtx); close(hubDone) }()
	a := auth.New(st, auth.Options{})
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/ws", a.Middleware(hub.Handler(func(r *http.Request) (events.Scope, bool) {
		p, ok := auth.FromContext(r.Context())
		return p, ok
	})))
	mux.Handle("/api/v1/", api.New(api.Options{Fleet: eval, Logs: st, Auth: a}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { stopHub(); <-hubDone; srv.Close() })
	// corralctl login makes the token the other commands use.
	cfg := filepath.Join(t.TempDir(), "corralctl.json")
	if err := login(ctx, loginCmd{Server: srv.URL, Username: "admin", PasswordStdin: true, ExpiresInDays: 1}, cfg, strings.NewReader("pw-for-tests\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	return &logServer{st: st, hub: hub, cfg: cfg, t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// add stores the next record of collector id and, when live, publishes it as
// corral's log sink does; it returns the record.
func (s *logServer) add(t *testing.T, id, level, msg string, live bool) store.LogRecord {
	t.Helper()
	s.cursor++
	num := map[string]int{"DEBUG": -4, "INFO": 0, "WARN": 4, "ERROR": 8}[level]
	r := store.LogRecord{Collector: id, Stream: "s1", Cursor: s.cursor, Time: s.t0.Add(time.Duration(s.cursor) * time.Second),
		Level: level, LevelNum: num, Message: msg, Attrs: json.RawMessage(fmt.Sprintf(`{"n":%d,"db":"billing main"}`, s.cursor))}
	if _, err := s.st.AppendLogs(context.Background(), store.LogCursor{Collector: id, Stream: "s1", Cursor: s.cursor}, []store.LogRecord{r}); err != nil {
		t.Fatal(err)
	}
	if live {
		s.publish(r)
	}
	return r
}

func (s *logServer) publish(r store.LogRecord) {
	s.hub.Publish(events.Event{Type: wire.EventLog, Collector: r.Collector, Org: "default", Time: r.Time, Data: api.LogView(&r)})
}

// relative is t as a --since=-2h style offset from now.
func relative(t time.Time) string {
	d := time.Until(t).Round(time.Millisecond)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

func TestLogsCommand(t *testing.T) {
	s := newLogServer(t)
	for i := 1; i <= 5; i++ {
		s.add(t, "pg-1", []string{"DEBUG", "INFO", "WARN", "ERROR"}[i%4], fmt.Sprintf("run %d", i), false)
	}
	ctx := context.Background()
	at := func(c int) string {
		return s.t0.Add(time.Duration(c) * time.Second).Local().Format("2006-01-02T15:04:05.000Z07:00")
	}
	for _, tc := range []struct {
		name string
		o    logsCmd
		want string
	}{
		{"newest, oldest first", logsCmd{ID: "pg-1", Limit: 3, Output: "text"},
			at(3) + " ERROR run 3 db=\"billing main\" n=3\n" + at(4) + " DEBUG run 4 db=\"billing main\" n=4\n" + at(5) + " INFO  run 5 db=\"billing main\" n=5\n"},
		{"level", logsCmd{ID: "pg-1", Limit: 100, Level: "warn", Output: "text"},
			at(2) + " WARN  run 2 db=\"billing main\" n=2\n" + at(3) + " ERROR run 3 db=\"billing main\" n=3\n"},
		{"query", logsCmd{ID: "pg-1", Limit: 100, Query: "N=4", Output: "text"}, at(4) + " DEBUG run 4 db=\"billing main\" n=4\n"},
		{"since", logsCmd{ID: "pg-1", Limit: 100, Since: fmt.Sprint(s.t0.Unix() + 5), Output: "text"}, at(5) + " INFO  run 5 db=\"billing main\" n=5\n"},
		{"since relative", logsCmd{ID: "pg-1", Limit: 100, Since: relative(s.t0.Add(4500 * time.Millisecond)), Output: "text"},
			at(5) + " INFO  run 5 db=\"billing main\" n=5\n"},
		{"since RFC 3339", logsCmd{ID: "pg-1", Limit: 100, Since: s.t0.Add(4 * time.Second).Format(time.RFC3339), Output: "text"},
			at(4) + " DEBUG run 4 db=\"billing main\" n=4\n" + at(5) + " INFO  run 5 db=\"billing main\" n=5\n"},
		{"since in the future", logsCmd{ID: "pg-1", Limit: 100, Since: "+1h", Output: "text"}, ""},
		{"nothing", logsCmd{ID: "pg-2", Limit: 100, Output: "text"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := logs(ctx, tc.o, s.cfg, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var out bytes.Buffer
		if err := logs(ctx, logsCmd{ID: "pg-1", Limit: 2, Output: "json"}, s.cfg, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var r wire.LogRecord
		if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &r) != nil || r.Cursor != 5 || r.Message != "run 5" || r.Collector != "pg-1" || r.Stream != "s1" {
			t.Errorf("%q", out.String())
		}
	})

	t.Run("bad input", func(t *testing.T) {
		// Refused before any request, as audit --since is.
		err := logs(ctx, logsCmd{ID: "pg-1", Limit: 10, Since: "yesterday", Output: "text"}, s.cfg, &bytes.Buffer{})
		var bi *badInput
		if !errors.As(err, &bi) || !strings.Contains(err.Error(), "--since") || exitCode(err) != 2 {
			t.Errorf("%v", err)
		}
		var ae *apiError
		err = logs(ctx, logsCmd{ID: "nope", Limit: 10, Output: "text"}, s.cfg, &bytes.Buffer{})
		if !errors.As(err, &ae) || ae.Status != 404 || exitCode(err) != 3 {
			t.Errorf("unknown collector: %v", err)
		}
	})
}

// TestLogsFollow: -f prints the stored records, then the live ones of the
// collector that pass the filters, each once, until the context ends.
func TestLogsFollow(t *testing.T) {
	s := newLogServer(t)
	s.add(t, "pg-1", "INFO", "stored 1", false)
	last := s.add(t, "pg-1", "WARN", "stored 2", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The command writes into a pipe; its lines are read here as they come.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- logs(ctx, logsCmd{ID: "pg-1", Limit: 10, Level: "info", Output: "text", Follow: true}, s.cfg, pw)
		pw.Close()
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var printed []string
	waitOut := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l := <-lines:
				printed = append(printed, l)
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q in\n%s", want, strings.Join(printed, "\n"))
			}
		}
	}
	waitOut("stored 2") // subscribed, then read the stored ones

	s.publish(last)                                   // already printed
	live := s.add(t, "pg-1", "ERROR", "live 1", true) // stored and published
	s.publish(live)                                   // published again (a re-pull)
	s.add(t, "pg-1", "DEBUG", "too quiet", true)      // under --level info
	s.add(t, "pg-2", "ERROR", "another collector", true)
	s.add(t, "pg-1", "INFO", "live 2", true)
	waitOut("live 2")
	cancel()
	for l := range lines { // whatever came after live 2, until the command ends
		printed = append(printed, l)
	}
	if err := <-done; err != nil {
		t.Fatalf("after Ctrl-C: %v", err)
	}
	var msgs []string
	for _, l := range printed {
		f := strings.Fields(l)
		msgs = append(msgs, f[2]+" "+f[3])
	}
	if got, want := strings.Join(msgs, ", "), "stored 1, stored 2, live 1, live 2"; got != want {
		t.Errorf("printed %s, want %s:\n%s", got, want, strings.Join(printed, "\n"))
	}
}
