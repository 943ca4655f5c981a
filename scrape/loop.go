package scrape

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// Snapshot is the latest successful scrape of one target, kept for /federate and
// the API. Its samples point into its body; the loop reuses the memory of a
// snapshot nobody holds, so a scrape does not copy or allocate a new one.
type Snapshot struct {
	At      time.Time
	Body    []byte
	Parser  expo.Parser
	buf     bytes.Buffer
	agent   AgentSample
	readers atomic.Int32

	// final is set when metric_relabel_configs rewrote the samples: they are
	// in relabeled, their names and labels in rbuf, each with all its labels.
	final     bool
	relabeled []expo.Sample
	rbuf      []byte
}

// Samples of the snapshot: as scraped, or as metric_relabel_configs left
// them (see Final).
func (s *Snapshot) Samples() []expo.Sample {
	if s.final {
		return s.relabeled
	}
	return s.Parser.Samples()
}

// Final reports whether the samples carry all their labels, the target's
// merged in (metric_relabel_configs rewrote them): a writer must not add
// the target's labels again.
func (s *Snapshot) Final() bool { return s.final }

// Families of the snapshot.
func (s *Snapshot) Families() []expo.Family { return s.Parser.Families() }

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
	key      string     // what makes a loop the same across a Sync
	// forced fails every scrape without fetching (target_limit exceeded).
	forced   error
	rewriter rewriter

	latest atomic.Pointer[Snapshot]
	mu     sync.Mutex // one scrape at a time (scheduled or on demand)

	cancel context.CancelFunc
	done   chan struct{}
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

func (l *loop) run(ctx context.Context) {
	defer close(l.done)
	wait := l.offset(time.Now())
	timer := time.NewTimer(wait)
	defer timer.Stop()
	scheduled := time.Now().Add(wait)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		r := l.scrape(ctx, scheduled)
		l.metrics.observe(r)
		if ctx.Err() != nil {
			return
		}
		l.sink.Observe(r)
		scheduled = scheduled.Add(l.interval)
		now := time.Now()
		for !scheduled.After(now) {
			// Overran a whole interval: skip the missed slots rather than burst.
			scheduled = scheduled.Add(l.interval)
			l.metrics.skipped.Inc()
		}
		timer.Reset(scheduled.Sub(now))
	}
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
	snap.final = false
	sctx, cancel := context.WithTimeout(ctx, l.timeout)
	ctype, err := l.fetch.fetch(sctx, &snap.buf)
	cancel()
	if err == nil {
		snap.Body = snap.buf.Bytes()
		om := strings.HasPrefix(ctype, "application/openmetrics-text")
		limit := l.job.sampleLimit
		if len(l.job.cfg.MetricRelabel) > 0 {
			limit = 0 // counted after relabelling, as Prometheus does
		}
		if perr := snap.Parser.Parse(snap.Body, om, limit); perr != nil {
			if isSampleLimit(perr) {
				err = &sampleLimitError{limit: l.job.sampleLimit}
			} else {
				err = &parseError{err: wrongFormat(ctype, snap.Body, perr)}
			}
		}
	}
	if err == nil {
		err = l.postProcess(snap)
	}
	r.Duration = time.Since(start)
	if err != nil {
		r.Err = err
		r.Reason = classify(err)
		snap.Body = nil
		l.release(snap)
		if l.appender != nil {
			l.appender.Append(r, nil, false)
		}
		return r
	}
	// Health reads the samples as the agent exposed them, whatever
	// metric_relabel_configs keep for /federate.
	samples := snap.Parser.Samples()
	r.Samples = len(snap.Samples())
	r.Bytes = len(snap.Body)
	var prev *AgentSample
	if old := l.latest.Load(); old != nil {
		prev = &old.agent
	}
	r.Agent = ExtractAgent(samples, prev)
	snap.agent = r.Agent
	snap.At = start
	if l.appender != nil {
		l.appender.Append(r, snap.Samples(), snap.final)
	}
	old := l.latest.Swap(snap)
	if old != nil && old.readers.Load() == 0 {
		l.release(old)
	}
	return r
}

// postProcess applies the job's metric_relabel_configs and label limits to a
// parsed scrape. Without them it does nothing: the hot path stays as it was.
func (l *loop) postProcess(snap *Snapshot) error {
	cfg := &l.job.cfg
	lim := labelLimits{count: cfg.LabelLimit, nameLen: cfg.LabelNameLengthLimit, valueLen: cfg.LabelValueLengthLimit}
	if len(cfg.MetricRelabel) == 0 {
		if lim.any() {
			return lim.checkSamples(snap.Parser.Samples(), l.target)
		}
		return nil
	}
	out, buf, err := l.rewriter.rewrite(snap.Parser.Samples(), l.target, cfg.MetricRelabel, lim, snap.relabeled, snap.rbuf)
	if err != nil {
		return err
	}
	snap.relabeled, snap.rbuf, snap.final = out, buf, true
	if l.job.sampleLimit > 0 && len(out) > l.job.sampleLimit {
		return &sampleLimitError{limit: l.job.sampleLimit}
	}
	return nil
}

// release returns a snapshot's memory to the pool unless it grew far beyond the
// usual, so one huge scrape does not pin its buffer for good.
func (l *loop) release(s *Snapshot) {
	if s.buf.Cap() > 4<<20 {
		return
	}
	s.Body = nil
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

// Release ends a hold from acquire. A snapshot replaced meanwhile is left to the
// garbage collector.
func (s *Snapshot) Release() { s.readers.Add(-1) }

func isSampleLimit(err error) bool { return errors.Is(err, expo.ErrSampleLimit) }
