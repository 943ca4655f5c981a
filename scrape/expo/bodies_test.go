package expo

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/agent.prom from a live client_golang registry")

// agentRegistry is what a corral agent exposes: the exposition contract, a
// counter with awkward label values, a summary, the process collector and,
// with goCollector, the Go collector. (The Go collector's OpenMetrics output
// has two families named go_memstats_alloc_bytes, a gauge and a counter, which
// OpenMetrics and expfmt reject.)
func agentRegistry(t testing.TB, goCollector bool) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corral_collector_info", Help: "Identity of the collector; always 1."},
		[]string{"collector", "kind", "version"})
	info.WithLabelValues("sim-0042", "synthetic", "v0.3.1").Set(1)
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corral_collector_state", Help: "State of the collector: 1 for the current state, 0 for the others."},
		[]string{"state"})
	for _, s := range []string{"starting", "running", "paused", "waiting", "error", "stopping"} {
		v := 0.0
		if s == "running" {
			v = 1
		}
		state.WithLabelValues(s).Set(v)
	}
	items := prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_collector_items_total", Help: "Data items collected (rows, statements, trades, headlines ...)."})
	items.Add(1234567)
	gauges := map[string]float64{
		"corral_collector_last_item_timestamp_seconds":       1.7569e9 + 0.123,
		"corral_collector_expected_items":                    500,
		"corral_collector_expected_interval_seconds":         60,
		"corral_collector_last_collection_timestamp_seconds": 1.7569e9 + 1.5,
		"corral_collector_config_generation":                 7,
		"corral_collector_backfill_progress_ratio":           0.25,
		"corral_collector_consecutive_failures":              0,
	}
	for name, v := range gauges {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "Gauge " + name + "."})
		g.Set(v)
		reg.MustRegister(g)
	}
	collections := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_collector_collections_total", Help: "Collection runs by result (success, error)."},
		[]string{"result"})
	collections.WithLabelValues("success").Add(4211)
	collections.WithLabelValues("error").Add(3)
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "corral_collector_collection_duration_seconds",
		Help:    "Duration of one collection run.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	})
	for i := range 300 {
		duration.Observe(float64(i%37) * 0.013)
	}
	commands := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_collector_commands_total", Help: "Control commands handled, by command and result (ok, failed, rejected)."},
		[]string{"command", "result"})
	commands.WithLabelValues("pause", "ok").Add(2)
	commands.WithLabelValues("resume", "ok").Add(2)
	backfill := prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_collector_backfill_items_total", Help: "Items collected by backfills."})
	backfill.Add(99)
	odd := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_test_escapes_total", Help: "Help with \\ backslash,\nnewline and \"quotes\"."},
		[]string{"path", "query"})
	odd.WithLabelValues(`C:\temp\`, "a \"quoted\"\nline").Add(1)
	odd.WithLabelValues("ünïcödé", "").Add(2.5)
	sum := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "corral_test_latency_seconds", Help: "A summary.",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}}, []string{"op"})
	for i := range 100 {
		sum.WithLabelValues("read").Observe(float64(i) / 100)
	}
	reg.MustRegister(info, state, items, collections, duration, commands, backfill, odd, sum,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if goCollector {
		reg.MustRegister(collectors.NewGoCollector())
	}
	return reg
}

// encode gathers reg in the text format or OpenMetrics.
func encode(t testing.TB, reg *prometheus.Registry, om bool) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	if om {
		format = expfmt.NewFormat(expfmt.TypeOpenMetrics)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// agentBody returns testdata/agent.prom, a captured agent exposition (rewritten
// with -update).
func agentBody(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join("testdata", "agent.prom")
	if *update {
		if err := os.WriteFile(path, encode(t, agentRegistry(t, true), false), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scrapeBody is an agent scrape of exactly n samples: testdata/agent.prom and
// a gauge family with enough labelled series to make up the rest, as a
// collector's own data metrics look.
func scrapeBody(t testing.TB, n int) []byte {
	t.Helper()
	base := agentBody(t)
	var p Parser
	if err := p.Parse(base, false, 0); err != nil {
		t.Fatal(err)
	}
	rest := n - len(p.Samples())
	if rest < 0 {
		t.Fatalf("testdata/agent.prom has %d samples, more than %d", len(p.Samples()), n)
	}
	buf := bytes.NewBuffer(slicesClone(base))
	buf.WriteString("# HELP pg_stat_statements_mean_seconds Mean time of a statement.\n# TYPE pg_stat_statements_mean_seconds gauge\n")
	x := uint64(88172645463325252)
	for i := range rest {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v := float64(x%1_000_000_007) / 997
		if i%3 == 0 {
			v = float64(x % 100000)
		}
		fmt.Fprintf(buf, "pg_stat_statements_mean_seconds{datname=\"app_%d\",queryid=\"%d\",user=\"svc_%d\"} %v\n",
			i%7, int64(x>>1)-1<<62, i%5, v)
	}
	return buf.Bytes()
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }
