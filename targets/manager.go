package targets

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/relabel"
)

const (
	// coalesceWindow is how long the Manager gathers changes before it sends a
	// set, and so the least time between two sends.
	coalesceWindow = 100 * time.Millisecond
	// readyWait bounds how long a changed job keeps showing its previous targets
	// while its new providers have not all sent their first set.
	readyWait = 10 * time.Second
)

// ScrapeJob is one job's discovery: its providers and the defaults its targets
// are labelled with.
type ScrapeJob struct {
	Name        string
	Scheme      string     // default "http"
	MetricsPath string     // default "/metrics"
	Params      url.Values // query parameters of every scrape; __param_<name> overrides the first value
	// Relabel are the job's relabel_configs, applied to each target's labels
	// (__meta_* and the job's defaults included) before it is scraped.
	Relabel []*relabel.Config
	// HonorLabels is honor_labels; IgnoreTimestamps is honor_timestamps: false
	// (the zero value honours them, as Prometheus does by default).
	HonorLabels, IgnoreTimestamps bool
	// Tenancy gives the job's targets their Org and Team (zero: DefaultTenancy).
	Tenancy   Tenancy
	Providers []Provider
	// Key identifies the job's configuration, e.g. a hash of its YAML. ApplyJobs
	// keeps the running providers of a job whose Name and Key are unchanged. An
	// empty Key never compares equal: such a job is restarted on every ApplyJobs.
	Key string
}

// Conflict is one collector identity found more than once: Kept is scraped,
// Dropped is not.
type Conflict struct {
	Collector     string
	Kept, Dropped Target
	Reason        string
}

// Manager runs the providers of every scrape job and merges what they find
// into one set of targets.
type Manager struct {
	log     *slog.Logger
	out     chan []*Target
	trigger chan struct{}
	window  time.Duration

	targetsGauge  prometheus.Gauge
	conflictGauge prometheus.Gauge
	rejectedGauge prometheus.Gauge

	mu        sync.Mutex
	ctx       context.Context // set by Run
	stopped   bool
	jobs      map[string]*jobRun
	conflicts []Conflict
	logged    map[string]struct{} // conflicts already logged
	rejected  map[string]string   // dropped target key → error already logged
	dropped   []DroppedTarget     // of the last merge
}

type jobRun struct {
	job       ScrapeJob
	provs     []*provRun
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startedAt time.Time
	// prev holds the groups of the run this one replaced. They stand in for the
	// job until every provider has sent its first set (or readyWait passed), so
	// that a reload does not make the scraper drop and restart the job's targets.
	prev []kindGroup
}

type provRun struct {
	kind   string
	groups map[string]*Group
	ready  bool
}

type kindGroup struct {
	kind string
	g    *Group
}

// NewManager returns a Manager. Its metrics go to reg when it is not nil.
func NewManager(log *slog.Logger, reg prometheus.Registerer) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	return &Manager{
		log:     log,
		out:     make(chan []*Target, 1),
		trigger: make(chan struct{}, 1),
		window:  coalesceWindow,
		targetsGauge: f.NewGauge(prometheus.GaugeOpts{
			Name: "corral_sd_targets",
			Help: "Collectors in the merged target set.",
		}),
		conflictGauge: f.NewGauge(prometheus.GaugeOpts{
			Name: "corral_sd_conflicts",
			Help: "Targets dropped because another provider, job or URL has the same collector identity (see the conflicts API).",
		}),
		rejectedGauge: f.NewGauge(prometheus.GaugeOpts{
			Name: "corral_sd_dropped_targets",
			Help: "Targets not scraped for an invalid label or address (the rest of their group is); see the log or /api/v1/sd-files.",
		}),
		jobs:     map[string]*jobRun{},
		logged:   map[string]struct{}{},
		rejected: map[string]string{},
	}
}

// Updates delivers the full merged set, sorted by Collector, after changes. It
// holds at most one set: a set not yet received is replaced by a newer one, so
// a slow receiver never holds up discovery. It is closed when Run returns.
func (m *Manager) Updates() <-chan []*Target { return m.out }

// Dropped returns the discovered targets of the last merge that are not
// scraped: dropped by relabel_configs, or invalid (with the reason).
func (m *Manager) Dropped() []DroppedTarget {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.dropped)
}

// Conflicts returns the conflicts of the last merged set, sorted by Collector.
func (m *Manager) Conflicts() []Conflict {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.conflicts)
}

// ApplyJobs makes jobs the running set: it starts the providers of new and
// changed jobs and stops those of removed and changed ones, waiting for them to
// end. A job whose Name and non-empty Key are unchanged keeps its providers (the
// Providers of the new ScrapeJob are then not used). It may be called before Run.
func (m *Manager) ApplyJobs(jobs []ScrapeJob) {
	m.mu.Lock()
	next := make(map[string]*jobRun, len(jobs))
	for _, j := range jobs {
		if _, dup := next[j.Name]; dup {
			m.log.Warn("scrape job defined twice; using the first", "job", j.Name)
			continue
		}
		old := m.jobs[j.Name]
		if old != nil && j.Key != "" && old.job.Key == j.Key {
			next[j.Name] = old
			continue
		}
		j.Providers = slices.Clone(j.Providers)
		jr := &jobRun{job: j, provs: make([]*provRun, len(j.Providers))}
		for i, p := range j.Providers {
			jr.provs[i] = &provRun{kind: kindOf(p), groups: map[string]*Group{}}
		}
		if old != nil {
			jr.prev = old.visible()
		}
		next[j.Name] = jr
		if m.ctx != nil && !m.stopped {
			m.start(jr)
		}
	}
	var stop []*jobRun
	for name, old := range m.jobs {
		if next[name] != old {
			stop = append(stop, old)
			if old.cancel != nil {
				old.cancel()
			}
		}
	}
	m.jobs = next
	m.mu.Unlock()
	m.poke()
	for _, jr := range stop {
		jr.wg.Wait()
	}
}

// Run runs the providers and sends merged sets until ctx ends; then it stops
// every provider, waits for them, closes Updates and returns nil.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return errors.New("targets: Manager.Run called twice")
	}
	m.ctx = ctx
	for _, jr := range m.jobs {
		m.start(jr)
	}
	m.mu.Unlock()
	defer m.stop()

	var (
		flush   <-chan time.Time // armed by the first change of a burst
		recheck <-chan time.Time // armed while a changed job waits for its providers
		first   = true           // nothing published yet
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.trigger:
			if flush == nil {
				flush = time.After(m.window)
			}
		case <-recheck:
			recheck = nil
			if flush == nil {
				flush = time.After(0)
			}
		case <-flush:
			flush = nil
			if first {
				// The first set is the whole fleet: it waits for every
				// provider's first set (or readyWait), so that what starts on
				// it — the scrape loops, the commands and bulk operations a
				// stopped server left open — does not find collectors missing
				// only because their file was read a moment later.
				if w := m.startWait(); w > 0 {
					recheck = time.After(w)
					continue
				}
				first = false
			}
			set, wait := m.merge()
			m.publish(set)
			if wait > 0 {
				recheck = time.After(wait)
			}
		}
	}
}

func (m *Manager) stop() {
	m.mu.Lock()
	m.stopped = true
	jobs := make([]*jobRun, 0, len(m.jobs))
	for _, jr := range m.jobs {
		if jr.cancel != nil {
			jr.cancel()
		}
		jobs = append(jobs, jr)
	}
	m.mu.Unlock()
	for _, jr := range jobs {
		jr.wg.Wait()
	}
	close(m.out)
}

// publish replaces whatever set is pending in out with set. Run is the only sender.
func (m *Manager) publish(set []*Target) {
	select {
	case <-m.out:
	default:
	}
	m.out <- set
}

// poke asks Run for a merge without ever blocking.
func (m *Manager) poke() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

// start runs jr's providers. m.mu is held.
func (m *Manager) start(jr *jobRun) {
	ctx, cancel := context.WithCancel(m.ctx)
	jr.cancel = cancel
	jr.startedAt = time.Now()
	for i, p := range jr.job.Providers {
		pr := jr.provs[i]
		up := make(chan []*Group)
		done := make(chan struct{})
		jr.wg.Add(2)
		go func() {
			defer jr.wg.Done()
			defer close(done)
			p.Run(ctx, up)
		}()
		go func() {
			defer jr.wg.Done()
			m.receive(ctx, pr, up, done)
		}()
	}
}

// receive takes every update of one provider until the provider returns, so a
// provider is never left blocked on a send, not even after its ctx ended.
func (m *Manager) receive(ctx context.Context, pr *provRun, up <-chan []*Group, done <-chan struct{}) {
	for {
		select {
		case gs := <-up:
			m.mu.Lock()
			if ctx.Err() == nil {
				for _, g := range gs {
					if g == nil {
						continue
					}
					if len(g.Targets) == 0 {
						delete(pr.groups, g.Source)
					} else {
						pr.groups[g.Source] = g
					}
				}
				pr.ready = true
			}
			m.mu.Unlock()
			if ctx.Err() == nil {
				m.poke()
			}
		case <-done:
			// A provider that gave up early counts as having sent its set.
			m.mu.Lock()
			pr.ready = true
			m.mu.Unlock()
			m.poke()
			return
		}
	}
}

// visible returns the groups jr contributes now. m.mu is held.
func (jr *jobRun) visible() []kindGroup {
	if jr.prev != nil && !jr.ready() {
		return jr.prev
	}
	var out []kindGroup
	for _, pr := range jr.provs {
		for _, g := range pr.groups {
			out = append(out, kindGroup{pr.kind, g})
		}
	}
	if out == nil && jr.cancel == nil {
		return nil // never started: there is nothing to carry over
	}
	if out == nil {
		out = []kindGroup{}
	}
	return out
}

// startWait is how long the first publish should still wait for a provider's
// first set: 0 when every started provider has sent one, or readyWait passed.
func (m *Manager) startWait() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var wait time.Duration
	for _, jr := range m.jobs {
		if jr.cancel == nil || jr.ready() {
			continue
		}
		if w := readyWait - time.Since(jr.startedAt); w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
	}
	return wait
}

func (jr *jobRun) ready() bool {
	for _, pr := range jr.provs {
		if !pr.ready {
			return false
		}
	}
	return true
}

// merge builds the full target set, resolves conflicts and updates the
// metrics. wait > 0 asks for another merge then, for a changed job whose
// previous targets still stand in.
func (m *Manager) merge() (set []*Target, wait time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()

	var (
		cands   []*Target
		dropped []DroppedTarget
	)
	rejected := map[string]string{}
	for _, name := range sortedJobNames(m.jobs) {
		jr := m.jobs[name]
		groups := jr.visible()
		if jr.prev != nil {
			if jr.ready() || time.Since(jr.startedAt) >= readyWait {
				jr.prev = nil
				groups = jr.visible()
			} else if jr.cancel != nil {
				w := readyWait - time.Since(jr.startedAt)
				if wait == 0 || w < wait {
					wait = w
				}
			}
		}
		slices.SortFunc(groups, func(a, b kindGroup) int {
			return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.g.Source, b.g.Source))
		})
		for _, kg := range groups {
			ts, ds := buildTargets(&jr.job, kg.kind, kg.g)
			for _, d := range ds {
				dropped = append(dropped, d)
				if d.Reason == "" {
					continue // relabel_configs said so: nothing to warn about
				}
				key := name + "\x00" + kg.kind + "\x00" + kg.g.Source + "\x00" + d.Reason
				rejected[key] = d.Reason
				if _, logged := m.rejected[key]; !logged {
					m.log.Warn("target dropped", "job", name, "provider", kg.kind, "source", kg.g.Source, "err", d.Reason)
				}
			}
			cands = append(cands, ts...)
		}
	}
	m.rejected = rejected
	m.rejectedGauge.Set(float64(len(rejected)))
	m.dropped = dropped

	set, conflicts := resolve(cands)
	logged := make(map[string]struct{}, len(conflicts))
	for _, c := range conflicts {
		key := c.key()
		logged[key] = struct{}{}
		if _, ok := m.logged[key]; !ok {
			m.log.Warn("collector found more than once; scraping one",
				"collector", c.Collector, "reason", c.Reason,
				"kept_job", c.Kept.Job, "kept_provider", c.Kept.Provider, "kept_source", c.Kept.Source, "kept_url", c.Kept.URL,
				"dropped_job", c.Dropped.Job, "dropped_provider", c.Dropped.Provider, "dropped_source", c.Dropped.Source, "dropped_url", c.Dropped.URL)
		}
	}
	m.logged = logged
	m.conflicts = conflicts
	m.conflictGauge.Set(float64(len(conflicts)))
	m.targetsGauge.Set(float64(len(set)))
	return set, wait
}

func sortedJobNames(jobs map[string]*jobRun) []string {
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
