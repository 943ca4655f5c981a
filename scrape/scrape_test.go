package scrape

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/targets"
)

// realAgent starts a corral agent with the synthetic collector behind an HTTP server.
func realAgent(t testing.TB, name string, cfg synthetic.Config, mod func(*exporter.Options)) (*httptest.Server, *exporter.Agent) {
	t.Helper()
	opts := exporter.Options{Name: name, Kind: "synthetic", Interval: time.Second, ExpectedItems: cfg.Rate, ExpectedInterval: time.Second}
	if mod != nil {
		mod(&opts)
	}
	a, err := exporter.New(synthetic.New(cfg, 1), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return srv, a
}

func target(t testing.TB, name, rawURL string) *targets.Target {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &targets.Target{Collector: name, Job: "test", ScrapeJob: "test", Instance: u.Host, URL: rawURL,
		Labels: map[string]string{"collector": name, "job": "test", "instance": u.Host},
		Meta:   map[string]string{"__address__": u.Host}, Hash: uint64(len(name)) * 7919}
}

type harness struct {
	m    *Manager
	e    *Evaluator
	reg  *prometheus.Registry
	stop context.CancelFunc
}

func newHarness(t testing.TB, job JobConfig) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := NewEvaluator(nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(ctx, Options{Evaluator: e, Metrics: NewMetrics(reg)})
	if job.Name == "" {
		job.Name = "test"
	}
	if job.Interval == 0 {
		job.Interval = 200 * time.Millisecond
	}
	if job.Timeout == 0 {
		job.Timeout = 150 * time.Millisecond
	}
	if job.BodySizeLimit == 0 {
		job.BodySizeLimit = 1 << 20
	}
	job.HTTPClient = commoncfg.DefaultHTTPClientConfig
	if err := m.ApplyJobs([]JobConfig{job}); err != nil {
		t.Fatal(err)
	}
	h := &harness{m: m, e: e, reg: reg, stop: cancel}
	t.Cleanup(func() { cancel(); m.Stop() })
	return h
}

func (h *harness) scrapeOnce(t *testing.T, tg *targets.Target) *Result {
	t.Helper()
	r, err := h.m.ScrapeNow(context.Background(), tg.Collector)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitStatus(t *testing.T, e *Evaluator, id, want string, within time.Duration) Health {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h, _ := e.Get(id)
		if h.Status == want {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s (%s), want %s within %s", id, h.Status, h.Reason, want, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFresh waits until a collector has reported an item.
func waitFresh(t *testing.T, e *Evaluator, id string) Health {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h, _ := e.Get(id); h.HasFreshness {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s reported no item within 10s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScrapeRealAgent(t *testing.T) {
	srv, _ := realAgent(t, "a1", synthetic.Config{Rate: 50, Series: 20}, nil)
	h := newHarness(t, JobConfig{})
	tg := target(t, "a1", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	waitStatus(t, h.e, "a1", StatusOnline, 10*time.Second)
	got := waitFresh(t, h.e, "a1")
	if !got.Up || !got.Agent.HasContract || got.Agent.State != "running" || got.Agent.Kind != "synthetic" || !got.HasFreshness || got.Samples < 40 {
		t.Errorf("health: %+v", got)
	}
	if !got.Agent.HasStartTime || !got.Agent.HasRSS {
		t.Error("process metrics not picked up")
	}
	held, ok := h.m.Latest("a1")
	if !ok || len(held.Samples()) != got.Samples {
		t.Fatalf("latest snapshot: %v", ok)
	}
	held.Release()
}

func TestFailureReasons(t *testing.T) {
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hanging.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 200000 {
			fmt.Fprintf(w, "big_metric{i=\"%d\"} 1\n", i)
		}
	}))
	defer big.Close()
	malformed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "this is { not the exposition format\n")
	}))
	defer malformed.Close()
	many := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 50 {
			fmt.Fprintf(w, "m{i=\"%d\"} 1\n", i)
		}
	}))
	defer many.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up 1\n") }))
	defer tlsSrv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := ln.Addr().String()
	ln.Close()

	h := newHarness(t, JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, BodySizeLimit: 64 << 10, SampleLimit: 40})
	cases := []struct{ name, url, want string }{
		{"refused", "http://" + closedAddr + "/metrics", ReasonRefused},
		{"timeout", hanging.URL + "/metrics", ReasonTimeout},
		{"body_limit", big.URL + "/metrics", ReasonBodyLimit},
		{"parse", malformed.URL + "/metrics", ReasonParse},
		{"sample_limit", many.URL + "/metrics", ReasonSampleLimit},
		{"http_404", notFound.URL + "/metrics", "http_404"},
		{"tls", tlsSrv.URL + "/metrics", ReasonTLS},
		{"dns", "http://corral-test.invalid:9/metrics", ReasonDNS},
	}
	var ts []*targets.Target
	for _, c := range cases {
		ts = append(ts, target(t, c.name, c.url))
	}
	h.m.Sync(ts)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.scrapeOnce(t, ts[i])
			if r.Err == nil || r.Reason != c.want {
				t.Errorf("reason %q (err %v), want %q", r.Reason, r.Err, c.want)
			}
			hh, _ := h.e.Get(c.name)
			if hh.Up || hh.LastReason != c.want || hh.ConsecutiveFailures != 1 || hh.LastError == "" {
				t.Errorf("health: up %v reason %q failures %d error %q", hh.Up, hh.LastReason, hh.ConsecutiveFailures, hh.LastError)
			}
		})
	}
	mfs, _ := h.reg.Gather()
	var buf bytes.Buffer
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&buf, mf)
	}
	for _, c := range cases {
		if !strings.Contains(buf.String(), fmt.Sprintf(`corral_scrape_failures_total{reason="%s"} 1`, c.want)) {
			t.Errorf("corral_scrape_failures_total{reason=%q} not 1", c.want)
		}
	}
}

// TestBodyLimitDoesNotGrowMemory scrapes an endless body many times: each stops at
// the limit, and the heap stays flat.
func TestBodyLimitDoesNotGrowMemory(t *testing.T) {
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := []byte("filler_metric{x=\"0123456789012345678901234567890123456789\"} 1\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	h := newHarness(t, JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, BodySizeLimit: 256 << 10})
	tg := target(t, "endless", endless.URL)
	h.m.Sync([]*targets.Target{tg})
	var before, after runtime.MemStats
	for i := range 30 {
		if r := h.scrapeOnce(t, tg); r.Reason != ReasonBodyLimit {
			t.Fatalf("scrape %d: %q %v", i, r.Reason, r.Err)
		}
		if i == 4 {
			runtime.GC()
			runtime.ReadMemStats(&before)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 2<<20 {
		t.Errorf("heap grew by %d bytes over 25 scrapes past the limit", grow)
	}
}

func TestKilledAgentGoesOffline(t *testing.T) {
	srv, _ := realAgent(t, "k1", synthetic.Config{Rate: 10}, nil)
	h := newHarness(t, JobConfig{Thresholds: Thresholds{OfflineAfter: 600 * time.Millisecond}})
	tg := target(t, "k1", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	waitStatus(t, h.e, "k1", StatusOnline, 10*time.Second)
	killed := time.Now()
	srv.CloseClientConnections()
	srv.Close()
	got := waitStatus(t, h.e, "k1", StatusOffline, 10*time.Second)
	if took := time.Since(killed); took > 600*time.Millisecond+2*200*time.Millisecond+200*time.Millisecond {
		t.Errorf("offline after %s; want within grace + one interval", took)
	}
	if !strings.Contains(got.Reason, "offline after") {
		t.Errorf("reason %q", got.Reason)
	}
}

func TestSyncKeepsUnchangedLoops(t *testing.T) {
	srvA, _ := realAgent(t, "a", synthetic.Config{Rate: 5}, nil)
	srvB, _ := realAgent(t, "b", synthetic.Config{Rate: 5}, nil)
	h := newHarness(t, JobConfig{})
	a, b := target(t, "a", srvA.URL+"/metrics"), target(t, "b", srvB.URL+"/metrics")
	h.m.Sync([]*targets.Target{a, b})
	h.m.mu.Lock()
	loopA := h.m.loops["a"]
	h.m.mu.Unlock()
	b2 := *b
	b2.URL = srvB.URL + "/metrics?x=1"
	b2.Hash++
	h.m.Sync([]*targets.Target{a, &b2})
	h.m.mu.Lock()
	sameA, newB := h.m.loops["a"] == loopA, h.m.loops["b"].target == &b2
	h.m.mu.Unlock()
	if !sameA || !newB {
		t.Errorf("unchanged loop kept: %v, changed loop replaced: %v", sameA, newB)
	}
	h.m.Sync([]*targets.Target{&b2})
	if h.e.Len() != 1 || len(h.m.Targets()) != 1 {
		t.Errorf("removed target still evaluated: %d, %d", h.e.Len(), len(h.m.Targets()))
	}
}

func TestFleetAndFederateOutput(t *testing.T) {
	srv1, _ := realAgent(t, "f1", synthetic.Config{Rate: 10, Series: 5}, nil)
	srv2, _ := realAgent(t, "f2", synthetic.Config{Rate: 10, Series: 5}, func(o *exporter.Options) { o.StartPaused = true })
	h := newHarness(t, JobConfig{})
	t1, t2 := target(t, "f1", srv1.URL+"/metrics"), target(t, "f2", srv2.URL+"/metrics")
	t1.Labels["team"] = "data"
	h.m.Sync([]*targets.Target{t1, t2})
	waitStatus(t, h.e, "f1", StatusOnline, 10*time.Second)
	waitFresh(t, h.e, "f1")
	waitStatus(t, h.e, "f2", StatusPaused, 10*time.Second)

	var fleet bytes.Buffer
	if err := WriteFleet(&fleet, h.e); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(fleet.Bytes()))
	if err != nil {
		t.Fatalf("fleet output does not parse: %v\n%s", err, fleet.String())
	}
	for _, want := range []string{
		`corral_collector_status{collector="f1",instance="` + t1.Instance + `",job="test",team="data",status="online"} 1`,
		`corral_collector_status{collector="f2",instance="` + t2.Instance + `",job="test",status="paused"} 1`,
		`corral_collector_up{collector="f1"`, `corral_collector_freshness_seconds{collector="f1"`,
		`corral_collectors{status="online"} 1`, `corral_collectors{status="paused"} 1`,
	} {
		if !strings.Contains(fleet.String(), want) {
			t.Errorf("fleet output lacks %s", want)
		}
	}
	var mfs []*dto.MetricFamily
	for _, mf := range fams {
		mfs = append(mfs, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}

	var fed bytes.Buffer
	sel, _ := ParseSelector(`{job="test"}`)
	if err := WriteFederate(&fed, h.m, h.e, []Selector{sel}); err != nil {
		t.Fatal(err)
	}
	fp := expfmt.NewTextParser(model.UTF8Validation)
	ffams, err := fp.TextToMetricFamilies(bytes.NewReader(fed.Bytes()))
	if err != nil {
		t.Fatalf("federate output does not parse: %v\n%s", err, fed.String())
	}
	st := ffams["corral_collector_state"]
	if st == nil || len(st.GetMetric()) != 12 {
		t.Fatalf("federated corral_collector_state: %v", st)
	}
	if ffams["up"] == nil || ffams["corral_collector_collection_duration_seconds"].GetType().String() != "HISTOGRAM" {
		t.Errorf("federate families: up %v, histogram type %v", ffams["up"] != nil, ffams["corral_collector_collection_duration_seconds"].GetType())
	}
	if !strings.Contains(fed.String(), `corral_collector_info{collector="f1",instance="`+t1.Instance+`",job="test",team="data",exported_collector="f1",kind="synthetic"`) {
		t.Errorf("target labels not applied / clash not renamed:\n%s", grepLines(fed.String(), "corral_collector_info"))
	}
	fed.Reset()
	sel, _ = ParseSelector(`corral_collector_state{state="paused"}`)
	WriteFederate(&fed, h.m, h.e, []Selector{sel})
	if n := strings.Count(fed.String(), "\ncorral_collector_state{"); n != 2 {
		t.Errorf("selector picked %d series, want 2:\n%s", n, fed.String())
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestParseSelector(t *testing.T) {
	good := []string{`up`, `{job="x"}`, `a{b="c",d!="e",f=~"g.*",h!~"i"}`, `{__name__=~"corral_.+"}`, `x{ y = 'z' , }`, "x{y=`a\\b`}", `{"quoted.name"="v"}`}
	for _, s := range good {
		if _, err := ParseSelector(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := []string{``, `{}`, `{job=~".*"}`, `{job=}`, `{job="x"`, `a b`, `{job="x" foo}`, `{job~"x"}`, `{job=~"("}`, `9abc`}
	for _, s := range bad {
		if _, err := ParseSelector(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	sel, _ := ParseSelector(`{job=~"a|b",x!="1"}`)
	if !sel[0].Matches("a") || sel[0].Matches("ab") || !sel[1].Matches("") || sel[1].Matches("1") {
		t.Error("matching semantics")
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{`up`, `{job="x"}`, `a{b=~"c.*",d!~"e"}`, `{a='b'}`, "{a=`b`}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		for _, m := range sel {
			m.Matches("x")
		}
	})
}

func BenchmarkScrape(b *testing.B) {
	srv, _ := realAgent(b, "bench", synthetic.Config{Rate: 10, Series: 150}, nil)
	h := newHarness(b, JobConfig{Interval: time.Hour, Timeout: 5 * time.Second})
	tg := target(b, "bench", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	r, _ := h.m.ScrapeNow(context.Background(), "bench")
	b.ReportMetric(float64(r.Samples), "samples/scrape")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r, _ := h.m.ScrapeNow(context.Background(), "bench"); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkScrapeStatic measures the scraper alone: the body of a real agent (≈200
// samples) served pre-rendered, so the agent's own work is not in the figure.
func BenchmarkScrapeStatic(b *testing.B) {
	agentSrv, _ := realAgent(b, "bench", synthetic.Config{Rate: 10, Series: 150}, nil)
	resp, err := http.Get(agentSrv.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(body)
	}))
	defer static.Close()
	h := newHarness(b, JobConfig{Interval: time.Hour, Timeout: 5 * time.Second})
	h.m.Sync([]*targets.Target{target(b, "static", static.URL+"/metrics")})
	r, _ := h.m.ScrapeNow(context.Background(), "static")
	if r.Err != nil {
		b.Fatal(r.Err)
	}
	b.ReportMetric(float64(r.Samples), "samples/scrape")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r, _ := h.m.ScrapeNow(context.Background(), "static"); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}
