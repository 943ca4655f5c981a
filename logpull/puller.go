// Package logpull pulls the agents' /logs into corral's store. It is a
// scrape.Sink: after each successful scrape of a target it decides whether a
// pull of that target's log is due, and runs it in the background.
package logpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
)

// Pulling agent logs. After each successful scrape the puller (the scrape
// loop's Sink, through the server's fan-out) starts a pull of the target's /logs unless one is in flight or the
// last started less than the pull interval ago; the poke never waits. A pull
// GETs /logs?after=CURSOR&limit=1000 with the job's HTTP client and the
// target's token, page after page until caught up (at most logPagesPerPull
// pages), and hands each page to the Store. The cursor moves only once the
// sink has stored the page: a page the sink refused is fetched again by the
// next pull, so nothing the agent still holds is lost, and the sink's
// (stream, cursor) key keeps it from being stored twice.

// Store keeps the records pulled from agents.
type Store interface {
	// StoreLogs stores b's records and b's cursor at once, or neither, and
	// returns an error if it did not. Calls for one target never overlap.
	StoreLogs(ctx context.Context, b Batch) error
}

// Batch is one page of a target's log records.
type Batch struct {
	Target *targets.Target
	// Stream is the agent's log stream; it changes when the agent restarts.
	Stream string
	// Cursor is where the next pull goes on from once the batch is stored.
	Cursor  uint64
	Records []Record
}

// Position is where the pull of one collector's logs goes on from.
type Position struct {
	Stream string
	Cursor uint64
}

// Status is what the puller knows of one target.
type Status struct {
	Position
	LastPull    time.Time // start of the last pull
	LastSuccess time.Time // start of the last pull that caught up
	Result      string    // of the last pull: one of the Result… values
	LastError   string    // of the last failed pull, "" once one succeeds
	LastErrorAt time.Time
}

// Results of a pull, the result label of corral_log_pulls_total.
const (
	ResultSuccess   = "success"    // caught up, or stopped at the page bound
	ResultNotFound  = "not_found"  // the agent has no /logs (404): retried rarely
	ResultError     = "error"      // the request failed (network, HTTP status)
	ResultInvalid   = "invalid"    // the answer broke the /logs protocol
	ResultSinkError = "sink_error" // the store refused the records: fetched again next time
)

var results = []string{ResultSuccess, ResultNotFound, ResultError, ResultInvalid, ResultSinkError}

const (
	// logPageLimit is the records asked for per page (the agent's maximum).
	logPageLimit = 1000
	// logPagesPerPull bounds one pull, so a target with a big backlog does not
	// hold a pull slot for long; the next pull goes on.
	logPagesPerPull = 10
	// maxLogPageBytes bounds the body of one page.
	maxLogPageBytes = 16 << 20
	// minLogPullInterval is the floor of the default pull interval.
	minLogPullInterval = 10 * time.Second
	// logNotFoundBackoff is how long an agent without /logs is left alone.
	logNotFoundBackoff = 30 * time.Minute
	// maxLogBackoff caps the wait after failed requests.
	maxLogBackoff = 10 * time.Minute
	// minLogPageTimeout is the floor of one page request's timeout (else the
	// scrape timeout): a page of 1,000 records is bigger than most scrapes.
	minLogPageTimeout = 10 * time.Second
	// defaultLogPullConcurrency is the default bound of pulls in flight.
	defaultLogPullConcurrency = 4
)

var errLogsNotFound = errors.New("the agent has no /logs (HTTP 404); pulls of it are retried every 30m")

// Options of a Puller.
type Options struct {
	// Store keeps what is pulled (required).
	Store Store
	// Interval is the least time between two pulls of one target's logs
	// (default: its scrape interval, at least 10s).
	Interval time.Duration
	// Concurrency bounds the pulls in flight over all targets (default 4).
	Concurrency int
	// Cursors are where the pulls go on from, by collector: what the store
	// remembers when the server starts.
	Cursors map[string]Position
	// Registerer takes the puller's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Puller pulls the logs of every target; see the comment at the top of the
// file. It is a scrape.Sink.
type Puller struct {
	ctx      context.Context
	sink     Store
	interval time.Duration // 0: per target, from its scrape interval
	metrics  metrics
	sem      chan struct{} // bounds the pulls in flight
	wg       sync.WaitGroup

	mu       sync.Mutex
	states   map[string]*logState
	restored map[string]Position // where the pull of a target without state goes on from
}

// pullTarget is what one pull needs of the target's loop.
type pullTarget struct {
	target            *targets.Target
	client            *scrape.TargetClient
	interval, timeout time.Duration
}

// logState is one target's; the puller's mu guards it.
type logState struct {
	busy     bool               // a pull is in flight
	cancel   context.CancelFunc // of the pull in flight
	gone     bool               // the target left; drop the state when its pull ends
	next     time.Time          // no pull starts before
	failures int                // failed requests in a row
	status   Status
	// pulled is what the agent's scrape said of its log when the last pull
	// that caught up started: while a scrape says the same, there is nothing
	// new to pull.
	pulled logMarker
}

// logMarker is an agent's corral_collector_log_records_total with its process
// start time (the counter starts over with a new process).
type logMarker struct {
	records, start float64
	known          bool
}

func markerOf(a *scrape.AgentSample) logMarker {
	return logMarker{records: a.LogRecords, start: a.StartTime, known: a.HasLogRecords}
}

// New returns a puller whose pulls run until ctx ends.
func New(ctx context.Context, o Options) *Puller {
	n := o.Concurrency
	if n <= 0 {
		n = defaultLogPullConcurrency
	}
	p := &Puller{ctx: ctx, sink: o.Store, interval: o.Interval, metrics: newMetrics(o.Registerer), sem: make(chan struct{}, n),
		states: map[string]*logState{}, restored: make(map[string]Position, len(o.Cursors))}
	for id, c := range o.Cursors {
		p.restored[id] = c
	}
	return p
}

// Track implements scrape.Sink; the puller learns of a target from its results.
func (p *Puller) Track(*targets.Target, time.Duration, time.Duration) {}

// Observe implements scrape.Sink: after a successful scrape it starts a pull
// of the target in the background if one is due. It never blocks on the
// network or the store. An agent whose scrape shows no log record since the
// last pull caught up is not asked (corral agents count their records in
// corral_collector_log_records_total), so a quiet fleet costs no requests
// beyond its scrapes.
func (p *Puller) Observe(r *scrape.Result) {
	if r.Err != nil || r.Client == nil || p.ctx.Err() != nil {
		return
	}
	id := r.Target.Collector
	now := time.Now()
	marker := markerOf(&r.Agent)
	p.mu.Lock()
	st, ok := p.states[id]
	if !ok {
		st = &logState{status: Status{Position: p.restored[id]}}
		p.states[id] = st
	}
	st.gone = false
	if st.busy || now.Before(st.next) || (marker.known && marker == st.pulled) {
		p.mu.Unlock()
		return
	}
	st.busy = true
	ctx, cancel := context.WithCancel(p.ctx)
	st.cancel = cancel
	from := st.status.Position
	pt := pullTarget{target: r.Target, client: r.Client, interval: r.Interval, timeout: r.Timeout}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer cancel()
		p.pull(ctx, &pt, from, marker)
	}()
}

// Wait waits for the pulls in flight; call it once ctx ended and the scrape
// loops stopped, so no pull starts any more.
func (p *Puller) Wait() { p.wg.Wait() }

// pullInterval is the least time between two pulls of l's target.
func (p *Puller) pullInterval(l *pullTarget) time.Duration {
	if p.interval > 0 {
		return p.interval
	}
	return max(l.interval, minLogPullInterval)
}

func (p *Puller) pull(ctx context.Context, l *pullTarget, from Position, marker logMarker) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		p.finish(l, time.Time{}, "", nil)
		return
	}
	start := time.Now()
	result, more, err := p.pages(ctx, l, from)
	<-p.sem
	if ctx.Err() != nil {
		result = "" // the loop stopped: not the agent's failure
	}
	if result == ResultSuccess && !more {
		p.mu.Lock()
		p.states[l.target.Collector].pulled = marker
		p.mu.Unlock()
	}
	p.finish(l, start, result, err)
}

// finish ends a pull: it records its result and when the next one may start.
func (p *Puller) finish(l *pullTarget, start time.Time, result string, err error) {
	id := l.target.Collector
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.states[id]
	st.busy, st.cancel = false, nil
	if st.gone {
		delete(p.states, id)
		p.restored[id] = st.status.Position
		return
	}
	if result == "" {
		return // stopped: the next loop may pull at once
	}
	p.metrics.pulls.WithLabelValues(result).Inc()
	st.status.LastPull, st.status.Result = start, result
	interval := p.pullInterval(l)
	switch result {
	case ResultSuccess:
		st.failures = 0
		st.status.LastSuccess, st.status.LastError = start, ""
		st.next = start.Add(interval)
		return
	case ResultNotFound:
		st.next = time.Now().Add(logNotFoundBackoff)
	case ResultSinkError:
		st.next = start.Add(interval) // the store's trouble, not the agent's
	default:
		st.failures++
		st.next = time.Now().Add(min(maxLogBackoff, interval<<min(st.failures-1, 10)))
	}
	st.status.LastError, st.status.LastErrorAt = err.Error(), time.Now()
}

// advance records that the sink stored everything up to c.
func (p *Puller) advance(id string, c Position) {
	p.mu.Lock()
	p.states[id].status.Position = c
	p.mu.Unlock()
}

// pages fetches and stores pages from cur until caught up or the page bound;
// more says the bound stopped it, with records left on the agent.
func (p *Puller) pages(ctx context.Context, l *pullTarget, cur Position) (result string, more bool, err error) {
	base, err := url.Parse(l.target.URL)
	if err != nil {
		return ResultError, false, fmt.Errorf("target URL: %w", err)
	}
	base.Path, base.RawPath, base.Fragment = "/logs", "", ""
	id := l.target.Collector
	for range logPagesPerPull {
		pg, err := p.fetchPage(ctx, l, base, cur.Cursor)
		if err != nil {
			switch {
			case errors.Is(err, errLogsNotFound):
				return ResultNotFound, false, err
			case errors.Is(err, errBadPage):
				return ResultInvalid, false, err
			}
			return ResultError, false, err
		}
		if pg.Stream != cur.Stream {
			if cur.Cursor != 0 {
				// The agent restarted: the cursor belongs to the old stream. Read
				// the new one from its start.
				cur = Position{Stream: pg.Stream}
				continue
			}
			cur.Stream = pg.Stream
		}
		if pg.Next < cur.Cursor {
			return ResultInvalid, false, fmt.Errorf("%w: next_cursor %d is behind after=%d of the same stream", errBadPage, pg.Next, cur.Cursor)
		}
		if cur.Cursor+pg.Missed > math.MaxInt64 {
			return ResultInvalid, false, fmt.Errorf("%w: %d missed after %d is out of range", errBadPage, pg.Missed, cur.Cursor)
		}
		records := pg.Records
		if pg.Missed > 0 {
			if len(records) > 0 && records[0].Cursor <= cur.Cursor+pg.Missed {
				return ResultInvalid, false, fmt.Errorf("%w: %d missed after %d, yet the first record is %d", errBadPage, pg.Missed, cur.Cursor, records[0].Cursor)
			}
			records = append([]Record{missedRecord(cur.Cursor, pg.Missed, records)}, records...)
		}
		if len(records) == 0 && pg.Next == cur.Cursor {
			return ResultSuccess, false, nil // caught up
		}
		next := Position{Stream: cur.Stream, Cursor: max(pg.Next, cur.Cursor+pg.Missed)}
		if err := p.sink.StoreLogs(ctx, Batch{Target: l.target, Stream: next.Stream, Cursor: next.Cursor, Records: records}); err != nil {
			return ResultSinkError, false, fmt.Errorf("store %d log records: %w", len(records), err)
		}
		cur = next
		p.advance(id, cur)
		p.metrics.records.Add(float64(len(records)))
		p.metrics.missed.Add(float64(pg.Missed))
		if len(pg.Records) < logPageLimit {
			return ResultSuccess, false, nil
		}
	}
	return ResultSuccess, true, nil // the rest on the next pull
}

// missedRecord is the WARN record that stands for the records the agent
// dropped from its ring before corral pulled them: cursors after+1 to
// after+n. It takes the last of those cursors, which no real record can have,
// so storing it twice is storing it once.
func missedRecord(after, n uint64, next []Record) Record {
	at := time.Now()
	if len(next) > 0 {
		at = next[0].Time
	}
	attrs, _ := json.Marshal(map[string]any{"missed": n, "first_cursor": after + 1, "last_cursor": after + n, "source": "corral"})
	return Record{Cursor: after + n, Time: at, Level: "WARN", LevelNum: 4, Attrs: attrs,
		Message: fmt.Sprintf("corral missed %d log records: the agent dropped them from its buffer before they were pulled", n)}
}

// fetchPage GETs one page through the loop's client: the job's client and
// the target's own token, as for /metrics.
func (p *Puller) fetchPage(ctx context.Context, l *pullTarget, base *url.URL, after uint64) (logPage, error) {
	u := *base
	u.RawQuery = "after=" + strconv.FormatUint(after, 10) + "&limit=" + strconv.Itoa(logPageLimit)
	ctx, cancel := context.WithTimeout(ctx, max(l.timeout, minLogPageTimeout))
	defer cancel()
	req, err := l.client.NewRequest(ctx, u.String())
	if err != nil {
		return logPage{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return logPage{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		return logPage{}, errLogsNotFound
	default:
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		return logPage{}, &scrape.HTTPStatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLogPageBytes+1))
	if err != nil {
		return logPage{}, err
	}
	if len(body) > maxLogPageBytes {
		return logPage{}, fmt.Errorf("%w: the body is over %d bytes", errBadPage, maxLogPageBytes)
	}
	return decodeLogPage(body, logPageLimit, time.Now())
}

// Forget implements scrape.Sink: it marks the states of targets no longer
// scraped and stops their pulls in flight; each is dropped once no pull of it
// is in flight, its cursor kept for when it comes back.
func (p *Puller) Forget(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, st := range p.states {
		if keep[id] {
			continue
		}
		if st.busy {
			st.gone = true
			st.cancel()
			continue
		}
		delete(p.states, id)
		p.restored[id] = st.status.Position
	}
}

// Status returns what the puller knows of a collector: its cursor and the
// result and error of its last pull; false when it was never pulled.
func (p *Puller) Status(id string) (Status, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.states[id]
	if !ok {
		return Status{}, false
	}
	return st.status, true
}

// metrics are the puller's series on the server's /metrics.
type metrics struct {
	pulls   *prometheus.CounterVec
	records prometheus.Counter
	missed  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_log_pulls_total",
			Help: "Pulls of agents' /logs by result: success, not_found, error, invalid, sink_error.",
		}, []string{"result"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_log_records_total", Help: "Log records pulled from agents and stored.",
		}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_log_missed_records_total", Help: "Log records agents dropped from their buffers before they were pulled.",
		}),
	}
	for _, r := range results {
		m.pulls.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.pulls, m.records, m.missed)
	}
	return m
}
