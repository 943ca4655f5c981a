package scrape_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"

	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/targetstest"
)

type harness struct {
	m    *scrape.Manager
	e    *health.Evaluator
	reg  *prometheus.Registry
	stop context.CancelFunc
}

// newHarness is a manager of job whose results go to a health evaluator with
// th (optional) as every target's thresholds.
func newHarness(t testing.TB, job scrape.JobConfig, th ...health.Thresholds) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	var thresholds health.Thresholds
	if len(th) > 0 {
		thresholds = th[0]
	}
	e := health.NewEvaluator(health.Options{Thresholds: func(*targets.Target) health.Thresholds { return thresholds }})
	ctx, cancel := context.WithCancel(context.Background())
	m := scrape.NewManager(ctx, scrape.Options{Sink: e, Metrics: scrape.NewMetrics(reg)})
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
	if err := m.ApplyJobs([]scrape.JobConfig{job}); err != nil {
		t.Fatal(err)
	}
	h := &harness{m: m, e: e, reg: reg, stop: cancel}
	t.Cleanup(func() { cancel(); m.Stop() })
	return h
}

func (h *harness) scrapeOnce(t *testing.T, tg *targets.Target) *scrape.Result {
	t.Helper()
	r, err := h.m.ScrapeNow(context.Background(), tg.Collector)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitStatus(t *testing.T, e *health.Evaluator, id string, want fleet.Status, within time.Duration) health.Health {
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
func waitFresh(t *testing.T, e *health.Evaluator, id string) health.Health {
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
	srv, _ := exportertest.Synthetic(t, "a1", synthetic.Config{Rate: 50, Series: 20}, time.Second, nil)
	h := newHarness(t, scrape.JobConfig{})
	tg := targetstest.FromURL(t, "a1", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	waitStatus(t, h.e, "a1", fleet.StatusOnline, 10*time.Second)
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
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	}))
	defer loop.Close()
	// 11 MiB of headers, over net/http's 10 MiB limit, sent on a hijacked
	// connection (net/http's own server would refuse to write them).
	headers := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Junk: " + strings.Repeat("j", 1000) + "\r\n"
		for range 11 << 10 {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
		io.WriteString(c, "\r\nup 1\n")
	}))
	defer headers.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := ln.Addr().String()
	ln.Close()

	h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, BodySizeLimit: 64 << 10, SampleLimit: 40})
	cases := []struct{ name, url, want string }{
		{"refused", "http://" + closedAddr + "/metrics", scrape.ReasonRefused},
		{"timeout", hanging.URL + "/metrics", scrape.ReasonTimeout},
		{"body_limit", big.URL + "/metrics", scrape.ReasonBodyLimit},
		{"parse", malformed.URL + "/metrics", scrape.ReasonParse},
		{"sample_limit", many.URL + "/metrics", scrape.ReasonSampleLimit},
		{"http_404", notFound.URL + "/metrics", "http_404"},
		{"tls", tlsSrv.URL + "/metrics", scrape.ReasonTLS},
		{"dns", "http://corral-test.invalid:9/metrics", scrape.ReasonDNS},
		{"redirects", loop.URL + "/metrics", scrape.ReasonRedirects},
		{"header_limit", headers.URL + "/metrics", scrape.ReasonHeaderLimit},
	}
	var ts []*targets.Target
	for _, c := range cases {
		tg := targetstest.FromURL(t, c.name, c.url)
		if c.name == "header_limit" {
			// 11 MiB take longer than the job's 2 s on a loaded machine (-race,
			// the whole suite at once): a timeout would hide the reason tested.
			tg.Meta["__scrape_timeout__"] = "60s"
		}
		ts = append(ts, tg)
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
	h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, BodySizeLimit: 256 << 10})
	tg := targetstest.FromURL(t, "endless", endless.URL)
	h.m.Sync([]*targets.Target{tg})
	var before, after runtime.MemStats
	for i := range 30 {
		if r := h.scrapeOnce(t, tg); r.Reason != scrape.ReasonBodyLimit {
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

// TestAnnouncedBodyOverLimitIsNotRead: a target whose Content-Length is over
// the limit fails at once, without corral reading (and buffering) the first
// limit bytes of a body it will refuse anyway.
func TestAnnouncedBodyOverLimitIsNotRead(t *testing.T) {
	const size = 200 << 20
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		line := bytes.Repeat([]byte("filler_metric 1\n"), 4096)
		for n := 0; n < size; n += len(line) {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	const limit = 8 << 20
	h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 5 * time.Second, BodySizeLimit: limit})
	tg := targetstest.FromURL(t, "huge", huge.URL)
	h.m.Sync([]*targets.Target{tg})
	h.scrapeOnce(t, tg) // connections, pools
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const scrapes = 5
	for i := range scrapes {
		r := h.scrapeOnce(t, tg)
		if r.Reason != scrape.ReasonBodyLimit || !strings.Contains(r.Err.Error(), "announced a body of 209715200 bytes") {
			t.Fatalf("scrape %d: %q %v", i, r.Reason, r.Err)
		}
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > scrapes<<20 {
		t.Errorf("%d MiB allocated for %d scrapes of a body announced over the limit: it was read", alloc>>20, scrapes)
	}
}

func TestKilledAgentGoesOffline(t *testing.T) {
	srv, _ := exportertest.Synthetic(t, "k1", synthetic.Config{Rate: 10}, time.Second, nil)
	h := newHarness(t, scrape.JobConfig{}, health.Thresholds{OfflineAfter: 600 * time.Millisecond})
	tg := targetstest.FromURL(t, "k1", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	waitStatus(t, h.e, "k1", fleet.StatusOnline, 10*time.Second)
	killed := time.Now()
	srv.CloseClientConnections()
	srv.Close()
	got := waitStatus(t, h.e, "k1", fleet.StatusOffline, 10*time.Second)
	if took := time.Since(killed); took > 600*time.Millisecond+2*200*time.Millisecond+200*time.Millisecond {
		t.Errorf("offline after %s; want within grace + one interval", took)
	}
	if !strings.Contains(got.Reason, "offline after") {
		t.Errorf("reason %q", got.Reason)
	}
}

func TestSyncKeepsUnchangedLoops(t *testing.T) {
	srvA, _ := exportertest.Synthetic(t, "a", synthetic.Config{Rate: 5}, time.Second, nil)
	srvB, _ := exportertest.Synthetic(t, "b", synthetic.Config{Rate: 5}, time.Second, nil)
	h := newHarness(t, scrape.JobConfig{})
	a, b := targetstest.FromURL(t, "a", srvA.URL+"/metrics"), targetstest.FromURL(t, "b", srvB.URL+"/metrics")
	h.m.Sync([]*targets.Target{a, b})
	loopA := scrape.LoopOf(h.m, "a")
	b2 := *b
	b2.URL = srvB.URL + "/metrics?x=1"
	b2.Hash++
	h.m.Sync([]*targets.Target{a, &b2})
	sameA, newB := scrape.LoopOf(h.m, "a") == loopA, scrape.LoopTarget(h.m, "b") == &b2
	if !sameA || !newB {
		t.Errorf("unchanged loop kept: %v, changed loop replaced: %v", sameA, newB)
	}
	h.m.Sync([]*targets.Target{&b2})
	if h.e.Len() != 1 || len(h.m.Targets()) != 1 {
		t.Errorf("removed target still evaluated: %d, %d", h.e.Len(), len(h.m.Targets()))
	}
}

func BenchmarkScrape(b *testing.B) {
	srv, _ := exportertest.Synthetic(b, "bench", synthetic.Config{Rate: 10, Series: 150}, time.Second, nil)
	h := newHarness(b, scrape.JobConfig{Interval: time.Hour, Timeout: 5 * time.Second})
	tg := targetstest.FromURL(b, "bench", srv.URL+"/metrics")
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
	agentSrv, _ := exportertest.Synthetic(b, "bench", synthetic.Config{Rate: 10, Series: 150}, time.Second, nil)
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
	h := newHarness(b, scrape.JobConfig{Interval: time.Hour, Timeout: 5 * time.Second})
	h.m.Sync([]*targets.Target{targetstest.FromURL(b, "static", static.URL+"/metrics")})
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

// TestJSONBodyNamesTheFormat: a target that answers JSON (by its Content-Type
// or by its body) fails with reason parse and an error that says the format
// is wrong, not only where the parser stumbled; a text body whose parse fails
// keeps the parser's message.
func TestJSONBodyNamesTheFormat(t *testing.T) {
	serve := func(ctype, body string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			io.WriteString(w, body)
		}))
		t.Cleanup(s.Close)
		return s
	}
	cases := []struct {
		name, ctype, body, want string
	}{
		{"json_type", "application/json; charset=utf-8", `{"status":"ok"}`, "the target answered application/json, not the Prometheus text format: is the URL its /metrics?"},
		{"json_sniffed", "text/plain", "\n[{\"a\":1}]\n", "the target answered a JSON body, not the Prometheus text format"},
		{"html", "text/html; charset=utf-8", "<html><body>hi</body></html>", "the target answered text/html"},
		{"text", "text/plain; version=0.0.4", "this is { not the exposition format\n", ""},
	}
	h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second})
	var ts []*targets.Target
	for _, c := range cases {
		ts = append(ts, targetstest.FromURL(t, c.name, serve(c.ctype, c.body).URL+"/metrics"))
	}
	h.m.Sync(ts)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.scrapeOnce(t, ts[i])
			if r.Err == nil || r.Reason != scrape.ReasonParse {
				t.Fatalf("reason %q (err %v), want parse", r.Reason, r.Err)
			}
			msg := r.Err.Error()
			if c.want == "" {
				if strings.Contains(msg, "not the Prometheus text format") {
					t.Errorf("text body: %q blames the format", msg)
				}
				return
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want it to contain %q", msg, c.want)
			}
		})
	}
}
