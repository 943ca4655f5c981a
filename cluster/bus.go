package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// maxPayload keeps a NOTIFY under PostgreSQL's 8000-byte payload limit.
const maxPayload = 7900

// Bus carries messages between replicas over PostgreSQL LISTEN/NOTIFY, one
// channel per topic. Messages sent within a flush interval go in one NOTIFY
// (newline-separated, so a message must not contain a newline; JSON from
// encoding/json never does). A replica does not receive its own messages.
// Delivery is best effort, as NOTIFY's: a replica that was disconnected misses
// what was sent meanwhile, so what must not be lost lives in tables and a
// message only says "look again".
type Bus struct {
	url    string
	origin string
	log    *slog.Logger
	flush  time.Duration

	mu       sync.Mutex
	handlers map[string]func(msg []byte)
	pending  map[string][][]byte
	wake     chan struct{}
	ready    chan struct{} // closed once LISTEN runs on every topic

	mSent, mRecv *prometheus.CounterVec
}

// NewBus returns a bus for the replica named origin; Handle the topics, then Run it.
func NewBus(url, origin string, log *slog.Logger, reg prometheus.Registerer) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{url: url, origin: origin, log: log.With("component", "cluster_bus"), flush: 50 * time.Millisecond,
		handlers: map[string]func([]byte){}, pending: map[string][][]byte{}, wake: make(chan struct{}, 1), ready: make(chan struct{})}
	b.mSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_cluster_notifications_sent_total", Help: "PostgreSQL NOTIFY statements this replica sent, by topic."}, []string{"topic"})
	b.mRecv = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_cluster_messages_received_total", Help: "Messages from other replicas this replica received, by topic."}, []string{"topic"})
	if reg != nil {
		reg.MustRegister(b.mSent, b.mRecv)
	}
	return b
}

// Handle registers fn for the messages of topic (a PostgreSQL identifier:
// lower case letters, digits and _). Call it before Run.
func (b *Bus) Handle(topic string, fn func(msg []byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers[topic] = fn
	b.mSent.WithLabelValues(topic)
	b.mRecv.WithLabelValues(topic)
}

// Ready is closed once the bus listens on every topic.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// Send queues msg for the other replicas; it never blocks on the database.
// Past 10,000 queued messages of a topic (the database is away) the oldest are
// dropped.
func (b *Bus) Send(topic string, msg []byte) {
	b.mu.Lock()
	q := append(b.pending[topic], msg)
	if len(q) > 10000 {
		q = q[len(q)-10000:]
	}
	b.pending[topic] = q
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run listens and sends until ctx ends, reconnecting after a failure.
func (b *Bus) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { b.sendLoop(ctx) })
	first := true
	for ctx.Err() == nil {
		err := b.listen(ctx, &first)
		if ctx.Err() != nil {
			break
		}
		b.log.Warn("cluster messages: listening failed; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	wg.Wait()
}

func (b *Bus) listen(ctx context.Context, first *bool) error {
	conn, err := pgx.Connect(ctx, b.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	b.mu.Lock()
	topics := make([]string, 0, len(b.handlers))
	for t := range b.handlers {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	for _, t := range topics {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{t}.Sanitize()); err != nil {
			return err
		}
	}
	if *first {
		*first = false
		close(b.ready)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		b.receive(n.Channel, []byte(n.Payload))
	}
}

// receive splits one payload, "origin\nmsg\nmsg…", and hands its messages on.
func (b *Bus) receive(topic string, payload []byte) {
	origin, rest, _ := bytes.Cut(payload, []byte{'\n'})
	if string(origin) == b.origin {
		return
	}
	b.mu.Lock()
	fn := b.handlers[topic]
	b.mu.Unlock()
	if fn == nil {
		return
	}
	for len(rest) > 0 {
		var msg []byte
		msg, rest, _ = bytes.Cut(rest, []byte{'\n'})
		if len(msg) > 0 {
			b.mRecv.WithLabelValues(topic).Inc()
			fn(msg)
		}
	}
}

func (b *Bus) sendLoop(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		// Gather what comes within the flush interval into one NOTIFY.
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.flush):
		}
		b.mu.Lock()
		batch := b.pending
		b.pending = map[string][][]byte{}
		b.mu.Unlock()
		for topic, msgs := range batch {
			for _, payload := range payloads(b.origin, msgs) {
				var err error
				if conn == nil || conn.IsClosed() {
					conn, err = pgx.Connect(ctx, b.url)
				}
				if err == nil {
					_, err = conn.Exec(ctx, "SELECT pg_notify($1, $2)", topic, payload)
				}
				if err != nil {
					if ctx.Err() == nil {
						b.log.Warn("cluster messages: NOTIFY failed; the messages are dropped", "topic", topic, "err", err)
					}
					if conn != nil {
						conn.Close(context.WithoutCancel(ctx))
						conn = nil
					}
					break
				}
				b.mSent.WithLabelValues(topic).Inc()
			}
		}
	}
}

// payloads packs msgs into NOTIFY payloads of at most maxPayload bytes, each
// starting with the origin line. A message too long for one payload is dropped.
func payloads(origin string, msgs [][]byte) []string {
	var out []string
	var cur bytes.Buffer
	for _, m := range msgs {
		if len(origin)+1+len(m) > maxPayload {
			continue
		}
		if cur.Len() > 0 && cur.Len()+1+len(m) > maxPayload {
			out = append(out, cur.String())
			cur.Reset()
		}
		if cur.Len() == 0 {
			cur.WriteString(origin)
		}
		cur.WriteByte('\n')
		cur.Write(m)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
