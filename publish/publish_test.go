package publish

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/selector"
	"github.com/corral-dev/corral/targets/targetstest"
)

// harness scrapes real agents every 200ms into a health evaluator.
type harness struct {
	m *scrape.Manager
	e *health.Evaluator
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	e := health.NewEvaluator(health.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	m := scrape.NewManager(ctx, scrape.Options{Sink: e, Metrics: scrape.NewMetrics(prometheus.NewRegistry())})
	job := scrape.JobConfig{Name: "test", Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, BodySizeLimit: 1 << 20,
		HTTPClient: commoncfg.DefaultHTTPClientConfig}
	if err := m.ApplyJobs([]scrape.JobConfig{job}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Stop() })
	return &harness{m: m, e: e}
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
	}
}

func waitStatus(t *testing.T, e *health.Evaluator, id string, want fleet.Status) {
	t.Helper()
	waitFor(t, id+" "+string(want), func() bool { h, _ := e.Get(id); return h.Status == want })
}

func TestFleetAndFederateOutput(t *testing.T) {
	srv1, _ := exportertest.Synthetic(t, "f1", synthetic.Config{Rate: 10, Series: 5}, time.Second, nil)
	srv2, _ := exportertest.Synthetic(t, "f2", synthetic.Config{Rate: 10, Series: 5}, time.Second, func(o *exporter.Options) { o.StartPaused = true })
	h := newHarness(t)
	t1, t2 := targetstest.FromURL(t, "f1", srv1.URL+"/metrics"), targetstest.FromURL(t, "f2", srv2.URL+"/metrics")
	t1.Labels["team"] = "data"
	h.m.Sync([]*targets.Target{t1, t2})
	waitStatus(t, h.e, "f1", fleet.StatusOnline)
	waitFor(t, "an item of f1", func() bool { h, _ := h.e.Get("f1"); return h.HasFreshness })
	waitStatus(t, h.e, "f2", fleet.StatusPaused)

	var fleetOut bytes.Buffer
	if err := WriteFleet(&fleetOut, h.e); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(fleetOut.Bytes()))
	if err != nil {
		t.Fatalf("fleet output does not parse: %v\n%s", err, fleetOut.String())
	}
	for _, want := range []string{
		`corral_collector_status{collector="f1",instance="` + t1.Instance + `",job="test",team="data",status="online"} 1`,
		`corral_collector_status{collector="f2",instance="` + t2.Instance + `",job="test",status="paused"} 1`,
		`corral_collector_up{collector="f1"`, `corral_collector_freshness_seconds{collector="f1"`,
		`corral_collectors{status="online"} 1`, `corral_collectors{status="paused"} 1`,
	} {
		if !strings.Contains(fleetOut.String(), want) {
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
	sel, _ := selector.Parse(`{job="test"}`)
	if err := WriteFederate(&fed, h.m, h.e, []selector.Selector{sel}); err != nil {
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
	sel, _ = selector.Parse(`corral_collector_state{state="paused"}`)
	WriteFederate(&fed, h.m, h.e, []selector.Selector{sel})
	if n := strings.Count(fed.String(), "\ncorral_collector_state{"); n != 2 {
		t.Errorf("selector picked %d series, want 2:\n%s", n, fed.String())
	}
}

// TestNoNameSharedWithAgents: the server's fleet series and a real agent's
// series (which /federate passes on) never share a name, so a Prometheus
// scraping both /metrics and /federate gets one type and one source per name.
func TestNoNameSharedWithAgents(t *testing.T) {
	srv, _ := exportertest.Synthetic(t, "n1", synthetic.Config{Rate: 10, Series: 2}, time.Second, nil)
	h := newHarness(t)
	h.m.Sync([]*targets.Target{targetstest.FromURL(t, "n1", srv.URL+"/metrics")})
	waitStatus(t, h.e, "n1", fleet.StatusOnline)

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	ap := expfmt.NewTextParser(model.UTF8Validation)
	agentFams, err := ap.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteFleet(&out, h.e); err != nil {
		t.Fatal(err)
	}
	fp := expfmt.NewTextParser(model.UTF8Validation)
	fleetFams, err := fp.TextToMetricFamilies(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(fleetFams) < 10 {
		t.Fatalf("only %d fleet families", len(fleetFams))
	}
	for name := range fleetFams {
		if _, clash := agentFams[name]; clash {
			t.Errorf("%s is both a fleet series of the server and an agent's series", name)
		}
	}
}

// TestFederateHonorAndExternalLabels: honor_labels lets a sample's job and
// instance win over the target's (else they are kept as exported_*),
// honor_timestamps: false stamps samples with the scrape's time, and
// external_labels are added to series that lack them, as Prometheus's
// /federate does.
func TestFederateHonorAndExternalLabels(t *testing.T) {
	const exposed = "# TYPE pushed_value gauge\npushed_value{job=\"batch\",instance=\"w1\",x=\"1\"} 5 1700000000000\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, exposed)
	}))
	defer srv.Close()
	h := newHarness(t)
	plain := targetstest.FromURL(t, "plain", srv.URL+"/metrics")
	honor := targetstest.FromURL(t, "honor", srv.URL+"/metrics?honor")
	honor.HonorLabels, honor.HonorTimestamps, honor.Hash = true, false, 17
	h.m.Sync([]*targets.Target{plain, honor})
	waitFor(t, "both scraped", func() bool {
		a, _ := h.e.Get("plain")
		b, _ := h.e.Get("honor")
		return a.Up && b.Up
	})
	sel, _ := selector.Parse(`pushed_value`)
	var b bytes.Buffer
	if err := WriteFederate(&b, h.m, h.e, []selector.Selector{sel}, WithExternalLabels(map[string]string{"region": "eu", "x": "never"})); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("federate output does not parse: %v\n%s", err, b.String())
	}
	got := map[string]map[string]string{}
	stamps := map[string]int64{}
	for _, m := range fams["pushed_value"].GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		got[ls["collector"]] = ls
		stamps[ls["collector"]] = m.GetTimestampMs()
	}
	wantPlain := map[string]string{"collector": "plain", "job": "test", "instance": plain.Instance, "exported_job": "batch", "exported_instance": "w1", "x": "1", "region": "eu"}
	wantHonor := map[string]string{"collector": "honor", "job": "batch", "instance": "w1", "x": "1", "region": "eu"}
	if !maps.Equal(got["plain"], wantPlain) || !maps.Equal(got["honor"], wantHonor) {
		t.Errorf("labels:\n plain %v\n honor %v\nwant\n plain %v\n honor %v", got["plain"], got["honor"], wantPlain, wantHonor)
	}
	if stamps["plain"] != 1700000000000 || stamps["honor"] == 1700000000000 || stamps["honor"] < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("timestamps: plain %d (want the exposed one), honor %d (want the scrape's)", stamps["plain"], stamps["honor"])
	}
	// With honor_labels the sample's job is what a selector sees.
	b.Reset()
	sel, _ = selector.Parse(`pushed_value{job="batch"}`)
	WriteFederate(&b, h.m, h.e, []selector.Selector{sel})
	if n := strings.Count(b.String(), "\npushed_value{"); n != 1 || !strings.Contains(b.String(), `collector="honor"`) {
		t.Errorf("selector on the honoured job picked %d series:\n%s", n, b.String())
	}
}

// TestFederateStaleness: once a collector's latest scrape failed, /federate
// stops serving its last good samples (only up 0 remains), as Prometheus's
// staleness hides a target's series after a failed scrape; they come back
// with the next good scrape.
func TestFederateStaleness(t *testing.T) {
	srv, _ := exportertest.Synthetic(t, "s1", synthetic.Config{Rate: 10, Series: 2}, time.Second, nil)
	h := newHarness(t)
	tg := targetstest.FromURL(t, "s1", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	waitStatus(t, h.e, "s1", fleet.StatusOnline)
	sel, _ := selector.Parse(`{job="test"}`)
	federate := func() string {
		var b bytes.Buffer
		if err := WriteFederate(&b, h.m, h.e, []selector.Selector{sel}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if out := federate(); !strings.Contains(out, "\ncorral_collector_state{") {
		t.Fatalf("no samples of a healthy collector:\n%s", out)
	}

	srv.Config.SetKeepAlivesEnabled(false)
	srv.Listener.Close() // the agent stops answering: every scrape fails
	srv.CloseClientConnections()
	waitFor(t, "a failed scrape", func() bool { hh, _ := h.e.Get("s1"); return !hh.Up && !hh.LastScrape.IsZero() })
	out := federate()
	if strings.Contains(out, "corral_collector_state{") || strings.Contains(out, "synthetic_value{") {
		t.Errorf("a collector whose scrape failed still has samples:\n%s", out)
	}
	if !strings.Contains(out, `up{collector="s1"`) || !strings.Contains(grepLines(out, "up{"), "} 0") {
		t.Errorf("want up 0 for it:\n%s", grepLines(out, "up"))
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

// TestOpenMetricsOutput: agents scraped in OpenMetrics (the default) are
// federated in the text format under the text format's family names (the
// counter corral_collector_items_total), and ToOpenMetrics re-encodes fleet and
// federate output as OpenMetrics that expfmt's OpenMetrics decoder reads back
// with the same series and values, counters named as OpenMetrics names them.
func TestOpenMetricsOutput(t *testing.T) {
	srv, _ := exportertest.Synthetic(t, "o1", synthetic.Config{Rate: 10, Series: 3}, time.Second, nil)
	h := newHarness(t)
	tg := targetstest.FromURL(t, "o1", srv.URL+"/metrics")
	h.m.Sync([]*targets.Target{tg})
	waitStatus(t, h.e, "o1", fleet.StatusOnline)

	var fed bytes.Buffer
	sel, _ := selector.Parse(`{job="test"}`)
	if err := WriteFederate(&fed, h.m, h.e, []selector.Selector{sel}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fed.String(), "# TYPE corral_collector_items_total counter\ncorral_collector_items_total{") {
		t.Errorf("the OpenMetrics counter is not federated as the text format's family:\n%s", grepLines(fed.String(), "corral_collector_items"))
	}
	var fleetOut bytes.Buffer
	if err := WriteFleet(&fleetOut, h.e); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string][]byte{"federate": fed.Bytes(), "fleet": fleetOut.Bytes()} {
		t.Run(name, func(t *testing.T) {
			var om bytes.Buffer
			if err := ToOpenMetrics(&om, expfmt.FmtOpenMetrics_1_0_0, text, nil); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(om.String(), "# EOF\n") {
				t.Fatalf("no # EOF at the end:\n%s", om.String())
			}
			// Prometheus's own parsers, as a Prometheus scraping corral reads
			// them (expfmt's OpenMetrics decoder refuses what client_golang
			// writes for go_memstats_alloc_bytes, here and in any exporter).
			gotOM := promSeries(t, textparse.NewOpenMetricsParser(om.Bytes(), labels.NewSymbolTable()))
			wantText := promSeries(t, textparse.NewPromParser(text, labels.NewSymbolTable(), false))
			if len(wantText) == 0 || !maps.Equal(gotOM, wantText) {
				t.Errorf("OpenMetrics has %d series, text %d; they differ:\n%v\n%v", len(gotOM), len(wantText), gotOM, wantText)
			}
			if name == "federate" && !strings.Contains(om.String(), "# TYPE corral_collector_items counter\ncorral_collector_items_total{") {
				t.Errorf("counter not named as OpenMetrics names it:\n%s", grepLines(om.String(), "corral_collector_items"))
			}
		})
	}
}

// promSeries reads every series of an exposition with one of Prometheus's
// parsers: name{labels} → value.
func promSeries(t *testing.T, p textparse.Parser) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Prometheus's parser: %v", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		var ls labels.Labels
		p.Labels(&ls)
		out[ls.String()] = v
	}
}
