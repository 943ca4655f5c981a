package expo

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// TestClientGolangRegistry parses what a live client_golang registry (counter,
// gauge, histogram, summary, escapes, process and Go collectors) exposes, in
// both formats, and requires expfmt's samples.
func TestClientGolangRegistry(t *testing.T) {
	for _, om := range []bool{false, true} {
		name := "text"
		if om {
			name = "openmetrics"
		}
		t.Run(name, func(t *testing.T) {
			body := encode(t, agentRegistry(t, !om), om)
			var p Parser
			if err := p.Parse(body, om, 0); err != nil {
				t.Fatalf("Parse: %v\n%s", err, body)
			}
			if _, err := expfmtParse(body, om); err != nil {
				t.Fatalf("expfmt: %v", err)
			}
			if !compareWithExpfmt(t, &p, body, om) {
				t.Fatal("not accepted by both")
			}
			want := map[string]Type{
				"corral_collector_items":                       Counter,
				"corral_collector_state":                       Gauge,
				"corral_collector_collection_duration_seconds": Histogram,
				"corral_test_latency_seconds":                  Summary,
				"process_cpu_seconds":                          Counter,
			}
			if !om {
				want["go_gc_duration_seconds"] = Summary
				want["corral_collector_items_total"] = Counter
				want["process_cpu_seconds_total"] = Counter
				delete(want, "corral_collector_items")
				delete(want, "process_cpu_seconds")
			}
			for _, f := range p.Families() {
				if typ, ok := want[string(f.Name)]; ok {
					if f.Type != typ {
						t.Errorf("family %s: type %v, want %v", f.Name, f.Type, typ)
					}
					delete(want, string(f.Name))
				}
			}
			if len(want) > 0 {
				t.Errorf("families not found: %v", want)
			}
			var buckets int
			for _, s := range p.Samples() {
				if s.Family < 0 {
					t.Errorf("sample %s has no family", s.Name)
					continue
				}
				f := p.Families()[s.Family]
				if !bytes.HasPrefix(s.Name, f.Name) {
					t.Errorf("sample %s in family %s", s.Name, f.Name)
				}
				if string(s.Name) == "corral_collector_collection_duration_seconds_bucket" {
					buckets++
				}
			}
			if buckets != 15 {
				t.Errorf("%d buckets, want 15", buckets)
			}
		})
	}
}

// TestAgentTestdata keeps testdata/agent.prom (the benchmark's base) in step
// with expfmt.
func TestAgentTestdata(t *testing.T) {
	var p Parser
	for _, n := range []int{0, 200} {
		body := agentBody(t)
		if n > 0 {
			body = scrapeBody(t, n)
		}
		if !compareWithExpfmt(t, &p, body, false) {
			t.Fatalf("body of %d samples not accepted by both", n)
		}
		if n > 0 && len(p.Samples()) != n {
			t.Fatalf("%d samples, want %d", len(p.Samples()), n)
		}
	}
}

// TestGoCollectorOpenMetrics: the Go collector's OpenMetrics output announces
// go_memstats_alloc_bytes twice (a gauge, then the counter
// go_memstats_alloc_bytes_total). expfmt refuses the second announcement;
// Prometheus's own parser (model/textparse), which scrapes such exporters,
// takes it, and so does Parse, with the same series and values: corral asks
// for OpenMetrics first, as Prometheus does.
func TestGoCollectorOpenMetrics(t *testing.T) {
	body := encode(t, agentRegistry(t, true), true)
	var p Parser
	if err := p.Parse(body, true, 0); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if _, err := expfmtParse(body, true); err == nil {
		t.Fatal("expfmt accepts it now: the comment above is out of date")
	}
	var got []string
	for _, s := range p.Samples() {
		var lbl []string
		EachLabel(s.Labels, func(n, v []byte) bool {
			lbl = append(lbl, string(n)+"="+string(Unescape(nil, v)))
			return true
		})
		slices.Sort(lbl)
		got = append(got, string(s.Name)+"{"+strings.Join(lbl, ",")+"} "+canonValue(s.Value))
	}
	var want []string
	tp := textparse.NewOpenMetricsParser(body, labels.NewSymbolTable())
	for {
		e, err := tp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Prometheus's parser: %v", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := tp.Series()
		var ls labels.Labels
		tp.Labels(&ls)
		var lbl []string
		ls.Range(func(l labels.Label) {
			if l.Name != model.MetricNameLabel {
				lbl = append(lbl, l.Name+"="+l.Value)
			}
		})
		slices.Sort(lbl)
		want = append(want, ls.Get(model.MetricNameLabel)+"{"+strings.Join(lbl, ",")+"} "+canonValue(v))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("Parse and Prometheus's parser differ:\n got %q\nwant %q", got, want)
	}
	fams := 0
	for _, f := range p.Families() {
		if string(f.Name) == "go_memstats_alloc_bytes" {
			fams++
		}
	}
	if fams != 2 {
		t.Errorf("%d families go_memstats_alloc_bytes, want the gauge and the counter", fams)
	}
}
