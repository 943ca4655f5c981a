package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/corral-dev/corral/configs"
)

// Posted is one alert as Alertmanager's POST /api/v2/alerts takes it
// (models.PostableAlert).
type Posted struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// key identifies an alert across sends: its labels, sorted.
func (p *Posted) key() string {
	names := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(p.Labels[k])
		b.WriteByte(0)
	}
	return b.String()
}

// Metrics of the notifier: Prometheus's prometheus_notifications_* with a
// corral_ prefix.
type Metrics struct {
	sent, errors *prometheus.CounterVec
	dropped      prometheus.Counter
	queueLength  *prometheus.GaugeVec
	capacity     prometheus.Gauge
	discovered   prometheus.Gauge
	latency      *prometheus.SummaryVec
}

// NewMetrics registers the notifier's metrics with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_notifications_sent_total",
			Help: "Total number of alerts sent."}, []string{"alertmanager"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_notifications_errors_total",
			Help: "Total number of sent alerts affected by errors (they stay queued and are sent again)."}, []string{"alertmanager"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_notifications_dropped_total",
			Help: "Total number of alerts dropped: a queue full while its Alertmanager could not be reached, or an Alertmanager removed from the config."}),
		queueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corral_notifications_queue_length",
			Help: "The number of alert notifications in the queue of each Alertmanager."}, []string{"alertmanager"}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_notifications_queue_capacity",
			Help: "The capacity of the alert notifications queue of each Alertmanager."}),
		discovered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_notifications_alertmanagers_discovered",
			Help: "The number of alertmanagers discovered and active."}),
		latency: prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "corral_notifications_latency_seconds",
			Help: "Latency quantiles for sending alert notifications.", Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}},
			[]string{"alertmanager"}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.errors, m.dropped, m.queueLength, m.capacity, m.discovered, m.latency)
	}
	return m
}

// Notifier sends alerts to every configured Alertmanager as Prometheus's
// notifier does (batches of at most max_batch_size to POST /api/v2/alerts),
// with one bounded queue per Alertmanager: while one cannot be reached its
// alerts wait, retried with backoff, and are delivered once it is back. A
// newer notification of an alert replaces the queued one, so an outage
// queues one entry per alert, not one per re-send; beyond the capacity the
// oldest are dropped and counted.
type Notifier struct {
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	ams      map[string]*amQueue // by URL
	capacity int
	maxBatch int
	ctx      context.Context
	wg       sync.WaitGroup
}

// NewNotifier returns a notifier with no Alertmanagers; Run starts it and
// Apply gives it the config.
func NewNotifier(log *slog.Logger, m *Metrics) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Notifier{log: log, metrics: m, ams: map[string]*amQueue{},
		capacity: configs.DefaultAlertingConfig.QueueCapacity, maxBatch: configs.DefaultAlertingConfig.MaxBatchSize}
}

// Run lets the senders run until ctx ends, then stops them.
func (n *Notifier) Run(ctx context.Context) {
	n.mu.Lock()
	n.ctx = ctx
	for _, q := range n.ams {
		n.start(q)
	}
	n.mu.Unlock()
	<-ctx.Done()
	n.wg.Wait()
}

// start runs q's sender (n.mu held, n.ctx set).
func (n *Notifier) start(q *amQueue) {
	ctx, cancel := context.WithCancel(n.ctx)
	q.cancel = cancel
	n.wg.Go(func() { q.run(ctx, n) })
}

// Apply sets the Alertmanagers (a nil or inactive config: none). An
// Alertmanager whose URL and settings did not change keeps its queue.
func (n *Notifier) Apply(c *configs.AlertingConfig) error {
	want := map[string]*amQueue{}
	capacity, maxBatch := configs.DefaultAlertingConfig.QueueCapacity, configs.DefaultAlertingConfig.MaxBatchSize
	if c.Active() {
		capacity, maxBatch = c.QueueCapacity, c.MaxBatchSize
		for i, am := range c.Alertmanagers {
			client, err := commoncfg.NewClientFromConfig(am.HTTPClientConfig, "alertmanager")
			if err != nil {
				return fmt.Errorf("alerting.alertmanagers[%d]: %w", i, err)
			}
			settings, _ := json.Marshal(struct {
				H       commoncfg.HTTPClientConfig
				Timeout time.Duration
			}{am.HTTPClientConfig, time.Duration(am.Timeout)})
			for _, u := range am.URLs() {
				want[u] = &amQueue{url: u, client: client, timeout: time.Duration(am.Timeout), settings: string(settings),
					index: map[string]*entry{}, wake: make(chan struct{}, 1)}
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.capacity, n.maxBatch = capacity, maxBatch
	n.metrics.capacity.Set(float64(capacity))
	for u, q := range n.ams {
		if w, ok := want[u]; ok && w.settings == q.settings {
			want[u] = q
			continue
		}
		if q.cancel != nil {
			q.cancel()
		}
		q.mu.Lock()
		n.metrics.dropped.Add(float64(len(q.entries)))
		q.entries = nil
		q.mu.Unlock()
		n.metrics.queueLength.DeleteLabelValues(u)
	}
	for u, q := range want {
		if q.cancel == nil && n.ctx != nil {
			n.start(q)
		}
		n.metrics.queueLength.WithLabelValues(u).Set(float64(q.length()))
	}
	n.ams = want
	n.metrics.discovered.Set(float64(len(want)))
	return nil
}

// Alertmanagers are the URLs alerts are posted to.
func (n *Notifier) Alertmanagers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.ams))
	for u := range n.ams {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Send queues alerts for every Alertmanager; it does not block.
func (n *Notifier) Send(alerts ...Posted) {
	if len(alerts) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, q := range n.ams {
		dropped := q.push(alerts, n.capacity)
		if dropped > 0 {
			n.metrics.dropped.Add(float64(dropped))
			n.log.Warn("alert notification queue full, dropping the oldest alerts", "alertmanager", q.url, "dropped", dropped, "capacity", n.capacity)
		}
		n.metrics.queueLength.WithLabelValues(q.url).Set(float64(q.length()))
	}
}

// QueueLength is the number of alerts waiting for the Alertmanager at url.
func (n *Notifier) QueueLength(url string) int {
	n.mu.Lock()
	q := n.ams[url]
	n.mu.Unlock()
	if q == nil {
		return 0
	}
	return q.length()
}

func (n *Notifier) batchSize() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.maxBatch
}

type entry struct {
	key   string
	alert Posted
	seq   uint64
}

// amQueue is one Alertmanager's queue and sender.
type amQueue struct {
	url      string
	client   *http.Client
	timeout  time.Duration
	settings string
	cancel   context.CancelFunc

	mu      sync.Mutex
	entries []*entry
	index   map[string]*entry
	seq     uint64
	wake    chan struct{}
}

func (q *amQueue) length() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

// push queues alerts, replacing a queued notification of the same alert,
// and returns how many of the oldest it dropped beyond capacity.
func (q *amQueue) push(alerts []Posted, capacity int) int {
	q.mu.Lock()
	for _, a := range alerts {
		q.seq++
		k := a.key()
		if e, ok := q.index[k]; ok {
			e.alert, e.seq = a, q.seq
			continue
		}
		e := &entry{key: k, alert: a, seq: q.seq}
		q.entries = append(q.entries, e)
		q.index[k] = e
	}
	dropped := 0
	if over := len(q.entries) - capacity; over > 0 {
		for _, e := range q.entries[:over] {
			delete(q.index, e.key)
		}
		q.entries = append(q.entries[:0:0], q.entries[over:]...)
		dropped = over
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

type sent struct {
	e   *entry
	seq uint64
}

// peek copies up to n alerts from the head of the queue.
func (q *amQueue) peek(n int) ([]Posted, []sent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.entries))
	alerts := make([]Posted, n)
	marks := make([]sent, n)
	for i, e := range q.entries[:n] {
		alerts[i] = e.alert
		marks[i] = sent{e, e.seq}
	}
	return alerts, marks
}

// done takes the delivered alerts off the queue, unless a newer
// notification replaced one meanwhile (that one is sent next).
func (q *amQueue) done(marks []sent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	gone := make(map[*entry]bool, len(marks))
	for _, m := range marks {
		if m.e.seq == m.seq {
			gone[m.e] = true
			delete(q.index, m.e.key)
		}
	}
	out := q.entries[:0]
	for _, e := range q.entries {
		if !gone[e] {
			out = append(out, e)
		}
	}
	clear(q.entries[len(out):])
	q.entries = out
}

// Backoff between failed attempts to reach an Alertmanager.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 10 * time.Second
)

func (q *amQueue) run(ctx context.Context, n *Notifier) {
	defer q.client.CloseIdleConnections()
	backoff := minBackoff
	down := false
	for {
		alerts, marks := q.peek(n.batchSize())
		if len(alerts) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		start := time.Now()
		err := q.post(ctx, alerts)
		if ctx.Err() != nil {
			return
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			// Alertmanager will not take these as they are: sending them
			// again would block the queue behind them.
			n.metrics.errors.WithLabelValues(q.url).Add(float64(len(alerts)))
			n.metrics.dropped.Add(float64(len(alerts)))
			n.log.Error("Alertmanager refused alerts; dropping them", "alertmanager", q.url, "alerts", len(alerts), "err", err)
			q.done(marks)
			continue
		}
		if err != nil {
			n.metrics.errors.WithLabelValues(q.url).Add(float64(len(alerts)))
			if !down {
				n.log.Warn("cannot send alerts to Alertmanager; they stay queued and are sent when it answers", "alertmanager", q.url, "queued", q.length(), "err", err)
				down = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		n.metrics.latency.WithLabelValues(q.url).Observe(time.Since(start).Seconds())
		n.metrics.sent.WithLabelValues(q.url).Add(float64(len(alerts)))
		if down {
			n.log.Info("Alertmanager reachable again", "alertmanager", q.url)
			down = false
		}
		backoff = minBackoff
		q.done(marks)
		n.mu.Lock()
		if n.ams[q.url] == q {
			n.metrics.queueLength.WithLabelValues(q.url).Set(float64(q.length()))
		}
		n.mu.Unlock()
	}
}

func (q *amQueue) post(ctx context.Context, alerts []Posted) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "corral-alerter")
	resp, err := q.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	// 400 and 422 say the alerts are malformed; 401, 403, 404, 429 … are
	// settings or load that may change: those alerts stay queued.
	if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity {
		return &refusedError{fmt.Sprintf("alertmanager answered %s: %s", resp.Status, bytes.TrimSpace(msg))}
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alertmanager answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// refusedError is a 400 or 422 answer: the alerts are bad, not the connection.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }
