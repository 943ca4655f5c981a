// Package remotewrite forwards samples to Prometheus-compatible receivers
// with the Remote Write 1.0 protocol (prompb.WriteRequest, snappy), as
// Prometheus's remote_write does, without its write-ahead log: each queue is
// bounded in memory. A queue runs shards, each with its own buffer of up to
// capacity samples and one request in flight; a series always goes to the
// same shard, so its samples stay in order. A request that fails with a
// network error, a 5xx or (retry_on_http_429) a 429 is retried with backoff
// for as long as it takes, while new samples wait in the buffers; what does
// not fit is dropped and counted. The shard count moves between min_shards
// and max_shards with the backlog, only while sends succeed.
package remotewrite

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/prompb"

	"github.com/corral-dev/corral/configs"
)

// sample is one queued sample with its full, sorted label set.
type sample struct {
	labels []prompb.Label
	value  float64
	ts     int64 // milliseconds
}

// Queue sends to one receiver.
type Queue struct {
	cfg      configs.RemoteWriteConfig
	api      *remote.API
	log      *slog.Logger
	m        queueMetrics
	external labels.Labels
	lb       *labels.Builder
	lbMu     sync.Mutex // of lb

	mu     sync.Mutex
	shards []*shard
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	// lastErr: the last send failed. No reshard then: it waits for the
	// requests in flight, which retry until the receiver is back.
	lastErr bool
	done    chan struct{}
}

type shard struct {
	mu       sync.Mutex
	pending  []sample
	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewQueue starts a queue for cfg (validated by configs); ctx ends it.
// external are global.external_labels, added to every series that lacks
// them, as Prometheus does.
func NewQueue(ctx context.Context, cfg configs.RemoteWriteConfig, external map[string]string, log *slog.Logger, m *Metrics) (*Queue, error) {
	client, err := commoncfg.NewClientFromConfig(cfg.HTTPClientConfig, "remote_write_"+cfg.Name, commoncfg.WithUserAgent("corral"))
	if err != nil {
		return nil, fmt.Errorf("remote_write %s: http client: %w", cfg.Name, err)
	}
	client.Timeout = time.Duration(cfg.RemoteTimeout)
	if len(cfg.Headers) > 0 {
		client.Transport = headerRoundTripper{next: client.Transport, headers: cfg.Headers}
	}
	opts := []remote.APIOption{
		remote.WithAPIHTTPClient(client), remote.WithAPIPath(""),
		remote.WithAPIBackoff(remote.BackoffConfig{Min: time.Duration(cfg.QueueConfig.MinBackoff), Max: time.Duration(cfg.QueueConfig.MaxBackoff)}),
	}
	if !cfg.QueueConfig.RetryOnRateLimit {
		opts = append(opts, remote.WithAPINoRetryOnRateLimit())
	}
	api, err := remote.NewAPI(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("remote_write %s: %w", cfg.Name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{cfg: cfg, api: api, log: log.With("remote_name", cfg.Name), m: m.forQueue(cfg.Name, cfg.URL),
		external: labels.FromMap(external), lb: labels.NewBuilder(labels.EmptyLabels()), done: make(chan struct{})}
	q.ctx, q.stop = context.WithCancel(ctx)
	q.shards = q.startShards(cfg.QueueConfig.MinShards, nil)
	go q.reshardLoop()
	return q, nil
}

type headerRoundTripper struct {
	next    http.RoundTripper
	headers map[string]string
}

func (h headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.next.RoundTrip(r)
}

// Append queues one series' sample: ls is its full label set (any order).
// write_relabel_configs and the external labels apply here; a sample that
// finds its shard full is dropped and counted. It does not block on the
// receiver.
func (q *Queue) Append(ls labels.Labels, value float64, ts int64) {
	q.lbMu.Lock()
	q.lb.Reset(ls)
	q.external.Range(func(l labels.Label) {
		if q.lb.Get(l.Name) == "" {
			q.lb.Set(l.Name, l.Value)
		}
	})
	keep := relabel.ProcessBuilder(q.lb, q.cfg.WriteRelabelConfigs...)
	var out labels.Labels
	if keep {
		out = q.lb.Labels()
	}
	q.lbMu.Unlock()
	if !keep || out.IsEmpty() {
		return
	}
	pl := make([]prompb.Label, 0, out.Len())
	out.Range(func(l labels.Label) { pl = append(pl, prompb.Label{Name: l.Name, Value: l.Value}) })
	h := fnv.New64a()
	for _, l := range pl {
		h.Write([]byte(l.Name))
		h.Write([]byte{0xff})
		h.Write([]byte(l.Value))
		h.Write([]byte{0xff})
	}
	q.mu.Lock()
	s := q.shards[h.Sum64()%uint64(len(q.shards))]
	s.mu.Lock()
	if len(s.pending) >= q.cfg.QueueConfig.Capacity {
		s.mu.Unlock()
		q.mu.Unlock()
		q.m.dropped.Inc()
		return
	}
	s.pending = append(s.pending, sample{labels: pl, value: value, ts: ts})
	n := len(s.pending)
	s.mu.Unlock()
	q.mu.Unlock()
	q.m.pending.Inc()
	if n >= q.cfg.QueueConfig.MaxSamplesPerSend {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// startShards starts n shards and hands them carry, the pending samples of
// the shards they replace, in order.
func (q *Queue) startShards(n int, carry [][]sample) []*shard {
	ss := make([]*shard, n)
	for i := range ss {
		ss[i] = &shard{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	}
	for _, c := range carry {
		for _, smp := range c {
			h := fnv.New64a()
			for _, l := range smp.labels {
				h.Write([]byte(l.Name))
				h.Write([]byte{0xff})
				h.Write([]byte(l.Value))
				h.Write([]byte{0xff})
			}
			s := ss[h.Sum64()%uint64(n)]
			s.pending = append(s.pending, smp)
		}
	}
	for _, s := range ss {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			q.runShard(s)
		}()
	}
	q.m.shards.Set(float64(n))
	return ss
}

// runShard sends the shard's samples in batches of up to
// max_samples_per_send, at the latest batch_send_deadline after the first
// one waiting.
func (q *Queue) runShard(s *shard) {
	defer close(s.done)
	qc := q.cfg.QueueConfig
	timer := time.NewTimer(time.Duration(qc.BatchSendDeadline))
	defer timer.Stop()
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-s.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
		for {
			s.mu.Lock()
			n := min(len(s.pending), qc.MaxSamplesPerSend)
			batch := s.pending[:n:n]
			s.mu.Unlock()
			if n == 0 {
				break
			}
			if !q.send(batch) {
				return // stopping: the batch stays pending for a reshard
			}
			s.mu.Lock()
			s.pending = append(s.pending[:0:0], s.pending[n:]...)
			full := len(s.pending) >= qc.MaxSamplesPerSend
			s.mu.Unlock()
			q.m.pending.Sub(float64(n))
			if !full {
				break
			}
			select {
			case <-s.stop: // a reshard takes over the rest
				return
			default:
			}
		}
		timer.Reset(time.Duration(qc.BatchSendDeadline))
	}
}

// send writes one batch, retrying retryable failures until it succeeds or
// the queue stops. It reports false only when the queue stopped before the
// batch was written.
func (q *Queue) send(batch []sample) bool {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(batch))}
	for i, s := range batch {
		req.Timeseries[i] = prompb.TimeSeries{Labels: s.labels, Samples: []prompb.Sample{{Value: s.value, Timestamp: s.ts}}}
	}
	start := time.Now()
	_, err := q.api.Write(q.ctx, remote.WriteV1MessageType, req, remote.WithWriteRetryCallback(func(err error) {
		q.m.retried.Add(float64(len(batch)))
		q.setFailing(true, err)
	}))
	q.m.duration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		q.m.sent.Add(float64(len(batch)))
		q.setFailing(false, nil)
	case q.ctx.Err() != nil:
		return false
	default:
		// Not retryable (a 4xx other than 429): the receiver refuses these
		// samples; sending them again would not help.
		q.m.failed.Add(float64(len(batch)))
		q.log.Warn("remote write refused a batch; its samples are dropped", "url", q.cfg.URL, "samples", len(batch), "err", err)
	}
	return true
}

// setFailing logs a change between sending and failing once, not per retry.
func (q *Queue) setFailing(failing bool, err error) {
	q.mu.Lock()
	changed := q.lastErr != failing
	q.lastErr = failing
	q.mu.Unlock()
	if !changed {
		return
	}
	if failing {
		q.log.Warn("remote write failing; samples wait in the queue and are retried", "url", q.cfg.URL, "err", err)
	} else {
		q.log.Info("remote write sending again", "url", q.cfg.URL)
	}
}

// reshardEvery is how often the shard count is reconsidered.
var reshardEvery = 10 * time.Second

// reshardLoop grows the shards while a backlog builds up and sends succeed,
// and shrinks them when there is none.
func (q *Queue) reshardLoop() {
	defer close(q.done)
	t := time.NewTicker(reshardEvery)
	defer t.Stop()
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-t.C:
		}
		q.mu.Lock()
		n, failing := len(q.shards), q.lastErr
		pending := 0
		for _, s := range q.shards {
			s.mu.Lock()
			pending += len(s.pending)
			s.mu.Unlock()
		}
		q.mu.Unlock()
		qc := q.cfg.QueueConfig
		want := n
		switch {
		case failing:
		case pending > n*qc.MaxSamplesPerSend:
			want = min(qc.MaxShards, n*2)
		case pending < n*qc.MaxSamplesPerSend/4:
			want = max(qc.MinShards, n/2)
		}
		if want != n {
			q.reshard(want)
		}
	}
}

// reshard replaces the shards by n new ones, handing over what is pending.
// Each old shard finishes its request in flight first.
func (q *Queue) reshard(n int) {
	// Appends go on into the old shards' buffers while they finish; q.mu is
	// not held meanwhile, so a scrape never waits for a request.
	q.mu.Lock()
	old := q.shards
	q.mu.Unlock()
	for _, s := range old {
		s.stopOnce.Do(func() { close(s.stop) })
	}
	for _, s := range old {
		select {
		case <-s.done:
		case <-q.ctx.Done():
			return
		}
	}
	q.mu.Lock()
	carry := make([][]sample, len(old))
	for i, s := range old {
		s.mu.Lock()
		carry[i] = s.pending
		s.mu.Unlock()
	}
	q.shards = q.startShards(n, carry)
	q.mu.Unlock()
	q.log.Info("remote write resharded", "from", len(old), "to", n)
}

// Stop ends the queue; samples not yet sent are dropped and counted.
func (q *Queue) Stop() {
	q.stop()
	<-q.done // no reshard starts shards any more
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.shards {
		if len(s.pending) > 0 {
			q.m.dropped.Add(float64(len(s.pending)))
			q.m.pending.Sub(float64(len(s.pending)))
			s.pending = nil
		}
	}
}

// Metrics are the corral_remote_write_* series, by remote_name and url.
type Metrics struct {
	sent, failed, dropped, retried *prometheus.CounterVec
	pending, shards                *prometheus.GaugeVec
	duration                       *prometheus.HistogramVec
}

type queueMetrics struct {
	sent, failed, dropped, retried prometheus.Counter
	pending, shards                prometheus.Gauge
	duration                       prometheus.Observer
}

// NewMetrics registers the remote write metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lbl := []string{"remote_name", "url"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, lbl)
	}
	m := &Metrics{
		sent:    counter("corral_remote_write_samples_total", "Samples the receiver accepted."),
		failed:  counter("corral_remote_write_failed_samples_total", "Samples the receiver refused for good (HTTP 4xx other than a retried 429)."),
		dropped: counter("corral_remote_write_dropped_samples_total", "Samples dropped before they were sent: their shard's queue was full (receiver down or slow), or corral stopped."),
		retried: counter("corral_remote_write_retried_samples_total", "Samples sent again after a retryable failure (network error, 5xx, 429)."),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corral_remote_write_pending_samples", Help: "Samples queued, not yet accepted by the receiver."}, lbl),
		shards:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corral_remote_write_shards", Help: "Shards sending in parallel."}, lbl),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "corral_remote_write_sent_batch_duration_seconds",
			Help: "Duration of sending a batch, retries included.", Buckets: prometheus.DefBuckets}, lbl),
	}
	reg.MustRegister(m.sent, m.failed, m.dropped, m.retried, m.pending, m.shards, m.duration)
	return m
}

func (m *Metrics) forQueue(name, url string) queueMetrics {
	return queueMetrics{
		sent: m.sent.WithLabelValues(name, url), failed: m.failed.WithLabelValues(name, url),
		dropped: m.dropped.WithLabelValues(name, url), retried: m.retried.WithLabelValues(name, url),
		pending: m.pending.WithLabelValues(name, url), shards: m.shards.WithLabelValues(name, url),
		duration: m.duration.WithLabelValues(name, url),
	}
}
