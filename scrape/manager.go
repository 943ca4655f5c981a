package scrape

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// JobConfig is how the targets of one job are scraped.
type JobConfig struct {
	Name          string
	Interval      time.Duration
	Timeout       time.Duration
	BodySizeLimit int64
	SampleLimit   int
	HTTPClient    commoncfg.HTTPClientConfig
	// DisableCompression stops asking targets for gzip (cheaper on loopback and LANs).
	DisableCompression bool
	// MetricRelabel is the job's metric_relabel_configs, applied to every
	// scraped sample (target labels merged in) before it is kept for
	// /federate; health reads the samples as scraped.
	MetricRelabel []*relabel.Config
	// LabelLimit, LabelNameLengthLimit and LabelValueLengthLimit fail a
	// scrape with a sample over them (reason label_limit); 0 is no limit.
	LabelLimit, LabelNameLengthLimit, LabelValueLengthLimit int
	// TargetLimit: with more targets than this, every scrape of the job
	// fails (reason target_limit), as in Prometheus; 0 is no limit.
	TargetLimit int
	// Accept is the Accept header of the scrapes (AcceptHeader); "" is
	// Prometheus's default.
	Accept string
}

type job struct {
	cfg JobConfig
	// clients are the job's HTTP clients, each with its own transport; a
	// target uses the one its hash picks (see transportShards).
	clients     []*http.Client
	sampleLimit int
	accept      string
	// loops counts the running loops that scrape with client, so that a
	// replaced job's idle connections are closed once the last one is done.
	loops sync.WaitGroup
}

// Options of a Manager.
type Options struct {
	Logger *slog.Logger
	// Sink receives every loop's results (see Sink); scrape.Sinks fans out.
	Sink    Sink
	Metrics *Metrics
	// Appender, when set, gets every scrape's samples (remote_write).
	Appender Appender
	// Token returns the target's own bearer token for its agent ("" for none): the
	// scrape token of a collector registered through the API. It wins over a
	// bearer token of the job's HTTP client settings. A changed token restarts
	// the target's loop.
	Token func(t *targets.Target) string
}

// Appender receives the samples of every scrape, as Prometheus's storage
// appender does: on the loop's goroutine, so Append must copy what it keeps
// and not block.
type Appender interface {
	// Append gets a scrape's result and, when it succeeded, its samples as
	// the snapshot has them (final: metric_relabel_configs merged the target's
	// labels in; else they are the sample's own).
	Append(r *Result, samples []expo.Sample, final bool)
}

// ErrUnknownCollector is returned for a collector the manager does not scrape.
var ErrUnknownCollector = errors.New("unknown collector")

// Manager runs one loop per target and keeps them in step with discovery: Sync
// starts and stops only the loops that changed.
type Manager struct {
	opts   Options
	ctx    context.Context
	pool   sync.Pool // of *Snapshot
	gzPool sync.Pool // of *gzip.Reader
	parses sync.Pool // of *parsed

	mu      sync.Mutex
	jobs    map[string]*job
	loops   map[string]*loop
	current []*targets.Target
}

// NewManager returns a manager whose loops live until ctx ends.
func NewManager(ctx context.Context, opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, ctx: ctx, jobs: map[string]*job{}, loops: map[string]*loop{}}
	m.pool.New = func() any { return &Snapshot{} }
	m.parses.New = func() any { return &parsed{} }
	return m
}

// transportShards is how many transports a job spreads its targets over.
// One transport's idle pool is behind one mutex, which every scrape takes
// twice (get and put back the connection); at 10,000 targets on a loaded
// machine a goroutine profile found 2,300 scrapes queued on it and 1,600
// connections waiting to be put back.
const transportShards = 16

func (j *job) closeIdle() {
	for _, c := range j.clients {
		c.CloseIdleConnections()
	}
}

// lean trims the per-connection memory of a job's transport, which holds
// one keep-alive connection per target: prometheus/common dials through
// go-conntrack with tracing, an x/net/trace event log of ~11 KiB for every
// connection (its metrics go to the default registry, which corral does
// not serve), and net/http gives each connection 4 KiB buffers both ways:
// a GET of a few hundred bytes goes out, and a body read into a larger
// buffer bypasses the read buffer (it holds the headers). A transport wrapped in credentials or TLS
// file round trippers keeps prometheus/common's settings.
func lean(client *http.Client) {
	t, ok := client.Transport.(*http.Transport)
	if !ok {
		return
	}
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.WriteBufferSize = 1 << 10
	t.ReadBufferSize = 2 << 10
}

// ApplyJobs sets the scrape configuration of every job (at start and on reload),
// then re-syncs: loops of jobs whose settings did not change keep running. The
// loops of a changed or removed job restart or stop; once they have, the old
// HTTP client's idle connections are closed, so that a reload does not leave
// one keep-alive connection per target open until the idle timeout.
func (m *Manager) ApplyJobs(cfgs []JobConfig) error {
	jobs := make(map[string]*job, len(cfgs))
	m.mu.Lock()
	old := m.jobs
	m.mu.Unlock()
	for _, c := range cfgs {
		if j, ok := old[c.Name]; ok && reflect.DeepEqual(j.cfg, c) {
			jobs[c.Name] = j
			continue
		}
		clients := make([]*http.Client, transportShards)
		for i := range clients {
			// No WithUserAgent: every request goes through TargetClient.NewRequest,
			// which sets it, and without it a job with no credentials or TLS
			// files gets the bare *http.Transport back (see lean).
			client, err := commoncfg.NewClientFromConfig(c.HTTPClient, "corral_"+c.Name,
				commoncfg.WithIdleConnTimeout(5*time.Minute))
			if err != nil {
				return fmt.Errorf("job %s: http client: %w", c.Name, err)
			}
			lean(client)
			clients[i] = client
		}
		// prometheus/common's transport already leaves compression to us
		// (DisableCompression), so gzip is asked for and decoded in fetch.
		accept := c.Accept
		if accept == "" {
			accept = AcceptHeader(nil)
		}
		jobs[c.Name] = &job{cfg: c, clients: clients, sampleLimit: c.SampleLimit, accept: accept}
	}
	m.mu.Lock()
	m.jobs = jobs
	ts := m.current
	m.mu.Unlock()
	m.Sync(ts)
	// No Sync starts a loop of an old job any more: it reads m.jobs under m.mu.
	// Its loops were cancelled and return within their scrape timeout.
	for name, j := range old {
		if jobs[name] != j {
			j.loops.Wait()
			j.closeIdle()
		}
	}
	return nil
}

// Sync makes the running loops match ts: new targets start, gone ones stop,
// changed ones restart, the rest keep running untouched.
func (m *Manager) Sync(ts []*targets.Target) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.current = ts
	keep := make(map[string]bool, len(ts))
	var stopping []*loop
	perJob := map[string]int{}
	for _, t := range ts {
		perJob[t.ScrapeJob]++
	}
	forced := map[string]error{}
	for name, n := range perJob {
		if j, ok := m.jobs[name]; ok && j.cfg.TargetLimit > 0 && n > j.cfg.TargetLimit {
			// As Prometheus: every target of the job fails, none is picked.
			forced[name] = &targetLimitError{n: n, limit: j.cfg.TargetLimit}
			m.opts.Metrics.targetLimit.Inc()
		}
	}
	for _, t := range ts {
		j, ok := m.jobs[t.ScrapeJob]
		if !ok {
			continue
		}
		interval, timeout := j.cfg.Interval, j.cfg.Timeout
		if v, ok := t.Meta["__scrape_interval__"]; ok {
			if d, err := model.ParseDuration(v); err == nil && d > 0 {
				interval = time.Duration(d)
			} else {
				m.opts.Logger.Warn("ignoring bad __scrape_interval__ label", "collector", t.Collector, "value", v)
			}
		}
		if v, ok := t.Meta["__scrape_timeout__"]; ok {
			if d, err := model.ParseDuration(v); err == nil && d > 0 {
				timeout = time.Duration(d)
			} else {
				m.opts.Logger.Warn("ignoring bad __scrape_timeout__ label", "collector", t.Collector, "value", v)
			}
		}
		timeout = min(timeout, interval)
		var token string
		if m.opts.Token != nil {
			token = m.opts.Token(t)
		}
		forcedErr := forced[t.ScrapeJob]
		key := fmt.Sprintf("%x|%s|%s|%s|%p|%x|%v", t.Hash, t.URL, interval, timeout, j, sha256.Sum256([]byte(token)), forcedErr)
		keep[t.Collector] = true
		m.opts.Sink.Track(t, interval, timeout)
		if l, ok := m.loops[t.Collector]; ok {
			if l.key == key {
				continue
			}
			stopping = append(stopping, l)
		}
		l := &loop{
			target: t, job: j, interval: interval, timeout: timeout, key: key, forced: forcedErr,
			fetch: fetcher{TargetClient: TargetClient{client: j.clients[t.Hash%uint64(len(j.clients))], token: token}, url: t.URL, bodyLimit: j.cfg.BodySizeLimit, accept: j.accept,
				noGzip: j.cfg.DisableCompression, gzipReaders: &m.gzPool},
			sink: m.opts.Sink, appender: m.opts.Appender, metrics: m.opts.Metrics, pool: &m.pool, parses: &m.parses,
			done: make(chan struct{}),
		}
		if old, ok := m.loops[t.Collector]; ok {
			// Carry the latest snapshot over, so /federate has no gap.
			if s := old.latest.Load(); s != nil {
				l.latest.Store(s)
			}
		}
		ctx, cancel := context.WithCancel(m.ctx)
		l.cancel = cancel
		m.loops[t.Collector] = l
		j.loops.Add(1)
		l.start(ctx, j.loops.Done)
	}
	for id, l := range m.loops {
		if !keep[id] {
			stopping = append(stopping, l)
			delete(m.loops, id)
		}
	}
	for _, l := range stopping {
		l.cancel()
	}
	m.opts.Sink.Forget(keep)
	m.opts.Metrics.loops.Set(float64(len(m.loops)))
}

// Stop stops every loop, waits for them and closes the idle connections to
// the targets.
func (m *Manager) Stop() {
	m.mu.Lock()
	ls := make([]*loop, 0, len(m.loops))
	for _, l := range m.loops {
		l.cancel()
		ls = append(ls, l)
	}
	jobs := m.jobs
	m.mu.Unlock()
	for _, l := range ls {
		<-l.done
	}
	for _, j := range jobs {
		j.closeIdle()
	}
}

// ScrapeNow scrapes one collector at once, outside its schedule, and accounts the
// result like any other.
func (m *Manager) ScrapeNow(ctx context.Context, id string) (*Result, error) {
	m.mu.Lock()
	l, ok := m.loops[id]
	m.mu.Unlock()
	if !ok {
		return nil, ErrUnknownCollector
	}
	r := l.scrape(ctx, time.Time{})
	l.metrics.observe(r)
	l.sink.Observe(r)
	return r, nil
}

// Latest returns the latest snapshot of one collector, held until Release.
func (m *Manager) Latest(id string) (Held, bool) {
	m.mu.Lock()
	l, ok := m.loops[id]
	m.mu.Unlock()
	if !ok {
		return Held{}, false
	}
	s := l.acquire()
	if s == nil {
		return Held{}, false
	}
	return m.hold(l.target, s), true
}

// EachLatest calls fn with the latest snapshot of every collector that has one,
// sorted by collector, holding each only while fn runs.
func (m *Manager) EachLatest(fn func(Held) bool) {
	m.mu.Lock()
	ls := make([]*loop, 0, len(m.loops))
	for _, l := range m.loops {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	sort.Slice(ls, func(i, j int) bool { return ls[i].target.Collector < ls[j].target.Collector })
	for _, l := range ls {
		s := l.acquire()
		if s == nil {
			continue
		}
		h := m.hold(l.target, s)
		cont := fn(h)
		h.Release()
		if !cont {
			return
		}
	}
}

// Targets returns the targets being scraped.
func (m *Manager) Targets() []*targets.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*targets.Target, 0, len(m.loops))
	for _, l := range m.loops {
		out = append(out, l.target)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Collector < out[j].Collector })
	return out
}

// HoldAll holds the latest snapshot of every collector, sorted by collector;
// release each when done.
func (m *Manager) HoldAll() []Held {
	m.mu.Lock()
	ls := make([]*loop, 0, len(m.loops))
	for _, l := range m.loops {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	sort.Slice(ls, func(i, j int) bool { return ls[i].target.Collector < ls[j].target.Collector })
	out := make([]Held, 0, len(ls))
	for _, l := range ls {
		if s := l.acquire(); s != nil {
			out = append(out, m.hold(l.target, s))
		}
	}
	return out
}
