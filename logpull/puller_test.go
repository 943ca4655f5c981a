package logpull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"
	"go.uber.org/goleak"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/targetstest"
)

// checkLeaks fails t if goroutines started during t outlive it and its cleanups
// (registered first, so it runs after them).
func checkLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// logAgent is a real agent behind an HTTP server whose handler can be swapped
// for another agent's: an agent restarted behind the same address.
type logAgent struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	hits    atomic.Int64 // requests to /logs
	agent   *exporter.Agent
	log     *slog.Logger // records into the agent's /logs buffer
}

// newLogAgent starts an agent whose /logs ring holds ring records.
func newLogAgent(t *testing.T, name string, ring int, mod func(*exporter.Options)) *logAgent {
	t.Helper()
	la := &logAgent{}
	la.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/logs" {
			la.hits.Add(1)
		}
		(*la.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(la.srv.Close)
	la.restart(t, name, ring, mod)
	return la
}

// restart puts a new agent, with a new log stream, behind the same address.
func (la *logAgent) restart(t *testing.T, name string, ring int, mod func(*exporter.Options)) {
	t.Helper()
	opts := exporter.Options{Name: name, Kind: "synthetic", Interval: time.Hour, Logs: exporter.NewLogBuffer(ring)}
	if mod != nil {
		mod(&opts)
	}
	a, err := exporter.New(synthetic.New(synthetic.Config{Rate: 1}, 1), opts)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	la.agent = a
	la.log = slog.New(a.Logs().Handler(nil, slog.LevelDebug))
	la.handler.Store(&h)
}

// emit logs n records numbered from first: "record N" with attribute n=N.
func (la *logAgent) emit(first, n int) {
	for i := first; i < first+n; i++ {
		la.log.Info(fmt.Sprintf("record %d", i), "n", i)
	}
}

func (la *logAgent) stream() string { return la.agent.Logs().Page(0, 1).Stream }

// memSink keeps what the puller stores, keyed as the store keys it, and can be
// made to fail.
type memSink struct {
	mu       sync.Mutex
	seen     map[string]bool
	records  []Record // in the order stored
	streams  []string // stream of each record
	cursor   Position
	dups     int
	fail     error
	inFlight int
	maxIn    int
	block    chan struct{} // when set, StoreLogs waits for it to close
}

func newMemSink() *memSink { return &memSink{seen: map[string]bool{}} }

func (s *memSink) StoreLogs(ctx context.Context, b Batch) error {
	s.mu.Lock()
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	block, fail := s.block, s.fail
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inFlight--; s.mu.Unlock() }()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range b.Records {
		k := fmt.Sprintf("%s/%s/%d", b.Target.Collector, b.Stream, r.Cursor)
		if s.seen[k] {
			s.dups++
			continue
		}
		s.seen[k] = true
		s.records = append(s.records, r)
		s.streams = append(s.streams, b.Stream)
	}
	s.cursor = Position{Stream: b.Stream, Cursor: b.Cursor}
	return nil
}

func (s *memSink) setFail(err error) { s.mu.Lock(); s.fail = err; s.mu.Unlock() }

func (s *memSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.records))
	for i, r := range s.records {
		out[i] = r.Message
	}
	return out
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
	}
}

// waitRecords waits until the sink holds n records.
func waitRecords(t *testing.T, s *memSink, n int) []string {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d records", n), func() bool { return len(s.messages()) >= n })
	return s.messages()
}

// numbered is "record first" … "record first+n-1".
func numbered(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("record %d", first+i)
	}
	return out
}

func equalStrings(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// harness is a scrape manager scraping every 20ms whose results go to a
// puller (nil: to none) pulling logs every 20ms.
type harness struct {
	*scrape.Manager
	p   *Puller
	reg *prometheus.Registry
}

// LogPull is the puller's status of a collector.
func (h *harness) LogPull(id string) (Status, bool) {
	if h.p == nil {
		return Status{}, false
	}
	return h.p.Status(id)
}

// scrapes is corral_scrapes_total.
func (h *harness) scrapes() float64 { return gathered(h.reg, "corral_scrapes_total", "") }

// tracker is a sink that only counts good scrapes.
type tracker struct{ ok atomic.Int64 }

func (*tracker) Track(*targets.Target, time.Duration, time.Duration) {}
func (*tracker) Forget(map[string]bool)                              {}
func (k *tracker) Observe(r *scrape.Result) {
	if r.Err == nil {
		k.ok.Add(1)
	}
}

func logHarness(t *testing.T, sink Store, mod func(*scrape.Options, *Options)) (*harness, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	so := scrape.Options{Metrics: scrape.NewMetrics(reg)}
	po := Options{Store: sink, Interval: 20 * time.Millisecond, Registerer: reg}
	if mod != nil {
		mod(&so, &po)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{reg: reg}
	sinks := scrape.Sinks{&tracker{}}
	if sink != nil {
		h.p = New(ctx, po)
		sinks = append(sinks, h.p)
	}
	so.Sink = sinks
	h.Manager = scrape.NewManager(ctx, so)
	t.Cleanup(func() {
		cancel()
		h.Stop()
		if h.p != nil {
			h.p.Wait()
		}
	})
	job := scrape.JobConfig{Name: "test", Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, BodySizeLimit: 1 << 20, HTTPClient: commoncfg.DefaultHTTPClientConfig}
	if err := h.ApplyJobs([]scrape.JobConfig{job}); err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		panic(err)
	}
	return d.GetCounter().GetValue()
}

func pulls(reg *prometheus.Registry, result string) float64 {
	return gathered(reg, "corral_log_pulls_total", result)
}

// gathered is the value of the counter name (with first label value label,
// "" for none) on reg, -1 if absent.
func gathered(reg *prometheus.Registry, name, label string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestLogPullPaging: a backlog of several pages arrives whole, in order, once;
// later records follow.
func TestLogPullPaging(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "a", 5000, nil)
	la.emit(1, 2500)
	sink := newMemSink()
	m, reg := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
	if got := waitRecords(t, sink, 2500); !equalStrings(got, numbered(1, 2500)) {
		t.Fatalf("got %d records, not records 1…2500 in order", len(got))
	}
	la.emit(2501, 10)
	if got := waitRecords(t, sink, 2510); !equalStrings(got, numbered(1, 2510)) {
		t.Fatalf("after 10 more: %d records, not 1…2510 in order", len(got))
	}
	r := sink.records[0]
	var attrs map[string]any
	if err := json.Unmarshal(r.Attrs, &attrs); err != nil || attrs["n"] != float64(1) || r.Level != "INFO" || r.LevelNum != 0 || r.Time.IsZero() {
		t.Errorf("first record %+v (attrs %v)", r, err)
	}
	if sink.dups != 0 {
		t.Errorf("%d records handed over twice", sink.dups)
	}
	st, ok := m.LogPull("a")
	if !ok || st.Stream != la.stream() || st.Cursor != 2510 || st.Result != ResultSuccess || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	if got := counterValue(m.p.metrics.records); got != 2510 {
		t.Errorf("corral_log_records_total %v, want 2510", got)
	}
	if pulls(reg, ResultSuccess) < 1 {
		t.Error("no successful pull counted")
	}
}

// TestLogPullAgentRestart: a restarted agent (a new stream behind the same
// address) is read from its start, whether its new cursors are behind or past
// the old stream's, and nothing is stored twice.
func TestLogPullAgentRestart(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "a", 1000, nil)
	la.emit(1, 50)
	sink := newMemSink()
	m, _ := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
	waitRecords(t, sink, 50)
	first := la.stream()

	la.restart(t, "a", 1000, nil) // fewer records than the old cursor
	la.emit(51, 3)
	waitRecords(t, sink, 53)
	second := la.stream()

	la.restart(t, "a", 1000, nil) // more records than the old cursor: none skipped
	la.emit(54, 20)
	got := waitRecords(t, sink, 73)
	third := la.stream()

	if !equalStrings(got, numbered(1, 73)) || sink.dups != 0 {
		t.Fatalf("records %v (%d handed over twice)", got, sink.dups)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i, want := range map[int]string{0: first, 49: first, 50: second, 52: second, 53: third, 72: third} {
		if sink.streams[i] != want {
			t.Errorf("record %d in stream %s, want %s", i+1, sink.streams[i], want)
		}
	}
	if sink.records[53].Cursor != 1 || sink.cursor != (Position{Stream: third, Cursor: 20}) {
		t.Errorf("new stream's first cursor %d, sink cursor %+v", sink.records[53].Cursor, sink.cursor)
	}
}

// TestLogPullMissed: records the agent's ring dropped before a pull show as one
// WARN record with their count; nothing else is invented.
func TestLogPullMissed(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "a", 10, nil)
	la.emit(1, 25) // the ring keeps 16…25
	sink := newMemSink()
	m, _ := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
	got := waitRecords(t, sink, 11)
	if !equalStrings(got[1:], numbered(16, 10)) {
		t.Fatalf("records %v", got)
	}
	sink.mu.Lock()
	w := sink.records[0]
	sink.mu.Unlock()
	var attrs map[string]any
	_ = json.Unmarshal(w.Attrs, &attrs)
	if w.Level != "WARN" || w.LevelNum != 4 || !strings.Contains(w.Message, "missed 15 log records") || attrs["missed"] != float64(15) || w.Cursor != 15 {
		t.Errorf("missed record %+v (attrs %v)", w, attrs)
	}
	la.emit(26, 5)
	got = waitRecords(t, sink, 16)
	if !equalStrings(got[11:], numbered(26, 5)) {
		t.Errorf("after the gap: %v", got[11:])
	}
	if v := counterValue(m.p.metrics.missed); v != 15 {
		t.Errorf("corral_log_missed_records_total %v, want 15", v)
	}
}

// TestLogPullSinkFailure: while the sink fails nothing advances; once it
// recovers every record arrives once.
func TestLogPullSinkFailure(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "a", 1000, nil)
	la.emit(1, 30)
	sink := newMemSink()
	sink.setFail(errors.New("database is down"))
	m, reg := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
	waitFor(t, "failed pulls", func() bool { return pulls(reg, ResultSinkError) >= 3 })
	st, _ := m.LogPull("a")
	if st.Cursor != 0 || st.Result != ResultSinkError || !strings.Contains(st.LastError, "database is down") || st.LastErrorAt.IsZero() {
		t.Errorf("status while failing: %+v", st)
	}
	la.emit(31, 5)
	sink.setFail(nil)
	got := waitRecords(t, sink, 35)
	if !equalStrings(got, numbered(1, 35)) || sink.dups != 0 {
		t.Fatalf("after recovery: %v (%d twice)", got, sink.dups)
	}
	waitFor(t, "a clear error", func() bool { st, _ := m.LogPull("a"); return st.LastError == "" && st.Cursor == 35 })
}

// TestLogPullNotFoundBacksOff: a plain exporter without /logs is asked once,
// not at every scrape, and the scrapes go on.
func TestLogPullNotFoundBacksOff(t *testing.T) {
	checkLeaks(t)
	var logHits, scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			scrapes.Add(1)
			io.WriteString(w, "# TYPE up gauge\nup 1\n")
		case "/logs":
			logHits.Add(1)
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sink := newMemSink()
	m, reg := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "plain", srv.URL+"/metrics")})
	waitFor(t, "30 scrapes", func() bool { return scrapes.Load() >= 30 })
	if n := logHits.Load(); n != 1 {
		t.Errorf("/logs asked %d times over 30 scrapes, want once", n)
	}
	st, ok := m.LogPull("plain")
	if !ok || st.Result != ResultNotFound || !strings.Contains(st.LastError, "404") {
		t.Errorf("status %+v", st)
	}
	if v := pulls(reg, ResultNotFound); v != 1 {
		t.Errorf("not_found pulls %v, want 1", v)
	}
}

// TestLogPullToken: /logs takes the same bearer token as /metrics, sent from
// the target's own token.
func TestLogPullToken(t *testing.T) {
	checkLeaks(t)
	sum := sha256.Sum256([]byte("s3cret"))
	la := newLogAgent(t, "tok", 100, func(o *exporter.Options) { o.MetricsTokenSHA256 = hex.EncodeToString(sum[:]) })
	la.emit(1, 3)
	sink := newMemSink()
	m, _ := logHarness(t, sink, func(o *scrape.Options, _ *Options) {
		o.Token = func(*targets.Target) string { return "s3cret" }
	})
	m.Sync([]*targets.Target{targetstest.FromURL(t, "tok", la.srv.URL+"/metrics")})
	if got := waitRecords(t, sink, 3); !equalStrings(got, numbered(1, 3)) {
		t.Errorf("records %v", got)
	}
}

// TestLogPullRestoredCursor: the pull goes on from the cursor the store
// remembered, and a cursor of another stream starts the agent's from 0.
func TestLogPullRestoredCursor(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		name  string
		from  func(la *logAgent) Position
		first int
	}{
		{"same stream", func(la *logAgent) Position { return Position{Stream: la.stream(), Cursor: 7} }, 8},
		{"old stream", func(*logAgent) Position { return Position{Stream: "before-the-restart", Cursor: 7} }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la := newLogAgent(t, "a", 100, nil)
			la.emit(1, 10)
			sink := newMemSink()
			m, _ := logHarness(t, sink, func(_ *scrape.Options, o *Options) { o.Cursors = map[string]Position{"a": tc.from(la)} })
			m.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
			want := numbered(tc.first, 11-tc.first)
			waitRecords(t, sink, len(want))
			time.Sleep(100 * time.Millisecond) // several more pulls: nothing else comes
			if got := sink.messages(); !equalStrings(got, want) {
				t.Errorf("records %v, want %v", got, want)
			}
		})
	}
}

// TestLogPullNeverBlocksScrapes: a sink that hangs holds up neither the scrapes
// nor other targets, and one target never has two pulls in flight.
func TestLogPullNeverBlocksScrapes(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "a", 100, nil)
	la.emit(1, 5)
	sink := newMemSink()
	block := make(chan struct{})
	sink.block = block
	m, reg := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
	waitFor(t, "a pull in flight", func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return sink.inFlight == 1 })
	before := m.scrapes()
	waitFor(t, "scrapes while the sink hangs", func() bool { return m.scrapes() >= before+10 })
	if hits := la.hits.Load(); hits != 1 {
		t.Errorf("/logs asked %d times while a pull was in flight", hits)
	}
	close(block)
	waitRecords(t, sink, 5)
	if sink.maxIn != 1 {
		t.Errorf("%d pulls of one target in flight at once", sink.maxIn)
	}
	if pulls(reg, ResultSuccess) < 1 {
		t.Error("no pull succeeded after the sink came back")
	}
}

// TestLogPullDisabled: without a puller among the scrape's sinks (logs.pull
// off) no /logs request is made.
func TestLogPullDisabled(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "a", 100, nil)
	la.emit(1, 5)
	h, _ := logHarness(t, nil, nil)
	h.Sync([]*targets.Target{targetstest.FromURL(t, "a", la.srv.URL+"/metrics")})
	waitFor(t, "ten scrapes", func() bool { return h.scrapes() >= 10 })
	if n := la.hits.Load(); n != 0 {
		t.Errorf("/logs asked %d times without a puller", n)
	}
}

// TestLogPullOnlyWhenThereIsSomething: an agent that exposes
// corral_collector_log_records_total is not asked for /logs while the counter
// stands still; a new record brings a pull.
func TestLogPullOnlyWhenThereIsSomething(t *testing.T) {
	checkLeaks(t)
	la := newLogAgent(t, "quiet", 100, nil)
	la.emit(1, 3)
	sink := newMemSink()
	m, _ := logHarness(t, sink, nil)
	m.Sync([]*targets.Target{targetstest.FromURL(t, "quiet", la.srv.URL+"/metrics")})
	waitRecords(t, sink, 3)
	time.Sleep(100 * time.Millisecond) // a pull that overlapped the first records may still run
	hits := la.hits.Load()
	before := m.scrapes()
	waitFor(t, "ten more scrapes", func() bool { return m.scrapes() >= before+10 })
	if got := la.hits.Load(); got != hits {
		t.Fatalf("%d /logs requests while nothing was logged (scrape interval and pull interval 20ms)", got-hits)
	}
	la.emit(4, 1)
	if got := waitRecords(t, sink, 4); !equalStrings(got, numbered(1, 4)) {
		t.Fatalf("after a new record: %v", got)
	}
}
