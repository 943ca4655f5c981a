package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/corral-dev/corral/api/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testScope sees one org, or one team of it, or everything ("*"): a stand-in for
// auth.Principal, whose rules the auth tests cover.
type testScope struct{ org, team string }

func (s testScope) CanRead(org, team string) bool {
	return s.org == "*" || s.org == org && (s.team == "" || s.team == team)
}

// server is a real HTTP server whose accepted connections the test can stall.
type server struct {
	*httptest.Server
	accepted chan *gatedConn
}

// serve starts h behind a server authenticating ?org=&team= (no org: 401).
func serve(t testing.TB, h *Hub) *server {
	t.Helper()
	s := &server{accepted: make(chan *gatedConn, 1000)}
	s.Server = httptest.NewUnstartedServer(h.Handler(func(r *http.Request) (Scope, bool) {
		q := r.URL.Query()
		if q.Get("org") == "" {
			return nil, false
		}
		return testScope{q.Get("org"), q.Get("team")}, true
	}))
	s.Listener = &gatedListener{Listener: s.Listener, accepted: s.accepted}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/?" + query
}

// dial connects a client and returns it with the server side of its connection.
// Dials must not run concurrently, or the two would not pair up.
func (s *server) dial(t testing.TB, query string) (*websocket.Conn, *gatedConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.wsURL(query), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	select {
	case g := <-s.accepted:
		return c, g
	case <-ctx.Done():
		t.Fatal("connection not accepted")
		return nil, nil
	}
}

type gatedListener struct {
	net.Listener
	accepted chan *gatedConn
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, closed: make(chan struct{})}
	select {
	case l.accepted <- g:
	default:
	}
	return g, nil
}

// gatedConn is a server-side connection whose writes block while it is stalled,
// as they do when a client stops reading and the socket buffers fill.
type gatedConn struct {
	net.Conn
	mu        sync.Mutex
	gate      chan struct{} // nil: open
	closed    chan struct{}
	closeOnce sync.Once
}

func (g *gatedConn) stall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate == nil {
		g.gate = make(chan struct{})
	}
}

func (g *gatedConn) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-g.closed:
			return 0, net.ErrClosed
		}
	}
	return g.Conn.Write(p)
}

func (g *gatedConn) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Conn.Close()
}

type message struct {
	Type      string          `json:"type"`
	Collector string          `json:"collector"`
	Reason    string          `json:"reason"`
	Time      time.Time       `json:"time"`
	Data      json.RawMessage `json:"data"`
}

// frame reads the next frame, waiting at most 10 s.
func frame(t testing.TB, c *websocket.Conn) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

func next(t testing.TB, c *websocket.Conn) message {
	t.Helper()
	b := frame(t, c)
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func send(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// barrier returns what c receives before the reply to a message sent now. Replies
// go through the client's queue, so they come after every event published before.
func barrier(t testing.TB, c *websocket.Conn) []message {
	t.Helper()
	send(t, c, `{"action":"barrier"}`)
	var got []message
	for {
		m := next(t, c)
		if m.Type == "error" && strings.Contains(string(m.Data), "barrier") {
			return got
		}
		got = append(got, m)
	}
}

// collectors lists the collectors of the events in ms, "type" for other messages.
func collectors(ms []message) []string {
	var out []string
	for _, m := range ms {
		if m.Collector != "" {
			out = append(out, m.Collector)
		} else {
			out = append(out, m.Type)
		}
	}
	return out
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func waitClients(t testing.TB, h *Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		got := len(*h.clients.Load())
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients, want %d", got, n)
		}
	}
}

func TestScopeIsolation(t *testing.T) {
	h := NewHub(Options{})
	s := serve(t, h)
	clients := map[string]*websocket.Conn{}
	for _, q := range []string{"org=a", "org=b", "org=a&team=x", "org=*"} {
		clients[q], _ = s.dial(t, q)
	}
	// An explicit subscription to an out-of-scope collector must not widen the scope.
	send(t, clients["org=b"], `{"action":"subscribe","collectors":["a-1","b-1","b-2","end-b"]}`)
	if m := next(t, clients["org=b"]); m.Type != "subscribed" {
		t.Fatalf("subscribe: %+v", m)
	}
	waitClients(t, h, 4)
	for _, e := range []Event{
		{Type: wire.EventStatusChanged, Collector: "b-1", Org: "b"},
		{Type: wire.EventStatusChanged, Collector: "a-1", Org: "a"},
		{Type: wire.EventHeartbeat, Collector: "ax-1", Org: "a", Team: "x"},
		{Type: wire.EventHeartbeat, Collector: "ay-1", Org: "a", Team: "y"},
		{Type: wire.EventHeartbeat, Collector: "b-2", Org: "b", Team: "x"},
		{Type: wire.EventHeartbeat, Collector: "c-1", Org: "c"},
		// Sentinels: published last, so anything that leaked would arrive before them.
		{Type: "test:end", Collector: "end-a", Org: "a", Team: "x"},
		{Type: "test:end", Collector: "end-b", Org: "b"},
	} {
		h.Publish(e)
	}
	for q, want := range map[string][]string{
		"org=a":        {"a-1", "ax-1", "ay-1", "end-a"},
		"org=b":        {"b-1", "b-2", "end-b"},
		"org=a&team=x": {"ax-1", "end-a"},
		"org=*":        {"b-1", "a-1", "ax-1", "ay-1", "b-2", "c-1", "end-a", "end-b"},
	} {
		// barrier: everything received before the reply to a later message.
		if got := collectors(barrier(t, clients[q])); !slices.Equal(got, want) {
			t.Errorf("%s received %v, want %v", q, got, want)
		}
	}
}

func TestSubscriptions(t *testing.T) {
	published := []Event{
		{Type: wire.EventHeartbeat, Collector: "pg-1", Status: "online", Job: "postgres", Labels: map[string]string{"env": "prod"}},
		{Type: wire.EventStatusChanged, Collector: "pg-2", Status: "offline", Job: "postgres", Labels: map[string]string{"env": "dev"}},
		{Type: wire.EventHeartbeat, Collector: "my-1", Status: "online", Job: "mysql", Labels: map[string]string{"env": "prod"}},
		{Type: wire.EventError, Collector: "my-2", Status: "error", Job: "mysql", Labels: map[string]string{"env": "prod", "tier": "1"}},
		{Type: wire.EventHeartbeat, Collector: "syn", Labels: map[string]string{"job": "synthetic", "status": "paused"}},
	}
	all := []string{"pg-1", "pg-2", "my-1", "my-2", "syn"}
	cases := []struct {
		name string
		send []string // each must be acknowledged
		want []string
	}{
		{"none: everything in scope", nil, all},
		{"collectors", []string{`{"action":"subscribe","collectors":["pg-1","my-2","pg-1"]}`}, []string{"pg-1", "my-2"}},
		{"status", []string{`{"action":"subscribe","filter":{"status":["offline","error"]}}`}, []string{"pg-2", "my-2"}},
		{"status from labels", []string{`{"action":"subscribe","filter":{"status":["paused"]}}`}, []string{"syn"}},
		{"job", []string{`{"action":"subscribe","filter":{"job":["mysql"]}}`}, []string{"my-1", "my-2"}},
		{"job from labels", []string{`{"action":"subscribe","filter":{"job":["synthetic"]}}`}, []string{"syn"}},
		{"label", []string{`{"action":"subscribe","filter":{"labels":{"env":"prod"}}}`}, []string{"pg-1", "my-1", "my-2"}},
		{"labels are ANDed", []string{`{"action":"subscribe","filter":{"labels":{"env":"prod","tier":"1"}}}`}, []string{"my-2"}},
		{"empty label matches absent", []string{`{"action":"subscribe","filter":{"labels":{"tier":""}}}`}, []string{"pg-1", "pg-2", "my-1", "syn"}},
		{"types", []string{`{"action":"subscribe","types":["collector:heartbeat"]}`}, []string{"pg-1", "my-1", "syn"}},
		{"fields are ANDed", []string{`{"action":"subscribe","collectors":["pg-1","pg-2"],"types":["collector:heartbeat"]}`}, []string{"pg-1"}},
		{"subscriptions are ORed", []string{
			`{"action":"subscribe","collectors":["pg-1"]}`,
			`{"action":"subscribe","filter":{"status":["error"]}}`,
		}, []string{"pg-1", "my-2"}},
		{"empty subscription: everything", []string{`{"action":"subscribe","collectors":["pg-1"]}`, `{"action":"subscribe"}`}, all},
		{"bare unsubscribe: back to everything", []string{
			`{"action":"subscribe","collectors":["pg-1"]}`,
			`{"action":"unsubscribe"}`,
		}, all},
		{"unsubscribe a collector", []string{
			`{"action":"subscribe","collectors":["pg-1","pg-2"]}`,
			`{"action":"unsubscribe","collectors":["pg-1"]}`,
		}, []string{"pg-2"}},
		{"unsubscribe the last collector: nothing, not everything", []string{
			`{"action":"subscribe","collectors":["pg-1"],"types":["collector:heartbeat"]}`,
			`{"action":"unsubscribe","collectors":["pg-1"]}`,
		}, nil},
		{"unsubscribe a collector keeps filters", []string{
			`{"action":"subscribe","filter":{"job":["mysql"]}}`,
			`{"action":"subscribe","collectors":["pg-1"]}`,
			`{"action":"unsubscribe","collectors":["pg-1","my-1"]}`,
		}, []string{"my-1", "my-2"}},
		{"unsubscribe by id", []string{
			`{"action":"subscribe","collectors":["pg-1"]}`,
			`{"action":"subscribe","collectors":["syn"]}`,
			`{"action":"unsubscribe","id":1}`,
		}, []string{"syn"}},
		{"unsubscribe by body", []string{
			`{"action":"subscribe","filter":{"status":["error","offline"]}}`,
			`{"action":"subscribe","collectors":["syn"]}`,
			`{"action":"unsubscribe","filter":{"status":["offline","error"]}}`,
		}, []string{"syn"}},
	}
	h := NewHub(Options{})
	s := serve(t, h)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := s.dial(t, "org=*")
			subscribe(t, c, tc.send...)
			for _, e := range published {
				h.Publish(e)
			}
			if got := collectors(barrier(t, c)); !slices.Equal(got, tc.want) {
				t.Errorf("received %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSubscriptionReplies(t *testing.T) {
	h := NewHub(Options{})
	s := serve(t, h)
	c, _ := s.dial(t, "org=*")
	for _, tc := range []struct{ send, want string }{
		{`{"action":"subscribe","collectors":["a"]}`, `{"id":1,"subscriptions":1}`},
		{`{"action":"subscribe","types":["collector:error"]}`, `{"id":2,"subscriptions":2}`},
		{`{"action":"unsubscribe","id":1}`, `{"removed":1,"subscriptions":1}`},
		{`{"action":"unsubscribe"}`, `{"removed":1,"subscriptions":0}`},
	} {
		send(t, c, tc.send)
		if m := next(t, c); string(m.Data) != tc.want || m.Time.IsZero() {
			t.Errorf("%s: got %s %s, want %s", tc.send, m.Type, m.Data, tc.want)
		}
	}
}

func TestBadMessages(t *testing.T) {
	h := NewHub(Options{ReadLimit: 1 << 10})
	s := serve(t, h)
	c, _ := s.dial(t, "org=*")
	for _, tc := range []struct{ send, want string }{
		{`not json`, "invalid message"},
		{`{}`, `missing \"action\"`},
		{`{"action":"dance"}`, `unknown action \"dance\"`},
		{`{"action":"subscribe","colectors":["x"]}`, `unknown field \"colectors\"`},
		{`{"action":"subscribe","collectors":"x"}`, "invalid message"},
		{`{"action":"subscribe","filter":{"labels":{"a":1}}}`, "invalid message"},
		{`{"action":"subscribe"} {"action":"subscribe"}`, "one JSON object per message"},
		{`{"action":"subscribe","collectors":[""]}`, "empty id"},
		{`{"action":"subscribe","id":3}`, `\"id\" is only for`},
		{`{"action":"unsubscribe","id":3,"collectors":["x"]}`, `\"id\" is only for`},
		{`{"action":"unsubscribe","id":99}`, "no subscription with id 99"},
		{`{"action":"unsubscribe","collectors":["nope"]}`, "no subscription lists collectors nope"},
		{`{"action":"unsubscribe","types":["collector:error"]}`, "no subscription equals this one"},
	} {
		send(t, c, tc.send)
		m := next(t, c)
		if m.Type != "error" || !strings.Contains(string(m.Data), tc.want) {
			t.Errorf("%s: got %s %s, want an error containing %s", tc.send, m.Type, m.Data, tc.want)
		}
	}
	for i := range maxSubscriptions {
		send(t, c, fmt.Sprintf(`{"action":"subscribe","collectors":["c%d"]}`, i))
		if m := next(t, c); m.Type != "subscribed" {
			t.Fatalf("subscription %d: %+v", i, m)
		}
	}
	send(t, c, `{"action":"subscribe"}`)
	if m := next(t, c); m.Type != "error" || !strings.Contains(string(m.Data), "too many subscriptions") {
		t.Errorf("subscription %d: %s %s", maxSubscriptions+1, m.Type, m.Data)
	}
	// The connection survived all of that.
	h.Publish(Event{Type: wire.EventHeartbeat, Collector: "c7"})
	if m := next(t, c); m.Collector != "c7" {
		t.Errorf("after bad messages: %+v", m)
	}

	// A message over the read limit is the one that closes the connection.
	send(t, c, `{"action":"subscribe","collectors":["`+strings.Repeat("x", 2<<10)+`"]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("oversized message: %v, want close status 1009", err)
	}
	waitClients(t, h, 0)
}

// TestSlowClient: a client that stops reading never holds up Publish or the
// other clients; its misses are counted, and when it reads again it gets one
// resync in place of the events it missed, then new events.
func TestSlowClient(t *testing.T) {
	const buffer, n = 4, 200
	h := NewHub(Options{BufferSize: buffer, WriteTimeout: time.Minute})
	s := serve(t, h)
	slow, slowConn := s.dial(t, "org=*")
	fast, _ := s.dial(t, "org=*")
	// A first event shows the slow client's writer waiting for the next one:
	// that one it will take and then hang in writing.
	h.Publish(Event{Type: wire.EventMetrics, Collector: "warm-up"})
	for _, c := range []*websocket.Conn{slow, fast} {
		if m := next(t, c); m.Collector != "warm-up" {
			t.Fatalf("warm-up: %+v", m)
		}
	}
	slowConn.stall()

	// In lockstep with the fast client, which gets every event while the slow
	// one's writer is stuck.
	var publishing time.Duration
	for i := range n {
		start := time.Now()
		h.Publish(Event{Type: wire.EventMetrics, Collector: fmt.Sprint(i)})
		publishing += time.Since(start)
		if m := next(t, fast); m.Collector != fmt.Sprint(i) {
			t.Fatalf("the fast client got %+v, want event %d", m, i)
		}
	}
	if publishing > time.Second {
		t.Errorf("publishing %d events took %s", n, publishing)
	}
	// The slow client's writer hangs with one event (usually event 0: it was
	// waiting for it) and its queue holds buffer more: the rest were missed.
	if d := value(h.m.dropped); d < n-buffer-1 {
		t.Errorf("dropped %v, want at least %d", d, n-buffer-1)
	}

	slowConn.resume()
	// What it receives: a gap-free run of events, each gap replaced by a resync
	// counting what it lost. Normally that is [0 resync]; a writer scheduled
	// late can resync first.
	var got []string
	delivered, dropped, resyncs, last := 0, 0, 0, -1
	for delivered+dropped < n {
		m := next(t, slow)
		got = append(got, collectors([]message{m})...)
		switch m.Type {
		case "resync":
			var data struct{ Dropped int }
			if err := json.Unmarshal(m.Data, &data); err != nil || m.Reason != resyncReason || data.Dropped <= 0 {
				t.Errorf("resync %+v %s", m, m.Data)
			}
			resyncs++
			dropped += data.Dropped
		default:
			var i int
			fmt.Sscan(m.Collector, &i)
			if i <= last {
				t.Errorf("event %d after %d", i, last)
			}
			last = i
			delivered++
		}
	}
	if delivered+dropped != n || delivered > 1 || got[len(got)-1] != "resync" {
		t.Errorf("received %v: %d events delivered and %d dropped, want at most one, %d in all, and a resync last", got, delivered, dropped, n)
	}
	// Then it is back in step.
	h.Publish(Event{Type: wire.EventMetrics, Collector: "after"})
	if got := collectors(barrier(t, slow)); !slices.Equal(got, []string{"after"}) {
		t.Errorf("after the resync: %v, want [after]", got)
	}
	if d, r := value(h.m.dropped), value(h.m.resyncs); d != float64(dropped) || r != float64(resyncs) {
		t.Errorf("corral_ws_dropped_total %v, corral_ws_resyncs_total %v; the client was told %d and %d", d, r, dropped, resyncs)
	}
}

// TestStuckClientClosed: a client that takes no write within the write timeout
// is disconnected, and the others carry on.
func TestStuckClientClosed(t *testing.T) {
	h := NewHub(Options{BufferSize: 2, WriteTimeout: 200 * time.Millisecond})
	s := serve(t, h)
	stuck, stuckConn := s.dial(t, "org=*")
	other, _ := s.dial(t, "org=*")
	waitClients(t, h, 2)
	stuckConn.stall()
	for i := range 10 {
		h.Publish(Event{Type: wire.EventMetrics, Collector: fmt.Sprint(i)})
		if m := next(t, other); m.Collector != fmt.Sprint(i) {
			t.Fatalf("the other client got %+v, want event %d", m, i)
		}
	}
	waitClients(t, h, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := stuck.Read(ctx); err == nil {
		t.Error("the stuck client is still connected")
	}
	h.Publish(Event{Type: wire.EventMetrics, Collector: "last"})
	if got := collectors(barrier(t, other)); !slices.Equal(got, []string{"last"}) {
		t.Errorf("the other client received %v", got)
	}
}

// TestKeepalive: a client that answers pings stays; one that does not is closed.
func TestKeepalive(t *testing.T) {
	h := NewHub(Options{PingInterval: 20 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	s := serve(t, h)
	alive, _ := s.dial(t, "org=a")
	silent, _ := s.dial(t, "org=a") // never reads, so never sees a ping nor answers it
	waitClients(t, h, 2)
	received := make(chan []byte)
	go func() {
		defer close(received)
		for {
			_, b, err := alive.Read(context.Background())
			if err != nil {
				return
			}
			received <- b
		}
	}()
	waitClients(t, h, 1)
	time.Sleep(200 * time.Millisecond) // several pings answered
	h.Publish(Event{Type: wire.EventHeartbeat, Collector: "still-here", Org: "a"})
	if b := <-received; !strings.Contains(string(b), "still-here") {
		t.Errorf("the answering client got %s", b)
	}
	alive.Close(websocket.StatusNormalClosure, "")
	for range received {
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := silent.Read(ctx); err == nil {
		t.Error("the silent client is still connected")
	}
}

func TestUnauthenticated(t *testing.T) {
	for _, scopeOf := range []func(*http.Request) (Scope, bool){
		func(*http.Request) (Scope, bool) { return nil, false },
		func(*http.Request) (Scope, bool) { return nil, true }, // a nil scope sees nothing: refuse it
	} {
		srv := httptest.NewServer(NewHub(Options{}).Handler(scopeOf))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("dial: %v %v, want 401", resp, err)
		}
		resp, err = http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthenticated"`) {
			t.Errorf("GET: %d %s", resp.StatusCode, body)
		}
		srv.Close()
	}
}

func TestOrigin(t *testing.T) {
	h := NewHub(Options{AllowedOrigins: []string{"ui.example.com", "*.corral.test", "https://secure.example.com"}})
	s := serve(t, h)
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true}, // not a browser
		{s.URL, true},
		{"https://evil.example.net", false},
		{"https://ui.example.com", true},
		{"http://ui.example.com:8080", false}, // the pattern has no port
		{"https://a.corral.test", true},
		{"https://secure.example.com", true},
		{"http://secure.example.com", false},
		{"null", false},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, resp, err := websocket.Dial(ctx, s.wsURL("org=a"), &websocket.DialOptions{HTTPHeader: hdr})
		cancel()
		if tc.ok && err != nil {
			t.Errorf("origin %q refused: %v", tc.origin, err)
		}
		if !tc.ok && (err == nil || resp == nil || resp.StatusCode != http.StatusForbidden) {
			t.Errorf("origin %q: %v, want 403", tc.origin, err)
		}
		if c != nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	}
}

func TestShutdown(t *testing.T) {
	h := NewHub(Options{})
	s := serve(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	a, _ := s.dial(t, "org=a")
	b, _ := s.dial(t, "org=b")
	waitClients(t, h, 2)
	// Clients keep reading, as browsers do, so the close handshake completes.
	closed := make(chan error, 2)
	for _, c := range []*websocket.Conn{a, b} {
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					closed <- err
					return
				}
			}
		}()
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	for range 2 {
		if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("after shutdown: %v, want close status 1001", err)
		}
	}
	if n := value(h.m.clients); n != 0 {
		t.Errorf("corral_ws_clients %v after shutdown", n)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if _, resp, err := websocket.Dial(rctx, s.wsURL("org=a"), nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after shutdown: %v, want 503", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHub(Options{Registerer: reg})
	s := serve(t, h)
	c, _ := s.dial(t, "org=a")
	waitClients(t, h, 1)
	h.Publish(Event{Type: wire.EventHeartbeat, Collector: "x", Org: "a"})
	h.Publish(Event{Type: "custom:thing", Collector: "y", Org: "b"})
	barrier(t, c)
	if v := value(h.m.clients); v != 1 {
		t.Errorf("corral_ws_clients %v", v)
	}
	if v := value(h.m.events.WithLabelValues(wire.EventHeartbeat)); v != 1 {
		t.Errorf("heartbeats %v", v)
	}
	if v := value(h.m.events.WithLabelValues("custom:thing")); v != 1 {
		t.Errorf("custom events %v", v)
	}
	if v := value(h.m.events.WithLabelValues(wire.EventError)); v != 0 {
		t.Errorf("errors %v", v)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 4 {
		t.Errorf("%d metric families registered, want 4", len(mfs))
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// BenchmarkPublish fans events out to 100 clients.
//
//	queues:    100 in-process clients that drain their queues: the cost of Publish itself
//	scoped:    100 clients in 10 orgs, so each event goes to 10
//	websocket: 100 real WebSocket clients over loopback, reading as fast as they can
func BenchmarkPublish(b *testing.B) {
	e := Event{Type: wire.EventHeartbeat, Collector: "pg-1", Org: "o0", Team: "t", Time: time.Now(), Status: "online", Job: "postgres",
		Data: map[string]any{"status": "online", "scrape_duration_seconds": 0.012, "samples": 120}}
	inProcess := func(b *testing.B, orgs int) {
		h := NewHub(Options{BufferSize: 1 << 12})
		var wg sync.WaitGroup
		done := make(chan struct{})
		for i := range 100 {
			c := newClient(testScope{org: fmt.Sprint("o", i%orgs)}, 1<<12)
			if i%2 == 1 { // half have a subscription to match
				c.subs.Store(&subscriptions{list: []*subscription{newSubscription(1, request{Types: []string{wire.EventHeartbeat, wire.EventStatusChanged}})}})
			}
			h.add(c)
			wg.Go(func() {
				for {
					select {
					case <-c.queue:
					case <-done:
						return
					}
				}
			})
		}
		b.ReportAllocs()
		for b.Loop() {
			h.Publish(e)
		}
		b.StopTimer()
		close(done)
		wg.Wait()
		b.ReportMetric(value(h.m.dropped)/float64(b.N), "dropped/op")
	}
	b.Run("queues", func(b *testing.B) { inProcess(b, 1) })
	b.Run("scoped", func(b *testing.B) { inProcess(b, 10) })
	b.Run("websocket", func(b *testing.B) {
		h := NewHub(Options{})
		s := serve(b, h)
		var wg sync.WaitGroup
		for range 100 {
			c, _ := s.dial(b, "org=*")
			wg.Go(func() {
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
				}
			})
		}
		waitClients(b, h, 100)
		b.ReportAllocs()
		for b.Loop() {
			h.Publish(e)
		}
		b.StopTimer()
		b.ReportMetric(value(h.m.dropped)/float64(b.N), "dropped/op")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.Run(ctx) // closes the clients; their readers end
		wg.Wait()
	})
}

// TestCredentialEnds: Revoke closes exactly the sockets of its key, and the
// re-check closes one whose credential no longer holds, both with 1008 and the
// reason given.
func TestCredentialEnds(t *testing.T) {
	h := NewHub(Options{RecheckInterval: 50 * time.Millisecond})
	var mu sync.Mutex
	valid := map[string]bool{"a": true, "b": true, "c": true}
	srv := httptest.NewServer(h.CredentialHandler(func(r *http.Request) (Credential, bool) {
		key := r.URL.Query().Get("key")
		return Credential{Scope: testScope{org: "*"}, Key: key, Valid: func(context.Context) (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return valid[key], "session expired"
		}}, true
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(key string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/?key="+key, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	wantClose := func(c *websocket.Conn, reason string) {
		t.Helper()
		for {
			_, _, err := c.Read(ctx)
			if err == nil {
				continue
			}
			if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), reason) {
				t.Fatalf("closed with %v (%v), want 1008 %q", got, err, reason)
			}
			return
		}
	}
	a, b, c := dial("a"), dial("b"), dial("c")

	h.Revoke("a", "logged out")
	wantClose(a, "logged out")

	mu.Lock()
	valid["c"] = false
	mu.Unlock()
	wantClose(c, "session expired")

	h.Publish(Event{Type: wire.EventHeartbeat, Collector: "still-here"})
	if _, msg, err := b.Read(ctx); err != nil || !strings.Contains(string(msg), "still-here") {
		t.Fatalf("b, neither revoked nor expired: %s %v", msg, err)
	}
}

func nextBatch(t testing.TB, c *websocket.Conn) []message {
	t.Helper()
	b := frame(t, c)
	var ms []message
	if err := json.Unmarshal(b, &ms); err != nil {
		t.Fatalf("not a JSON array of messages: %s: %v", b, err)
	}
	return ms
}

// TestBatch checks that a client asking for ?batch=1 gets what waited in its
// queue in one frame, a JSON array in queue order, and that batch takes only
// 0 or 1.
func TestBatch(t *testing.T) {
	h := NewHub(Options{BufferSize: 64, WriteTimeout: time.Minute})
	s := serve(t, h)
	c, conn := s.dial(t, "org=*&batch=1")
	h.Publish(Event{Type: wire.EventMetrics, Collector: "warm-up"})
	if ms := nextBatch(t, c); len(ms) != 1 || ms[0].Collector != "warm-up" {
		t.Fatalf("warm-up: %+v", ms)
	}
	// The writer takes event 0 and hangs writing it; 1–19 wait in the queue.
	conn.stall()
	const n = 20
	for i := range n {
		h.Publish(Event{Type: wire.EventMetrics, Collector: fmt.Sprint(i)})
	}
	conn.resume()
	var got []string
	frames := 0
	for len(got) < n {
		got = append(got, collectors(nextBatch(t, c))...)
		frames++
	}
	for i, id := range got {
		if id != fmt.Sprint(i) {
			t.Fatalf("got %v, want 0…%d in order", got, n-1)
		}
	}
	if frames > 2 {
		t.Errorf("%d events that waited came in %d frames, want at most 2 (the one under way, then the rest)", n, frames)
	}
	// Replies to the client's own messages come batched too.
	send(t, c, `{"action":"subscribe","collectors":["x"]}`)
	if ms := nextBatch(t, c); len(ms) != 1 || ms[0].Type != "subscribed" {
		t.Errorf("subscribe reply: %+v", ms)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, s.wsURL("org=*&batch=yes"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("batch=yes: %v %v, want 400", resp, err)
	}
	var e struct{ Error, Message string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if !strings.Contains(e.Error+e.Message, "batch") {
		t.Errorf("batch=yes answer %+v does not name the parameter", e)
	}
}
