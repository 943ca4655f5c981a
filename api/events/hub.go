// Package events fans corral's real-time events out to WebSocket clients: each
// client gets only events of collectors in its scope, optionally narrowed by its
// subscriptions; a slow client never holds up the others or the publisher.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Event is one real-time event. Org, Team, Status and Labels scope and filter it
// and are never sent.
type Event struct {
	Type      string            `json:"type"`
	Collector string            `json:"collector,omitempty"`
	Time      time.Time         `json:"time"`
	Data      any               `json:"data,omitempty"`
	Org       string            `json:"-"`
	Team      string            `json:"-"`
	Status    string            `json:"-"`
	Job       string            `json:"-"`
	Labels    map[string]string `json:"-"`
}

// Scope decides what a client may see; *auth.Principal satisfies it.
type Scope interface {
	CanRead(org, team string) bool
}

// Options of a Hub.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// BufferSize is the events queued per client before it must resync (default 256).
	BufferSize int
	// OriginPatterns are the extra origins allowed besides the request's own host.
	OriginPatterns []string
	PingInterval   time.Duration // default 30s
	WriteTimeout   time.Duration // default 10s
}

// Hub fans events out to clients.
type Hub struct {
	o       Options
	mu      sync.RWMutex
	clients map[*client]struct{}
	closed  chan struct{}

	gauge   prometheus.Gauge
	sent    *prometheus.CounterVec
	dropped prometheus.Counter
	resyncs prometheus.Counter
}

// NewHub returns a hub; call Run to tie it to the server's life.
func NewHub(o Options) *Hub {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 256
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	h := &Hub{o: o, clients: map[*client]struct{}{}, closed: make(chan struct{}),
		gauge:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_ws_clients", Help: "WebSocket clients connected."}),
		sent:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_ws_events_total", Help: "Events queued to WebSocket clients, by type."}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_ws_dropped_total", Help: "Events dropped for clients too slow to take them."}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_ws_resyncs_total", Help: "Resync messages sent to clients that missed events."}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(h.gauge, h.sent, h.dropped, h.resyncs)
	}
	return h
}

// Run closes every client when ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	<-ctx.Done()
	close(h.closed)
	return nil
}

// Publish queues e for every client that may and wants to see it. It never blocks:
// a client whose queue is full loses its queued events and is told to resync.
func (h *Hub) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	var msg []byte
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		if !c.scope.CanRead(e.Org, e.Team) || !c.wants(&e) {
			continue
		}
		if msg == nil {
			b, err := json.Marshal(e)
			if err != nil {
				h.o.Logger.Warn("event not sent: cannot marshal", "type", e.Type, "err", err)
				return
			}
			msg = b
		}
		select {
		case c.queue <- msg:
			h.sent.WithLabelValues(e.Type).Inc()
		default:
			c.behind.Store(true)
			h.dropped.Inc()
		}
	}
}

// subscription narrows what a client receives; the zero value receives everything
// in scope.
type subscription struct {
	Collectors []string        `json:"collectors"`
	Types      []string        `json:"types"`
	Filter     *filter         `json:"filter"`
	set        map[string]bool // collectors
	types      map[string]bool
}

type filter struct {
	Status []string          `json:"status"`
	Job    []string          `json:"job"`
	Labels map[string]string `json:"labels"`
}

type client struct {
	scope  Scope
	queue  chan []byte
	behind atomic.Bool
	mu     sync.Mutex
	subs   []subscription
}

func (c *client) wants(e *Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.subs) == 0 {
		return true
	}
	for _, s := range c.subs {
		if s.matches(e) {
			return true
		}
	}
	return false
}

func (s *subscription) matches(e *Event) bool {
	if len(s.types) > 0 && !s.types[e.Type] {
		return false
	}
	if len(s.set) > 0 && !s.set[e.Collector] {
		return false
	}
	if f := s.Filter; f != nil {
		if len(f.Status) > 0 && !contains(f.Status, e.Status) {
			return false
		}
		if len(f.Job) > 0 && !contains(f.Job, e.Job) {
			return false
		}
		for k, v := range f.Labels {
			if e.Labels[k] != v {
				return false
			}
		}
	}
	return true
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// clientMessage is what a client may send.
type clientMessage struct {
	Action     string   `json:"action"`
	Collectors []string `json:"collectors"`
	Types      []string `json:"types"`
	Filter     *filter  `json:"filter"`
}

// Handler serves the WebSocket. scopeOf returns the caller's scope, or false when
// the request is not authenticated (401).
func (h *Hub) Handler(scopeOf func(r *http.Request) (Scope, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope, ok := scopeOf(r)
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"authentication required","code":"unauthenticated","details":{}}`))
			return
		}
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.o.OriginPatterns})
		if err != nil {
			return // Accept has answered
		}
		conn.SetReadLimit(64 << 10)
		c := &client{scope: scope, queue: make(chan []byte, h.o.BufferSize)}
		h.mu.Lock()
		h.clients[c] = struct{}{}
		h.mu.Unlock()
		h.gauge.Inc()
		defer func() {
			h.mu.Lock()
			delete(h.clients, c)
			h.mu.Unlock()
			h.gauge.Dec()
		}()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go h.read(ctx, cancel, conn, c)
		h.write(ctx, conn, c)
	})
}

// read takes subscribe and unsubscribe messages until the client goes away.
func (h *Hub) read(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, c *client) {
	defer cancel()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var m clientMessage
		if err := json.Unmarshal(b, &m); err != nil {
			c.reply(`invalid message: want {"action":"subscribe"|"unsubscribe", "collectors", "types", "filter"}`)
			continue
		}
		switch m.Action {
		case "subscribe":
			s := subscription{Collectors: m.Collectors, Types: m.Types, Filter: m.Filter, set: map[string]bool{}, types: map[string]bool{}}
			for _, id := range m.Collectors {
				s.set[id] = true
			}
			for _, t := range m.Types {
				s.types[t] = true
			}
			c.mu.Lock()
			c.subs = append(c.subs, s)
			c.mu.Unlock()
		case "unsubscribe":
			c.mu.Lock()
			if len(m.Collectors) == 0 && len(m.Types) == 0 && m.Filter == nil {
				c.subs = nil // back to everything in scope
			} else {
				drop := map[string]bool{}
				for _, id := range m.Collectors {
					drop[id] = true
				}
				kept := c.subs[:0]
				for _, s := range c.subs {
					if len(s.Collectors) > 0 && allIn(s.Collectors, drop) {
						continue
					}
					kept = append(kept, s)
				}
				c.subs = kept
			}
			c.mu.Unlock()
		default:
			c.reply("unknown action " + strconvQuote(m.Action) + `: want "subscribe" or "unsubscribe"`)
		}
	}
}

func allIn(ids []string, set map[string]bool) bool {
	for _, id := range ids {
		if !set[id] {
			return false
		}
	}
	return true
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// reply queues an error message for the client, without blocking.
func (c *client) reply(msg string) {
	b, _ := json.Marshal(map[string]any{"type": "error", "time": time.Now(), "data": map[string]string{"error": msg}})
	select {
	case c.queue <- b:
	default:
	}
}

var resyncMessage = []byte(`{"type":"resync","data":{"reason":"slow consumer: events were dropped; reload state from the REST API"}}`)

// write sends queued events, pings, and the resync notice after drops.
func (h *Hub) write(ctx context.Context, conn *websocket.Conn, c *client) {
	ping := time.NewTicker(h.o.PingInterval)
	defer ping.Stop()
	send := func(b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, h.o.WriteTimeout)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	for {
		if c.behind.Swap(false) {
			// Drop what is queued: it has gaps; the client reloads instead.
			for drained := false; !drained; {
				select {
				case <-c.queue:
				default:
					drained = true
				}
			}
			h.resyncs.Inc()
			if err := send(resyncMessage); err != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "client gone")
			return
		case <-h.closed:
			conn.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case b := <-c.queue:
			if err := send(b); err != nil {
				if !errors.Is(err, context.Canceled) {
					conn.Close(websocket.StatusPolicyViolation, "write timeout")
				}
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, h.o.WriteTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
}
