package events

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

// orgScope sees one org (a stand-in for auth.Principal's rule, which auth tests).
type orgScope string

func (s orgScope) CanRead(org, _ string) bool { return string(s) == org || s == "*" }

func serve(t *testing.T, h *Hub) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h.Handler(func(r *http.Request) (Scope, bool) {
		org := r.URL.Query().Get("org")
		if org == "" {
			return nil, false
		}
		return orgScope(org), true
	}))
	t.Cleanup(srv.Close)
	return srv
}

func dial(t *testing.T, srv *httptest.Server, org string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/?org="+org, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, "") })
	return c
}

func next(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func waitClients(t *testing.T, h *Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.RLock()
		got := len(h.clients)
		h.mu.RUnlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScopeIsolation(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) }) // runs after the other cleanups
	h := NewHub(Options{})
	srv := serve(t, h)
	a, b := dial(t, srv, "a"), dial(t, srv, "b")
	waitClients(t, h, 2)
	h.Publish(Event{Type: "collector:status-changed", Collector: "secret-b", Org: "b"})
	h.Publish(Event{Type: "collector:status-changed", Collector: "mine-a", Org: "a"})
	h.Publish(Event{Type: "sentinel", Collector: "end-b", Org: "b"})
	h.Publish(Event{Type: "sentinel", Collector: "end-a", Org: "a"})
	for _, want := range []string{"mine-a", "end-a"} {
		if m := next(t, a); m["collector"] != want {
			t.Fatalf("client a got %v, want %s (an out-of-scope event leaked?)", m, want)
		}
	}
	for _, want := range []string{"secret-b", "end-b"} {
		if m := next(t, b); m["collector"] != want {
			t.Fatalf("client b got %v, want %s", m, want)
		}
	}
}

func TestSubscriptions(t *testing.T) {
	h := NewHub(Options{})
	srv := serve(t, h)
	c := dial(t, srv, "*")
	waitClients(t, h, 1)
	ctx := context.Background()
	sub := func(s string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	sub(`{"action":"subscribe","collectors":["x"]}`)
	sub(`{"action":"subscribe","filter":{"status":["offline"]}}`)
	sub(`{"action":"dance"}`)
	if m := next(t, c); m["type"] != "error" {
		t.Fatalf("bad action: %v", m)
	}
	h.Publish(Event{Type: "collector:heartbeat", Collector: "y", Status: "online"})
	h.Publish(Event{Type: "collector:heartbeat", Collector: "x", Status: "online"})
	h.Publish(Event{Type: "collector:status-changed", Collector: "z", Status: "offline"})
	if m := next(t, c); m["collector"] != "x" {
		t.Fatalf("got %v, want x", m)
	}
	if m := next(t, c); m["collector"] != "z" {
		t.Fatalf("got %v, want z", m)
	}
	sub(`{"action":"unsubscribe"}`)
	time.Sleep(50 * time.Millisecond) // the reader applies it asynchronously
	h.Publish(Event{Type: "collector:heartbeat", Collector: "y"})
	if m := next(t, c); m["collector"] != "y" {
		t.Fatalf("after unsubscribe: %v", m)
	}
}

func TestSlowClientDoesNotBlockAndResyncs(t *testing.T) {
	h := NewHub(Options{BufferSize: 4})
	srv := serve(t, h)
	slow, fast := dial(t, srv, "*"), dial(t, srv, "*")
	waitClients(t, h, 2)
	const n = 400
	fastGot := make(chan int)
	go func() {
		got := 0
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for {
			_, b, err := fast.Read(ctx)
			if err != nil {
				break
			}
			if strings.Contains(string(b), `"last"`) {
				got++
				break
			}
			got++
		}
		fastGot <- got
	}()
	// Big events fill the slow client's socket buffers, so its queue fills and
	// drops; Publish must not wait for it.
	payload := strings.Repeat("x", 64<<10)
	start := time.Now()
	for i := range n {
		h.Publish(Event{Type: "collector:metrics", Collector: "c", Data: map[string]any{"i": i, "pad": payload}})
		time.Sleep(time.Millisecond) // let the fast client keep up
	}
	h.Publish(Event{Type: "collector:metrics", Collector: "c", Data: "last"})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("publishing took %s", took)
	}
	if got := <-fastGot; got < n/2 {
		t.Errorf("the fast client got %d of %d events", got, n+1)
	}
	sawResync := false
	for range n + 1 {
		if m := next(t, slow); m["type"] == "resync" {
			sawResync = true
			break
		}
	}
	if !sawResync {
		t.Error("no resync for a client that missed events")
	}
}

func TestUnauthenticatedAndShutdown(t *testing.T) {
	h := NewHub(Options{})
	srv := serve(t, h)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unauthenticated: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	c := dial(t, srv, "*")
	waitClients(t, h, 1)
	cancel()
	<-done
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if _, _, err := c.Read(rctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("after shutdown: %v", err)
	}
}

func BenchmarkPublish(b *testing.B) {
	h := NewHub(Options{BufferSize: 1 << 16})
	for range 100 {
		c := &client{scope: orgScope("*"), queue: make(chan []byte, 1<<16)}
		h.clients[c] = struct{}{}
		go func() {
			for range c.queue {
			}
		}()
	}
	e := Event{Type: "collector:heartbeat", Collector: "c", Org: "o"}
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(e)
	}
}
