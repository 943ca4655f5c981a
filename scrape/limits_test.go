package scrape_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/targetstest"
)

// serveBody is a target that answers body with ctype and remembers the
// Accept header of the last request.
func serveBody(t testing.TB, ctype, body string) (*httptest.Server, func() string) {
	t.Helper()
	var (
		mu     sync.Mutex
		accept string
	)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		accept = r.Header.Get("Accept")
		mu.Unlock()
		w.Header().Set("Content-Type", ctype)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s, func() string { mu.Lock(); defer mu.Unlock(); return accept }
}

func relabelConfigs(t testing.TB, y string) []*relabel.Config {
	t.Helper()
	var rcs []*relabel.Config
	if err := yaml.Unmarshal([]byte(y), &rcs); err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		if err := rc.Validate(model.LegacyValidation); err != nil {
			t.Fatal(err)
		}
	}
	return rcs
}

const agentBody = `# TYPE corral_collector_state gauge
corral_collector_state{state="running"} 1
# TYPE http_requests_total counter
http_requests_total{code="200",job="exposed"} 5
http_requests_total{code="500",job="exposed"} 1
# TYPE go_goroutines gauge
go_goroutines 9
# TYPE debug_value gauge
debug_value{path="a\"b"} 3
`

// series renders a snapshot's samples as name{labels} value, sorted.
func series(h scrape.Held) []string {
	var out []string
	for _, s := range h.Samples() {
		var lbl []string
		expo.EachLabel(s.Labels, func(n, v []byte) bool {
			lbl = append(lbl, string(n)+"="+string(expo.Unescape(nil, v)))
			return true
		})
		slices.Sort(lbl)
		out = append(out, string(s.Name)+"{"+strings.Join(lbl, ",")+"}")
	}
	slices.Sort(out)
	return out
}

// TestMetricRelabelConfigs: a job's metric_relabel_configs, with Prometheus's
// relabelling, see each sample with the target's labels merged in (a clash
// kept as exported_job), drop, rename and rewrite them; what they leave is the
// snapshot /federate serves, while health still reads the samples as scraped.
func TestMetricRelabelConfigs(t *testing.T) {
	srv, _ := serveBody(t, "text/plain; version=0.0.4", agentBody)
	rcs := relabelConfigs(t, `
- source_labels: [__name__]
  regex: 'go_.*|corral_collector_state'
  action: drop
- source_labels: [__name__, code]
  regex: 'http_requests_total;5..'
  target_label: __name__
  replacement: http_errors_total
- source_labels: [instance]
  target_label: host
- regex: exported_job
  action: labeldrop
`)
	h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, MetricRelabel: rcs, SampleLimit: 3})
	tg := targetstest.FromURL(t, "a", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	r := h.scrapeOnce(t, tg)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if !r.Agent.HasContract || r.Agent.State != "running" {
		t.Errorf("health lost the contract the relabelling dropped: %+v", r.Agent)
	}
	held, ok := h.m.Latest("a")
	if !ok {
		t.Fatal("no snapshot")
	}
	defer held.Release()
	if !held.Final() {
		t.Error("a relabelled snapshot is not marked final")
	}
	inst := tg.Instance
	want := []string{
		`debug_value{collector=a,host=` + inst + `,instance=` + inst + `,job=test,path=a"b}`,
		`http_errors_total{code=500,collector=a,host=` + inst + `,instance=` + inst + `,job=test}`,
		`http_requests_total{code=200,collector=a,host=` + inst + `,instance=` + inst + `,job=test}`,
	}
	if got := series(held); !slices.Equal(got, want) {
		t.Errorf("relabelled series\n got %q\nwant %q", got, want)
	}
	if r.Samples != 3 {
		t.Errorf("result counts %d samples, want the 3 kept", r.Samples)
	}

	// sample_limit counts what the relabelling keeps, as in Prometheus.
	h2 := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, MetricRelabel: rcs, SampleLimit: 2})
	h2.m.Sync([]*targets.Target{tg})
	if r := h2.scrapeOnce(t, tg); r.Reason != scrape.ReasonSampleLimit {
		t.Errorf("3 kept samples over sample_limit 2: reason %q (%v)", r.Reason, r.Err)
	}
}

// TestLabelLimits: label_limit, label_name_length_limit and
// label_value_length_limit fail a scrape as Prometheus's do, counting the
// target's labels and __name__, with Prometheus's message; under them it
// succeeds. The same holds after metric_relabel_configs.
func TestLabelLimits(t *testing.T) {
	body := `# TYPE m gauge
m{a="1",b="12345678901234567890"} 1
m{a="2",verylonglabelname="x"} 2
`
	srv, _ := serveBody(t, "text/plain; version=0.0.4", body)
	// The target has collector, instance and job: with __name__ and two own
	// labels, a sample has 6.
	cases := []struct {
		name     string
		cfg      scrape.JobConfig
		wantFail string
	}{
		{"label_limit over", scrape.JobConfig{LabelLimit: 5}, "label_limit exceeded (metric: m, number of labels: 6, limit: 5)"},
		{"label_limit at", scrape.JobConfig{LabelLimit: 6}, ""},
		{"name length over", scrape.JobConfig{LabelNameLengthLimit: 16}, "label_name_length_limit exceeded (metric: m, label name: verylonglabelname, length: 17, limit: 16)"},
		{"name length at", scrape.JobConfig{LabelNameLengthLimit: 17}, ""},
		{"value length over", scrape.JobConfig{LabelValueLengthLimit: 19}, `label_value_length_limit exceeded (metric: m, label name: b, value: "12345678901234567890", length: 20, limit: 19)`},
		{"value length at", scrape.JobConfig{LabelValueLengthLimit: 20}, ""},
		// instance is 127.0.0.1:port, 15 bytes.
		{"value length counts the target's", scrape.JobConfig{LabelValueLengthLimit: 14}, "label_value_length_limit exceeded (metric: m, label name: instance"},
		{"relabelled under", scrape.JobConfig{LabelLimit: 5, MetricRelabel: relabelConfigs(t, "- {regex: collector, action: labeldrop}")}, ""},
		{"relabelled over", scrape.JobConfig{LabelLimit: 5, MetricRelabel: relabelConfigs(t, "- {target_label: extra, replacement: x}")}, "label_limit exceeded (metric: m, number of labels: 7, limit: 5)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Interval, c.cfg.Timeout = time.Hour, 2*time.Second
			h := newHarness(t, c.cfg)
			tg := targetstest.FromURL(t, "a", srv.URL+"/metrics")
			h.m.Sync([]*targets.Target{tg})
			r := h.scrapeOnce(t, tg)
			if c.wantFail == "" {
				if r.Err != nil {
					t.Fatalf("scrape failed: %v", r.Err)
				}
				return
			}
			if r.Err == nil || r.Reason != scrape.ReasonLabelLimit || !strings.Contains(r.Err.Error(), c.wantFail) {
				t.Fatalf("reason %q, err %v; want label_limit with %q", r.Reason, r.Err, c.wantFail)
			}
			if got := metricValue(t, h, "corral_scrape_failures_total", "label_limit"); got != 1 {
				t.Errorf("corral_scrape_failures_total{reason=label_limit} = %v, want 1", got)
			}
		})
	}
}

// TestTargetLimit: a job with more targets than target_limit fails every
// scrape of every target (none is picked), as Prometheus does; back under
// the limit, they scrape again.
func TestTargetLimit(t *testing.T) {
	srv, _ := serveBody(t, "text/plain; version=0.0.4", "m 1\n")
	h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, TargetLimit: 2})
	var ts []*targets.Target
	for _, n := range []string{"a", "b", "c"} {
		ts = append(ts, targetstest.FromURL(t, n, srv.URL+"/metrics?"+n))
	}
	h.m.Sync(ts)
	for _, tg := range ts {
		r := h.scrapeOnce(t, tg)
		if r.Reason != scrape.ReasonTargetLimit || !strings.Contains(r.Err.Error(), "target_limit exceeded (number of targets: 3, limit: 2)") {
			t.Errorf("%s: reason %q, err %v; want target_limit", tg.Collector, r.Reason, r.Err)
		}
	}
	if got := metricValue(t, h, "corral_scrape_target_limit_exceeded_total", ""); got != 1 {
		t.Errorf("corral_scrape_target_limit_exceeded_total = %v, want 1", got)
	}
	h.m.Sync(ts[:2])
	for _, tg := range ts[:2] {
		if r := h.scrapeOnce(t, tg); r.Err != nil {
			t.Errorf("%s under the limit: %v", tg.Collector, r.Err)
		}
	}
}

// TestScrapeProtocols: the Accept header is Prometheus's for the job's
// scrape_protocols (by default its default order, OpenMetrics first), and a
// target answering OpenMetrics is parsed as OpenMetrics.
func TestScrapeProtocols(t *testing.T) {
	om := "# TYPE items counter\nitems_total 3\nitems_created 1.7e9\n# TYPE corral_collector_state gauge\ncorral_collector_state{state=\"running\"} 1\n# EOF\n"
	srv, accept := serveBody(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", om)
	cases := []struct {
		name  string
		types []string
		want  string
	}{
		// As Prometheus 3's scrape loop sends it (scrape.acceptHeader with
		// config.DefaultScrapeProtocols and the allow-utf-8 escaping).
		{"default", nil, "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"},
		{"text only", []string{"text/plain;version=0.0.4"}, "text/plain;version=0.0.4;q=0.7,*/*;q=0.6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, Accept: scrape.AcceptHeader(c.types)})
			tg := targetstest.FromURL(t, "a", srv.URL+"/metrics")
			h.m.Sync([]*targets.Target{tg})
			r := h.scrapeOnce(t, tg)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if got := accept(); got != c.want {
				t.Errorf("Accept:\n got %s\nwant %s", got, c.want)
			}
			held, _ := h.m.Latest("a")
			defer held.Release()
			fams := held.Families()
			if len(fams) == 0 || string(fams[0].Name) != "items" || fams[0].Type != expo.Counter || r.Agent.State != "running" {
				t.Errorf("not parsed as OpenMetrics: families %v, agent %+v", fams, r.Agent)
			}
		})
	}
}

func metricValue(t *testing.T, h *harness, name, reason string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					ok = true
				}
			}
			if ok {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// BenchmarkScrapeStaticLimits is BenchmarkScrapeStatic with label limits
// (checked without allocating) and with metric_relabel_configs (which build
// each sample's label set, as Prometheus's do).
func BenchmarkScrapeStaticLimits(b *testing.B) {
	agentSrv, _ := exportertest.Synthetic(b, "bench", synthetic.Config{Rate: 10, Series: 150}, time.Second, nil)
	resp, err := http.Get(agentSrv.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	static, _ := serveBody(b, "text/plain; version=0.0.4", string(body))
	for _, c := range []struct {
		name string
		cfg  scrape.JobConfig
	}{
		{"none", scrape.JobConfig{}}, // the same server without limits, to compare with
		{"label_limits", scrape.JobConfig{LabelLimit: 30, LabelNameLengthLimit: 100, LabelValueLengthLimit: 200}},
		{"metric_relabel", scrape.JobConfig{MetricRelabel: relabelConfigs(b, "- {source_labels: [__name__], regex: 'go_gc_.*', action: drop}\n- {target_label: env, replacement: prod}\n")}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.Interval, c.cfg.Timeout = time.Hour, 5*time.Second
			h := newHarness(b, c.cfg)
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
		})
	}
}
