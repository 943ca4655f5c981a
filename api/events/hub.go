package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options of a Hub. The zero value works.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exposed

	// BufferSize is how many events wait for one client before it must resync
	// (default 4096: a burst such as thousands of collectors changing status at
	// once fits, and a resync costs the client a reload of the whole fleet, far
	// more than the ~1 MiB the full queue holds).
	BufferSize int
	// AllowedOrigins are the browser origins allowed besides the server's own host:
	// host patterns as in path.Match ("ui.example.com", "*.example.com"), or with a
	// scheme ("https://ui.example.com") to pin it. Requests without an Origin header
	// (non-browser clients) are always allowed.
	AllowedOrigins []string
	// PingInterval is how often a client is pinged (default 30s).
	PingInterval time.Duration
	// WriteTimeout bounds one write and the wait for a pong (default 10s); a client
	// that does not take a write in time is closed.
	WriteTimeout time.Duration
	// ReadLimit is the largest message a client may send (default 64 KiB); a larger
	// one closes the connection with status 1009.
	ReadLimit int64
	// RecheckInterval is how often the credential of a client is checked again
	// with its [Credential.Valid] (default 30s); one no longer valid is closed
	// with status 1008.
	RecheckInterval time.Duration
}

// maxSubscriptions bounds the subscriptions of one client, and with them the
// cost of matching an event for it.
const maxSubscriptions = 100

// Hub fans events out to WebSocket clients. Its methods are safe for concurrent use.
type Hub struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex                // guards writes of clients, closed, and wg.Add
	clients atomic.Pointer[[]*client] // copy on write: Publish reads it without a lock
	closed  bool
	done    chan struct{} // closed when Run's context ends
	wg      sync.WaitGroup

	m metrics
}

type metrics struct {
	clients prometheus.Gauge
	events  *prometheus.CounterVec
	byType  atomic.Pointer[map[string]prometheus.Counter] // copy on write cache of events
	typeMu  sync.Mutex
	dropped prometheus.Counter
	resyncs prometheus.Counter
}

// NewHub returns a hub. Call Run to close its clients when the server stops.
func NewHub(o Options) *Hub {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 4096
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 64 << 10
	}
	if o.RecheckInterval <= 0 {
		o.RecheckInterval = 30 * time.Second
	}
	h := &Hub{o: o, log: o.Logger, done: make(chan struct{})}
	h.clients.Store(&[]*client{})
	h.m = metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corral_ws_clients", Help: "WebSocket clients connected."}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_ws_events_total", Help: "Events published to WebSocket clients, by type."}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_ws_dropped_total", Help: "Events not delivered to a WebSocket client because it fell behind; it is told to resync."}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_ws_resyncs_total", Help: "Resync messages sent to WebSocket clients that missed events."}),
	}
	byType := make(map[string]prometheus.Counter, len(knownTypes))
	for _, t := range knownTypes {
		byType[t] = h.m.events.WithLabelValues(t) // present at 0 from the start
	}
	h.m.byType.Store(&byType)
	if o.Registerer != nil {
		o.Registerer.MustRegister(h.m.clients, h.m.events, h.m.dropped, h.m.resyncs)
	}
	return h
}

// Run waits for ctx to end, then closes every client with status 1001 (going
// away), refuses new ones with 503, and returns once all are gone. A close
// handshake is bounded (a few seconds; more for a client stuck in a write, up to
// the write timeout) and clients close in parallel. Call Run once.
func (h *Hub) Run(ctx context.Context) error {
	<-ctx.Done()
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}

// Publish offers e to every client that may see it (its scope) and wants it (its
// subscriptions). It never blocks and may be called from many goroutines; events
// published by one goroutine reach each client in order. e is marshalled before
// Publish returns, so the caller may reuse e.Data afterwards.
func (h *Hub) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	h.m.typeCounter(e.Type).Inc()
	var msg []byte
	var dropped int
	for _, c := range *h.clients.Load() {
		if !c.scope.CanRead(e.Org, e.Team) || !c.wants(&e) {
			continue
		}
		if msg == nil {
			b, err := json.Marshal(e.message())
			if err != nil {
				h.log.Warn("event not published: cannot marshal its data", "type", e.Type, "collector", e.Collector, "err", err)
				return
			}
			msg = b
		}
		if !c.offer(msg) {
			dropped++
		}
	}
	if dropped > 0 {
		h.m.dropped.Add(float64(dropped))
	}
}

// typeCounter returns the events counter of type t without allocating for a
// type seen before.
func (m *metrics) typeCounter(t string) prometheus.Counter {
	if c, ok := (*m.byType.Load())[t]; ok {
		return c
	}
	m.typeMu.Lock()
	defer m.typeMu.Unlock()
	old := *m.byType.Load()
	if c, ok := old[t]; ok {
		return c
	}
	next := make(map[string]prometheus.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	c := m.events.WithLabelValues(t)
	next[t] = c
	m.byType.Store(&next)
	return c
}

// add registers c, or reports false once the hub is shutting down.
func (h *Hub) add(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	old := *h.clients.Load()
	next := make([]*client, len(old), len(old)+1)
	copy(next, old)
	next = append(next, c)
	h.clients.Store(&next)
	h.m.clients.Set(float64(len(next)))
	return true
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.clients.Load()
	next := make([]*client, 0, len(old))
	for _, o := range old {
		if o != c {
			next = append(next, o)
		}
	}
	h.clients.Store(&next)
	h.m.clients.Set(float64(len(next)))
	h.wg.Done()
}

// Revoke closes at once, with status 1008 and reason, every client connected
// with the credential key (see [Credential.Key]).
func (h *Hub) Revoke(key, reason string) {
	if key == "" {
		return
	}
	for _, c := range *h.clients.Load() {
		if c.key == key {
			c.revoke(reason)
		}
	}
}

// client is one connection's state shared between Publish, its reader and its writer.
type client struct {
	scope   Scope
	key     string      // of its credential, for Revoke
	revoked chan string // the close reason, once its credential no longer holds
	queue   chan []byte
	missed  atomic.Int64                  // events that did not fit since the last resync
	batch   bool                          // ?batch=1: messages go out as JSON arrays
	subs    atomic.Pointer[subscriptions] // nil: everything in scope
}

func newClient(scope Scope, size int) *client {
	return &client{scope: scope, queue: make(chan []byte, size), revoked: make(chan string, 1)}
}

// revoke makes the writer close the connection with status 1008 and reason;
// the first reason wins.
func (c *client) revoke(reason string) {
	select {
	case c.revoked <- reason:
	default:
	}
}

func (c *client) wants(e *Event) bool {
	s := c.subs.Load()
	if optIn(e.Type) {
		return s != nil && s.matchNamed(e)
	}
	return s == nil || s.match(e)
}

// offer queues msg without blocking; when the queue is full it counts a miss,
// which makes the writer drop the queue and send a resync.
func (c *client) offer(msg []byte) bool {
	select {
	case c.queue <- msg:
		return true
	default:
		c.missed.Add(1)
		return false
	}
}
