package expo

import (
	"bytes"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The 200-sample body is a corral agent's scrape: the exposition contract, the
// process and Go collectors (testdata/agent.prom, captured from client_golang)
// and labelled gauges for the rest; the 10k one has more gauges.

func benchParse(b *testing.B, n int) {
	body := scrapeBody(b, n)
	var p Parser
	if err := p.Parse(body, false, 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(body, false, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sample")
}

func benchExpfmt(b *testing.B, n int) {
	body := scrapeBody(b, n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	r := bytes.NewReader(body)
	for b.Loop() {
		r.Reset(body)
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sample")
}

func BenchmarkParse200(b *testing.B)  { benchParse(b, 200) }
func BenchmarkExpfmt200(b *testing.B) { benchExpfmt(b, 200) }
func BenchmarkParse10k(b *testing.B)  { benchParse(b, 10000) }
func BenchmarkExpfmt10k(b *testing.B) { benchExpfmt(b, 10000) }

// BenchmarkParseOpenMetrics parses client_golang's OpenMetrics output of an
// agent registry without the Go collector (see agentRegistry).
func BenchmarkParseOpenMetrics(b *testing.B) {
	body := encode(b, agentRegistry(b, false), true)
	var p Parser
	if err := p.Parse(body, true, 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(body, true, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p.Samples())), "samples")
}
