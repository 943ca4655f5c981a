package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// logsAgent is a real agent whose /logs requests are recorded.
type logsAgent struct {
	addr string
	log  *slog.Logger // writes into the agent's /logs buffer
	mu   sync.Mutex
	seen []string // the after= of every /logs request
}

func newLogsAgent(t *testing.T, name string) *logsAgent {
	t.Helper()
	buf := exporter.NewLogBuffer(1000)
	la := &logsAgent{log: slog.New(buf.Handler(nil, slog.LevelDebug))}
	a, err := exporter.New(synthetic.New(synthetic.Config{Rate: 10}, 1), exporter.Options{Name: name, Kind: "synthetic",
		Interval: 200 * time.Millisecond, Logs: buf, Logger: la.log.With("agent", name)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	h := a.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/logs" {
			la.mu.Lock()
			la.seen = append(la.seen, r.URL.Query().Get("after"))
			la.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	la.addr = strings.TrimPrefix(srv.URL, "http://")
	return la
}

func (la *logsAgent) afters() []string {
	la.mu.Lock()
	defer la.mu.Unlock()
	return append([]string(nil), la.seen...)
}

// login returns the session cookies of admin.
func login(t *testing.T, base, password string) http.Header {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	hdr := http.Header{}
	for _, c := range resp.Cookies() {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	return hdr
}

type logPage struct {
	Data []struct {
		Stream string          `json:"stream"`
		Cursor uint64          `json:"cursor"`
		Level  string          `json:"level"`
		Msg    string          `json:"msg"`
		Attrs  json.RawMessage `json:"attrs"`
	} `json:"data"`
	Total int64 `json:"total"`
}

func getLogPage(t *testing.T, base string, hdr http.Header, id string, q url.Values) logPage {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/collectors/"+id+"/logs?"+q.Encode(), nil)
	req.Header = hdr.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p logPage
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&p) != nil {
		t.Fatalf("GET logs of %s: %d", id, resp.StatusCode)
	}
	return p
}

// waitLogs polls the logs route until q matches want records.
func waitLogs(t *testing.T, base string, hdr http.Header, id string, q url.Values, want int64) logPage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := getLogPage(t, base, hdr, id, q)
		if p.Total == want {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of %s with %v: %d records, want %d", id, q, p.Total, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgentLogsEndToEnd: the real server pulls real agents' logs into a real
// store, serves them on the API and the WebSocket, keeps them across its own
// restart and goes on from the stored cursor, and applies the retention at start.
func TestAgentLogsEndToEnd(t *testing.T) {
	for _, backend := range []string{store.DialectSQLite, store.DialectPostgres} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			storage := "sqlite:" + filepath.Join(dir, "corral.db")
			if backend == store.DialectPostgres {
				storage = testdb.Postgres(t)
			}
			// A collector's records from ten days ago: the purge at start removes them.
			st, err := store.Open(context.Background(), storage, nil)
			if err != nil {
				t.Fatal(err)
			}
			old := []store.LogRecord{{Stream: "x", Cursor: 1, Time: time.Now().Add(-240 * time.Hour), Level: "INFO", Message: "ancient",
				ReceivedAt: time.Now().Add(-240 * time.Hour)}}
			if _, err := st.AppendLogs(context.Background(), store.LogCursor{Collector: "retired", Stream: "x", Cursor: 1}, old); err != nil {
				t.Fatal(err)
			}
			st.Close()

			a, b := newLogsAgent(t, "la"), newLogsAgent(t, "lb")
			for i := range 5 {
				a.log.Warn("disk almost full", "marker", "e2e", "i", i)
			}
			b.log.Error("cannot connect", "marker", "e2e", "host", "db.example")
			cfgPath := filepath.Join(dir, "corral.yml")
			writeFile(t, cfgPath, `global: {scrape_interval: 300ms, scrape_timeout: 300ms}
logs: {pull_interval: 1s, retention_days: 7, max_rows_per_collector: 1000}
scrape_configs:
  - job_name: fleet
    static_configs:
      - {targets: ['`+a.addr+`'], labels: {collector: la}}
      - {targets: ['`+b.addr+`'], labels: {collector: lb, team: red}}
`)
			t.Setenv("CORRAL_ADMIN_PASSWORD", "logs-e2e-password")
			srv := startServer(t, cfgPath, storage)
			hdr := login(t, srv.base, "logs-e2e-password")

			marker := url.Values{"q": {"marker=e2e"}}
			p := waitLogs(t, srv.base, hdr, "la", marker, 5)
			if p.Data[0].Level != "WARN" || p.Data[0].Msg != "disk almost full" || !strings.Contains(string(p.Data[0].Attrs), `"i":4`) {
				t.Errorf("newest record of la: %+v", p.Data[0])
			}
			waitLogs(t, srv.base, hdr, "lb", url.Values{"q": {"db.example"}, "level": {"error"}}, 1)
			if p := getLogPage(t, srv.base, hdr, "la", url.Values{"q": {"marker=e2e"}, "level": {"error"}}); p.Total != 0 {
				t.Errorf("level=error matched %d WARN records", p.Total)
			}

			// The live tail: a client that names collector:log gets la's next record.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.base, "http")+"/api/v1/ws", &websocket.DialOptions{HTTPHeader: hdr})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(websocket.StatusNormalClosure, "")
			conn.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","collectors":["la"],"types":["collector:log"]}`))
			for {
				_, msg, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("no subscribe reply: %v", err)
				}
				if strings.Contains(string(msg), `"subscribed"`) {
					break
				}
			}
			a.log.Info("live record", "marker", "tail")
			for {
				_, msg, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("no collector:log event: %v", err)
				}
				var e struct {
					Type      string `json:"type"`
					Collector string `json:"collector"`
					Data      struct {
						Msg    string `json:"msg"`
						Stream string `json:"stream"`
						Cursor uint64 `json:"cursor"`
					} `json:"data"`
				}
				json.Unmarshal(msg, &e)
				if e.Type != "collector:log" || e.Collector != "la" {
					t.Fatalf("unexpected event %s", msg)
				}
				if e.Data.Msg == "live record" && e.Data.Stream != "" && e.Data.Cursor > 0 {
					break
				}
			}

			// A restart of the server: the records stay, the pull goes on from the
			// stored cursor and nothing is stored twice.
			before := getLogPage(t, srv.base, hdr, "la", url.Values{"limit": {"1"}}).Total
			srv.stop()
			seen := len(a.afters())
			a.log.Warn("after the restart", "marker", "e2e")
			srv = startServer(t, cfgPath, storage)
			hdr = login(t, srv.base, "logs-e2e-password")
			waitLogs(t, srv.base, hdr, "la", marker, 6)
			if got := getLogPage(t, srv.base, hdr, "la", url.Values{"limit": {"1"}}).Total; got < before+1 {
				t.Errorf("la has %d records after the restart, %d before", got, before)
			}
			if first := a.afters()[seen]; first == "0" {
				t.Errorf("the first pull after the restart asked after=0: the stored cursor was not restored")
			}
			srv.stop()

			st, err = store.Open(context.Background(), storage, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if n, err := st.CountLogs(context.Background(), "retired"); err != nil || n != 0 {
				t.Errorf("records received ten days ago: %d left (%v), want purged at start", n, err)
			}
		})
	}
}

// TestAgentLogsPullOff: with logs.pull false no agent is asked for its logs.
func TestAgentLogsPullOff(t *testing.T) {
	dir := t.TempDir()
	a := newLogsAgent(t, "la")
	cfgPath := filepath.Join(dir, "corral.yml")
	writeFile(t, cfgPath, `global: {scrape_interval: 200ms, scrape_timeout: 200ms}
logs: {pull: false}
scrape_configs:
  - job_name: fleet
    static_configs: [{targets: ['`+a.addr+`'], labels: {collector: la}}]
`)
	t.Setenv("CORRAL_ADMIN_PASSWORD", e2ePassword)
	srv := startServer(t, cfgPath, "sqlite:"+filepath.Join(dir, "corral.db"), withLifecycle)
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"la": "online"})
	time.Sleep(time.Second) // five more scrapes
	if n := len(a.afters()); n != 0 {
		t.Errorf("/logs asked %d times with logs.pull false", n)
	}
	// The section is fixed at start: a reload that changes it is refused.
	cfg, _ := os.ReadFile(cfgPath)
	writeFile(t, cfgPath, strings.Replace(string(cfg), "pull: false", "pull: true", 1))
	code, msg := postReload(t, srv.base, session(t, srv.base, "admin", e2ePassword), "")
	if code != 500 || !strings.Contains(msg, "logs cannot change on reload") {
		t.Errorf("reload changing logs: %d %s", code, msg)
	}
}
