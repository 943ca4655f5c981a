package scrape

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// loop scrapes one target on its schedule.
type loop struct {
	target   *targets.Target
	job      *job
	interval time.Duration
	timeout  time.Duration
	fetch    fetcher
	sink     Sink
	appender Appender // nil without remote_write
	metrics  *Metrics
	pool     *sync.Pool // of *Snapshot
	parses   *sync.Pool // of *parsed, only the scrapes in flight need one
	key      string     // what makes a loop the same across a Sync
	// forced fails every scrape without fetching (target_limit exceeded).
	forced   error
	rewriter rewriter

	latest atomic.Pointer[Snapshot]
	mu     sync.Mutex // one scrape at a time (scheduled or on demand)

	cancel context.CancelFunc
	done   chan struct{}

	// The schedule (see start): ctx ends the loop, scheduled is when the
	// next scrape is due; tmu guards the timer and the two flags.
	ctx       context.Context
	onDone    func()
	scheduled time.Time
	tmu       sync.Mutex
	timer     *time.Timer
	stopped   bool // ctx ended
	busy      bool // a scheduled scrape is running
}

// offset spreads loops over the interval by a stable hash of the target, as
// Prometheus does, so a fleet is not scraped in one burst.
func (l *loop) offset(now time.Time) time.Duration {
	base := int64(l.target.Hash % uint64(l.interval))
	next := (base - now.UnixNano()%int64(l.interval)) % int64(l.interval)
	if next < 0 {
		next += int64(l.interval)
	}
	return time.Duration(next)
}

// start schedules the loop's first scrape and returns at once. No
// goroutine waits between scrapes: a timer starts one for each scrape, which
// ends with it, so an idle target costs a timer and no goroutine stack (at
// 10,000 targets, 10,000 goroutines fewer, each with a stack grown by the
// parse). onDone runs once, after ctx ended and the scrape in flight, if any,
// returned; done is closed then too.
func (l *loop) start(ctx context.Context, onDone func()) {
	l.ctx, l.onDone = ctx, onDone
	now := time.Now()
	wait := l.offset(now)
	l.scheduled = now.Add(wait)
	l.tmu.Lock()
	l.timer = time.AfterFunc(wait, l.tick)
	l.tmu.Unlock()
	context.AfterFunc(ctx, func() {
		l.tmu.Lock()
		l.stopped = true
		l.timer.Stop()
		busy := l.busy
		l.tmu.Unlock()
		if !busy {
			l.finish()
		}
	})
}

func (l *loop) finish() {
	close(l.done)
	if l.onDone != nil {
		l.onDone()
	}
}

// tick is one scheduled scrape, on the timer's goroutine.
func (l *loop) tick() {
	l.tmu.Lock()
	if l.stopped {
		l.tmu.Unlock()
		return
	}
	l.busy = true
	l.tmu.Unlock()
	r := l.scrape(l.ctx, l.scheduled)
	l.metrics.observe(r)
	if l.ctx.Err() == nil {
		l.sink.Observe(r)
	}
	l.scheduled = l.scheduled.Add(l.interval)
	now := time.Now()
	for !l.scheduled.After(now) {
		// Overran a whole interval: skip the missed slots rather than burst.
		l.scheduled = l.scheduled.Add(l.interval)
		l.metrics.skipped.Inc()
	}
	l.tmu.Lock()
	l.busy = false
	if l.stopped {
		l.tmu.Unlock()
		l.finish()
		return
	}
	l.timer.Reset(l.scheduled.Sub(now))
	l.tmu.Unlock()
}

// scrape fetches, parses and extracts once. scheduled is when it should have started.
func (l *loop) scrape(ctx context.Context, scheduled time.Time) *Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	r := &Result{Target: l.target, Client: &l.fetch.TargetClient, Interval: l.interval, Timeout: l.timeout, Start: start}
	if !scheduled.IsZero() {
		r.Lag = max(0, start.Sub(scheduled))
	}
	if l.forced != nil {
		r.Err, r.Reason = l.forced, classify(l.forced)
		if l.appender != nil {
			l.appender.Append(r, nil, false)
		}
		return r
	}
	snap := l.pool.Get().(*Snapshot)
	snap.final, snap.kept = false, nil
	ps := l.parses.Get().(*parsed)
	sctx, cancel := context.WithTimeout(ctx, l.timeout)
	ctype, gz, err := l.fetch.fetch(sctx, &snap.stored)
	cancel()
	if err == nil {
		snap.gzipped = gz
		snap.om = strings.HasPrefix(ctype, "application/openmetrics-text")
		body := snap.stored.Bytes()
		if gz {
			body, err = inflate(l.fetch.gzipReaders, body, ps, l.fetch.bodyLimit)
		}
		if err == nil {
			limit := l.job.sampleLimit
			if len(l.job.cfg.MetricRelabel) > 0 {
				limit = 0 // counted after relabelling, as Prometheus does
			}
			if perr := ps.p.Parse(body, snap.om, limit); perr != nil {
				if isSampleLimit(perr) {
					err = &sampleLimitError{limit: l.job.sampleLimit}
				} else {
					err = &parseError{err: wrongFormat(ctype, body, perr)}
				}
			}
		}
		if err == nil {
			r.Bytes = len(body)
		}
	}
	if err == nil {
		err = l.postProcess(snap, ps)
	}
	r.Duration = time.Since(start)
	if err != nil {
		r.Err = err
		r.Reason = classify(err)
		r.Bytes = 0
		if snap.kept == ps {
			snap.kept = nil
		}
		l.release(snap)
		l.parses.Put(ps)
		if l.appender != nil {
			l.appender.Append(r, nil, false)
		}
		return r
	}
	// Health reads the samples as the agent exposed them, whatever
	// metric_relabel_configs keep for /federate.
	samples := ps.p.Samples()
	final := samples
	if snap.final {
		final = snap.relabeled
	}
	r.Samples = len(final)
	var prev *AgentSample
	if old := l.latest.Load(); old != nil {
		prev = &old.agent
	}
	r.Agent = ExtractAgent(samples, prev)
	snap.agent = r.Agent
	snap.At = start
	if l.appender != nil {
		l.appender.Append(r, final, snap.final)
	}
	// The snapshot keeps the body alone (a reader parses it again, see
	// Held); the parse goes back to the pool unless relabelled samples
	// point into it.
	if snap.kept != ps {
		l.parses.Put(ps)
	}
	old := l.latest.Swap(snap)
	if old != nil && old.readers.Load() == 0 {
		l.release(old)
	}
	return r
}

// postProcess applies the job's metric_relabel_configs and label limits to a
// parsed scrape. Without them it does nothing: the hot path stays as it was.
func (l *loop) postProcess(snap *Snapshot, ps *parsed) error {
	cfg := &l.job.cfg
	lim := labelLimits{count: cfg.LabelLimit, nameLen: cfg.LabelNameLengthLimit, valueLen: cfg.LabelValueLengthLimit}
	if len(cfg.MetricRelabel) == 0 {
		if lim.any() {
			return lim.checkSamples(ps.p.Samples(), l.target)
		}
		return nil
	}
	out, buf, err := l.rewriter.rewrite(ps.p.Samples(), l.target, cfg.MetricRelabel, lim, snap.relabeled, snap.rbuf)
	if err != nil {
		return err
	}
	// The relabelled samples keep their family indexes into this parse:
	// the snapshot keeps it.
	snap.relabeled, snap.rbuf, snap.final, snap.kept = out, buf, true, ps
	if l.job.sampleLimit > 0 && len(out) > l.job.sampleLimit {
		return &sampleLimitError{limit: l.job.sampleLimit}
	}
	return nil
}

// release returns a snapshot's memory to the pool unless it grew far beyond the
// usual, so one huge scrape does not pin its buffer for good.
func (l *loop) release(s *Snapshot) {
	if s.kept != nil {
		l.parses.Put(s.kept)
		s.kept = nil
	}
	if s.stored.Cap() > 4<<20 {
		return
	}
	l.pool.Put(s)
}

// Acquire returns the latest snapshot, held until Release; nil if there is none.
func (l *loop) acquire() *Snapshot {
	for {
		s := l.latest.Load()
		if s == nil {
			return nil
		}
		s.readers.Add(1)
		if l.latest.Load() == s {
			return s
		}
		s.readers.Add(-1)
	}
}

func isSampleLimit(err error) bool { return errors.Is(err, expo.ErrSampleLimit) }
