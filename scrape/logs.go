package scrape

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

	"github.com/corral-dev/corral/targets"
)

// Pulling agent logs. After each successful scrape a loop pokes the puller,
// which starts a pull of the target's /logs unless one is in flight or the
// last started less than the pull interval ago; the poke never waits. A pull
// GETs /logs?after=CURSOR&limit=1000 with the job's HTTP client and the
// target's token, page after page until caught up (at most logPagesPerPull
// pages), and hands each page to the LogSink. The cursor moves only once the
// sink has stored the page: a page the sink refused is fetched again by the
// next pull, so nothing the agent still holds is lost, and the sink's
// (stream, cursor) key keeps it from being stored twice.

// LogSink stores the records pulled from agents.
type LogSink interface {
	// StoreLogs stores b's records and b's cursor at once, or neither, and
	// returns an error if it did not. Calls for one target never overlap.
	StoreLogs(ctx context.Context, b LogBatch) error
}

// LogBatch is one page of a target's log records.
type LogBatch struct {
	Target *targets.Target
	// Stream is the agent's log stream; it changes when the agent restarts.
	Stream string
	// Cursor is where the next pull goes on from once the batch is stored.
	Cursor  uint64
	Records []LogRecord
}

// LogCursor is where the pull of one collector's logs goes on from.
type LogCursor struct {
	Stream string
	Cursor uint64
}

// LogPullStatus is what the puller knows of one target.
type LogPullStatus struct {
	LogCursor
	LastPull    time.Time // start of the last pull
	LastSuccess time.Time // start of the last pull that caught up
	Result      string    // of the last pull: one of the LogPull… results
	LastError   string    // of the last failed pull, "" once one succeeds
	LastErrorAt time.Time
}

// Results of a pull, the result label of corral_log_pulls_total.
const (
	LogPullSuccess   = "success"    // caught up, or stopped at the page bound
	LogPullNotFound  = "not_found"  // the agent has no /logs (404): retried rarely
	LogPullError     = "error"      // the request failed (network, HTTP status)
	LogPullInvalid   = "invalid"    // the answer broke the /logs protocol
	LogPullSinkError = "sink_error" // the store refused the records: fetched again next time
)

var logPullResults = []string{LogPullSuccess, LogPullNotFound, LogPullError, LogPullInvalid, LogPullSinkError}

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

// puller pulls the logs of every target; see the comment at the top of the file.
type puller struct {
	sink     LogSink
	interval time.Duration // 0: per target, from its scrape interval
	metrics  *Metrics
	sem      chan struct{} // bounds the pulls in flight
	wg       sync.WaitGroup

	mu       sync.Mutex
	states   map[string]*logState
	restored map[string]LogCursor // where the pull of a target without state goes on from
}

// logState is one target's; the puller's mu guards it.
type logState struct {
	busy     bool      // a pull is in flight
	gone     bool      // the target left; drop the state when its pull ends
	next     time.Time // no pull starts before
	failures int       // failed requests in a row
	status   LogPullStatus
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

func markerOf(a *AgentSample) logMarker {
	return logMarker{records: a.LogRecords, start: a.StartTime, known: a.HasLogRecords}
}

func newPuller(o Options) *puller {
	n := o.LogPullConcurrency
	if n <= 0 {
		n = defaultLogPullConcurrency
	}
	p := &puller{sink: o.LogSink, interval: o.LogPullInterval, metrics: o.Metrics, sem: make(chan struct{}, n),
		states: map[string]*logState{}, restored: make(map[string]LogCursor, len(o.LogCursors))}
	for id, c := range o.LogCursors {
		p.restored[id] = c
	}
	return p
}

// poke starts a pull of l's target in the background if one is due. It never
// blocks on the network or the sink. An agent whose scrape a shows no log
// record since the last pull caught up is not asked (corral agents count their
// records in corral_collector_log_records_total), so a quiet fleet costs no
// requests beyond its scrapes.
func (p *puller) poke(ctx context.Context, l *loop, a *AgentSample) {
	id := l.target.Collector
	now := time.Now()
	marker := markerOf(a)
	p.mu.Lock()
	st, ok := p.states[id]
	if !ok {
		st = &logState{status: LogPullStatus{LogCursor: p.restored[id]}}
		p.states[id] = st
	}
	st.gone = false
	if st.busy || now.Before(st.next) || (marker.known && marker == st.pulled) {
		p.mu.Unlock()
		return
	}
	st.busy = true
	from := st.status.LogCursor
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.pull(ctx, l, from, marker)
	}()
}

// pullInterval is the least time between two pulls of l's target.
func (p *puller) pullInterval(l *loop) time.Duration {
	if p.interval > 0 {
		return p.interval
	}
	return max(l.interval, minLogPullInterval)
}

func (p *puller) pull(ctx context.Context, l *loop, from LogCursor, marker logMarker) {
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
	if result == LogPullSuccess && !more {
		p.mu.Lock()
		p.states[l.target.Collector].pulled = marker
		p.mu.Unlock()
	}
	p.finish(l, start, result, err)
}

// finish ends a pull: it records its result and when the next one may start.
func (p *puller) finish(l *loop, start time.Time, result string, err error) {
	id := l.target.Collector
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.states[id]
	st.busy = false
	if st.gone {
		delete(p.states, id)
		p.restored[id] = st.status.LogCursor
		return
	}
	if result == "" {
		return // stopped: the next loop may pull at once
	}
	p.metrics.logPulls.WithLabelValues(result).Inc()
	st.status.LastPull, st.status.Result = start, result
	interval := p.pullInterval(l)
	switch result {
	case LogPullSuccess:
		st.failures = 0
		st.status.LastSuccess, st.status.LastError = start, ""
		st.next = start.Add(interval)
		return
	case LogPullNotFound:
		st.next = time.Now().Add(logNotFoundBackoff)
	case LogPullSinkError:
		st.next = start.Add(interval) // the store's trouble, not the agent's
	default:
		st.failures++
		st.next = time.Now().Add(min(maxLogBackoff, interval<<min(st.failures-1, 10)))
	}
	st.status.LastError, st.status.LastErrorAt = err.Error(), time.Now()
}

// advance records that the sink stored everything up to c.
func (p *puller) advance(id string, c LogCursor) {
	p.mu.Lock()
	p.states[id].status.LogCursor = c
	p.mu.Unlock()
}

// pages fetches and stores pages from cur until caught up or the page bound;
// more says the bound stopped it, with records left on the agent.
func (p *puller) pages(ctx context.Context, l *loop, cur LogCursor) (result string, more bool, err error) {
	base, err := url.Parse(l.target.URL)
	if err != nil {
		return LogPullError, false, fmt.Errorf("target URL: %w", err)
	}
	base.Path, base.RawPath, base.Fragment = "/logs", "", ""
	id := l.target.Collector
	for range logPagesPerPull {
		pg, err := p.fetchPage(ctx, l, base, cur.Cursor)
		if err != nil {
			switch {
			case errors.Is(err, errLogsNotFound):
				return LogPullNotFound, false, err
			case errors.Is(err, errBadPage):
				return LogPullInvalid, false, err
			}
			return LogPullError, false, err
		}
		if pg.Stream != cur.Stream {
			if cur.Cursor != 0 {
				// The agent restarted: the cursor belongs to the old stream. Read
				// the new one from its start.
				cur = LogCursor{Stream: pg.Stream}
				continue
			}
			cur.Stream = pg.Stream
		}
		if pg.Next < cur.Cursor {
			return LogPullInvalid, false, fmt.Errorf("%w: next_cursor %d is behind after=%d of the same stream", errBadPage, pg.Next, cur.Cursor)
		}
		if cur.Cursor+pg.Missed > math.MaxInt64 {
			return LogPullInvalid, false, fmt.Errorf("%w: %d missed after %d is out of range", errBadPage, pg.Missed, cur.Cursor)
		}
		records := pg.Records
		if pg.Missed > 0 {
			if len(records) > 0 && records[0].Cursor <= cur.Cursor+pg.Missed {
				return LogPullInvalid, false, fmt.Errorf("%w: %d missed after %d, yet the first record is %d", errBadPage, pg.Missed, cur.Cursor, records[0].Cursor)
			}
			records = append([]LogRecord{missedRecord(cur.Cursor, pg.Missed, records)}, records...)
		}
		if len(records) == 0 && pg.Next == cur.Cursor {
			return LogPullSuccess, false, nil // caught up
		}
		next := LogCursor{Stream: cur.Stream, Cursor: max(pg.Next, cur.Cursor+pg.Missed)}
		if err := p.sink.StoreLogs(ctx, LogBatch{Target: l.target, Stream: next.Stream, Cursor: next.Cursor, Records: records}); err != nil {
			return LogPullSinkError, false, fmt.Errorf("store %d log records: %w", len(records), err)
		}
		cur = next
		p.advance(id, cur)
		p.metrics.logRecords.Add(float64(len(records)))
		p.metrics.logMissed.Add(float64(pg.Missed))
		if len(pg.Records) < logPageLimit {
			return LogPullSuccess, false, nil
		}
	}
	return LogPullSuccess, true, nil // the rest on the next pull
}

// missedRecord is the WARN record that stands for the records the agent
// dropped from its ring before corral pulled them: cursors after+1 to
// after+n. It takes the last of those cursors, which no real record can have,
// so storing it twice is storing it once.
func missedRecord(after, n uint64, next []LogRecord) LogRecord {
	at := time.Now()
	if len(next) > 0 {
		at = next[0].Time
	}
	attrs, _ := json.Marshal(map[string]any{"missed": n, "first_cursor": after + 1, "last_cursor": after + n, "source": "corral"})
	return LogRecord{Cursor: after + n, Time: at, Level: "WARN", LevelNum: 4, Attrs: attrs,
		Message: fmt.Sprintf("corral missed %d log records: the agent dropped them from its buffer before they were pulled", n)}
}

// fetchPage GETs one page through the loop's fetcher: the job's client and
// the target's own token, as for /metrics.
func (p *puller) fetchPage(ctx context.Context, l *loop, base *url.URL, after uint64) (logPage, error) {
	u := *base
	u.RawQuery = "after=" + strconv.FormatUint(after, 10) + "&limit=" + strconv.Itoa(logPageLimit)
	ctx, cancel := context.WithTimeout(ctx, max(l.timeout, minLogPageTimeout))
	defer cancel()
	req, err := l.fetch.newRequest(ctx, u.String())
	if err != nil {
		return logPage{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.fetch.client.Do(req)
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
		return logPage{}, &httpStatusError{code: resp.StatusCode, status: resp.Status}
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

// forget marks the states of targets no longer scraped; each is dropped once
// no pull of it is in flight, its cursor kept for when it comes back.
func (p *puller) forget(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, st := range p.states {
		if keep[id] {
			continue
		}
		if st.busy {
			st.gone = true
			continue
		}
		delete(p.states, id)
		p.restored[id] = st.status.LogCursor
	}
}

func (p *puller) status(id string) (LogPullStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.states[id]
	if !ok {
		return LogPullStatus{}, false
	}
	return st.status, true
}
