package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/fleet"
)

// WriterTarget is what a Writer writes to; *Store is one.
type WriterTarget interface {
	// UpsertCollectors inserts or replaces the states, by ID, in one transaction.
	UpsertCollectors(ctx context.Context, cs []fleet.CollectorState) error
	// AppendStatusChanges appends the changes, in order, in one transaction.
	AppendStatusChanges(ctx context.Context, cs []fleet.StatusChange) error
	// UpsertBuckets inserts the buckets or replaces the values of the stored
	// (collector, window, start) rows, in one transaction: writing the same
	// bucket twice leaves one row.
	UpsertBuckets(ctx context.Context, bs []fleet.Bucket) error
}

// WriterOptions configure a Writer. Zero values take the defaults.
type WriterOptions struct {
	// FlushInterval is how often pending writes are flushed (default 1s). A flush
	// also starts as soon as MaxBatch writes are pending.
	FlushInterval time.Duration
	// MaxBatch is the most rows of one kind written in one transaction
	// (default 5000).
	MaxBatch int
	// MinBackoff and MaxBackoff bound the wait before retrying a failed flush; it
	// doubles with every failure in a row (defaults 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// WriteTimeout bounds one transaction (default 30s).
	WriteTimeout time.Duration
	// Logger receives one warning when writes start failing (saying why when
	// the store is unavailable: unreachable, disk full) and one info line when
	// they succeed again; nil discards them.
	Logger *slog.Logger
	// Registerer, when not nil, receives the writer's corral_store_* metrics.
	Registerer prometheus.Registerer
}

// finalFlushTimeout bounds the flush Run makes on its way out.
const finalFlushTimeout = 5 * time.Second

// Writer batches the server's writes to the store so that the scrape path never
// waits for the database: enqueuing only takes a mutex, and Run flushes in the
// background. While the database is unreachable writes stay pending — none is
// dropped — and flushes are retried with exponential backoff.
//
// A flush writes what was pending when it started: collectors, then status
// changes, then buckets, each kind in transactions of up to MaxBatch rows, and
// stops at the first failure. What that failure left unwritten goes back in front
// of anything enqueued meanwhile (for collectors and buckets a newer pending
// value for the same key wins); what was committed is not written again.
//
// Memory while the database is down grows with the distinct collectors and
// buckets (each kept once, latest value) and with every status change.
//
// The Writer keeps the values it is given, maps included: do not modify a map
// after handing it over.
type Writer struct {
	t    WriterTarget
	opts WriterOptions
	log  *slog.Logger
	m    writerMetrics
	kick chan struct{} // a full batch is pending: flush now

	flushMu sync.Mutex // one flush at a time

	mu         sync.Mutex // guards what follows
	collectors map[string]fleet.CollectorState
	status     []fleet.StatusChange
	buckets    map[bucketKey]fleet.Bucket
	inflight   int    // taken by the running flush, not yet committed
	keyPrefix  string // makes status change keys unique across writers
	keySeq     uint64
}

// NewWriter returns a Writer to t. Call Run to start flushing.
func NewWriter(t WriterTarget, opts WriterOptions) *Writer {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 5000
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var prefix [8]byte
	_, _ = rand.Read(prefix[:]) // never fails (crypto/rand panics rather)
	w := &Writer{
		t:          t,
		opts:       opts,
		log:        log,
		kick:       make(chan struct{}, 1),
		collectors: map[string]fleet.CollectorState{},
		buckets:    map[bucketKey]fleet.Bucket{},
		keyPrefix:  hex.EncodeToString(prefix[:]) + "-",
	}
	w.m = newWriterMetrics(opts.Registerer, w.Pending)
	return w
}

// Collectors enqueues collector states. While one is pending, a newer state of the
// same ID replaces it. It never blocks on the database.
func (w *Writer) Collectors(cs ...fleet.CollectorState) {
	if len(cs) == 0 {
		return
	}
	w.mu.Lock()
	for _, c := range cs {
		w.collectors[c.ID] = c
	}
	n := len(w.collectors)
	w.mu.Unlock()
	w.full(n)
}

// StatusChanges enqueues status changes, to be appended in order. Each gets a Key
// (unless it has one) so that a retried write never stores it twice. It never
// blocks on the database.
func (w *Writer) StatusChanges(cs ...fleet.StatusChange) {
	if len(cs) == 0 {
		return
	}
	w.mu.Lock()
	for _, c := range cs {
		if c.Key == "" {
			w.keySeq++
			c.Key = w.keyPrefix + strconv.FormatUint(w.keySeq, 36)
		}
		w.status = append(w.status, c)
	}
	n := len(w.status)
	w.mu.Unlock()
	w.full(n)
}

// Buckets enqueues completeness buckets. While one is pending, a newer value for
// the same (collector, window, start) replaces it. A bucket with a NaN or
// infinite value is dropped (and counted in corral_store_rejected_writes_total):
// the store would refuse it on every retry. It never blocks on the database.
func (w *Writer) Buckets(bs ...fleet.Bucket) {
	if len(bs) == 0 {
		return
	}
	rejected := 0
	w.mu.Lock()
	for i := range bs {
		b := &bs[i]
		if !finite(b.ExpectedItems, b.ActualItems, b.ActiveSeconds) {
			rejected++
			continue
		}
		w.buckets[keyOf(b)] = *b
	}
	n := len(w.buckets)
	w.mu.Unlock()
	if rejected > 0 {
		w.m.rejected.Add(float64(rejected))
		w.log.Warn("dropped completeness buckets with values that are not finite numbers", "count", rejected)
	}
	w.full(n)
}

// full asks Run for an early flush once a kind has a full batch pending.
func (w *Writer) full(n int) {
	if n < w.opts.MaxBatch {
		return
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Pending is the number of writes not yet stored, those of a running flush
// included.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.collectors) + len(w.status) + len(w.buckets) + w.inflight
}

// Run flushes every FlushInterval (and whenever a batch is full) until ctx ends,
// backing off after failures. A failed flush is not an error of Run: the writes
// stay pending and are retried; the first failure is logged once, saying why
// when the store is unavailable (unreachable, disk full), and the recovery once. When ctx ends Run makes one last flush, bounded by 5s,
// and returns its error, if any, with the number of writes it could not store.
func (w *Writer) Run(ctx context.Context) error {
	timer := time.NewTimer(w.opts.FlushInterval)
	defer timer.Stop()
	var (
		failures  int
		downSince time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return w.finalFlush(ctx)
		case <-timer.C:
		case <-w.kick:
			if failures > 0 {
				continue // backing off: the timer retries
			}
		}
		err := w.Flush(ctx)
		if err != nil && ctx.Err() != nil {
			return w.finalFlush(ctx) // interrupted by the end of Run, not a failure
		}
		next := w.opts.FlushInterval
		switch {
		case err != nil:
			failures++
			if failures == 1 {
				downSince = time.Now()
				msg := "store write failed"
				if why, ok := Unavailable(err); ok {
					msg = "store unavailable: " + why
				}
				w.log.Warn(msg+"; keeping writes pending and retrying with backoff",
					"err", err, "pending", w.Pending())
			}
			next = w.backoff(failures)
		case failures > 0:
			w.log.Info("store writable again; pending writes stored",
				"down_for", time.Since(downSince).Round(time.Millisecond).String(), "failed_attempts", failures)
			failures = 0
		}
		timer.Reset(next)
	}
}

// backoff is the wait after the given number of failed flushes in a row.
func (w *Writer) backoff(failures int) time.Duration {
	d := w.opts.MinBackoff
	for i := 1; i < failures && d < w.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, w.opts.MaxBackoff)
}

func (w *Writer) finalFlush(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		return fmt.Errorf("final store flush: %d writes not stored: %w", w.Pending(), err)
	}
	return nil
}

// Flush writes what is pending now and returns the first error; the writes it
// could not store stay pending.
func (w *Writer) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()

	w.mu.Lock()
	if len(w.collectors)+len(w.status)+len(w.buckets) == 0 {
		w.mu.Unlock()
		w.m.lastSuccess.SetToCurrentTime()
		return nil
	}
	cm, ss, bm := w.collectors, w.status, w.buckets
	w.collectors, w.status, w.buckets = map[string]fleet.CollectorState{}, nil, map[bucketKey]fleet.Bucket{}
	w.inflight = len(cm) + len(ss) + len(bm)
	w.mu.Unlock()
	cs := make([]fleet.CollectorState, 0, len(cm))
	for _, c := range cm {
		cs = append(cs, c)
	}
	bs := make([]fleet.Bucket, 0, len(bm))
	for _, b := range bm {
		bs = append(bs, b)
	}

	start := time.Now()
	defer func() { w.m.flushDuration.Observe(time.Since(start).Seconds()) }()

	var err error
	if cs, err = writeBatches(ctx, w, cs, "collector", w.t.UpsertCollectors); err == nil {
		if ss, err = writeBatches(ctx, w, ss, "status_change", w.t.AppendStatusChanges); err == nil {
			bs, err = writeBatches(ctx, w, bs, "bucket", w.t.UpsertBuckets)
		}
	}
	if err != nil {
		w.m.errors.Inc()
		w.putBack(cm, cs, ss, bm, bs)
		return err
	}
	w.m.lastSuccess.SetToCurrentTime()
	return nil
}

// writeBatches writes xs in transactions of up to MaxBatch rows and returns what
// it did not write: nil, or the rows from the failed transaction on.
func writeBatches[T any](ctx context.Context, w *Writer, xs []T, kind string, write func(context.Context, []T) error) ([]T, error) {
	for len(xs) > 0 {
		n := min(len(xs), w.opts.MaxBatch)
		tctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
		err := write(tctx, xs[:n])
		cancel()
		if err != nil {
			return xs, fmt.Errorf("write %ss: %w", kind, err)
		}
		w.m.writes.WithLabelValues(kind).Add(float64(n))
		xs = xs[n:]
		w.mu.Lock()
		w.inflight -= n
		w.mu.Unlock()
	}
	return nil, nil
}

// putBack returns what a failed flush did not write to the pending set, in front
// of what was enqueued meanwhile. cm and bm are the flush's own maps, reused when
// nothing of theirs was written: the work under the lock is then proportional to
// the writes enqueued during the flush, not to a backlog that may have grown
// large during an outage, so enqueuing stays quick.
func (w *Writer) putBack(cm map[string]fleet.CollectorState, cs []fleet.CollectorState, ss []fleet.StatusChange, bm map[bucketKey]fleet.Bucket, bs []fleet.Bucket) {
	if len(cs) != len(cm) {
		cm = make(map[string]fleet.CollectorState, len(cs))
		for _, c := range cs {
			cm[c.ID] = c
		}
	}
	if len(bs) != len(bm) {
		bm = make(map[bucketKey]fleet.Bucket, len(bs))
		for i := range bs {
			bm[keyOf(&bs[i])] = bs[i]
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight = 0
	for id, c := range w.collectors { // newer
		cm[id] = c
	}
	for k, b := range w.buckets { // newer
		bm[k] = b
	}
	w.collectors, w.buckets = cm, bm
	// ss owns its backing array (Flush took it from w.status): appending to it is safe.
	w.status = append(ss, w.status...)
}
