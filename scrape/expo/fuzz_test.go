package expo

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"unsafe"
)

// seedText are small text-format bodies, one or a few features each.
var seedText = []string{
	"",
	"\n\n  \n",
	"foo 1\n",
	"foo 1",
	"foo{} 1\n",
	"foo{a=\"b\"} 1\n",
	"foo{a=\"b\",} 1 123\n",
	"foo { a = \"b\" , c=\"d\" , } -1.5e3 -123\n",
	"foo\t{a=\"b\"}\t+Inf\t1\n",
	"  foo 1  \n",
	"foo{a=\"\\\\ \\\" \\n\"} NaN\n",
	"foo{a=\"ünï\"} 1\n",
	"foo 1_000\n",
	"foo 0x1p3\n",
	"foo .5\nbar 5.\nbaz +3\nqux -Inf\nquux Infinity\n",
	"foo 1 +5\n",
	"foo 1 1.5\n",
	"foo-1 2\n",
	"foo 1\r\n",
	"# HELP foo Some help \\\\ \\n \\\"x\\\".\n# TYPE foo counter\nfoo 1\n",
	"#HELP foo h\n#TYPE foo gauge\nfoo 1\n",
	"# TYPE foo Gauge\nfoo 1\n",
	"# TYPE foo gauge \nfoo 1\n",
	"# a comment\n# HELP\n# TYPE foo\n# EOF\nfoo 1\n",
	"foo 1\n# TYPE foo gauge\n",
	"foo 1\n# HELP foo later\nfoo 2\n",
	"# TYPE foo summary\nfoo{quantile=\"0.5\"} 1\nfoo{quantile=\"0.9\"} 2\nfoo_sum 3\nfoo_count 4\n",
	"# TYPE foo summary\nfoo{a=\"x\",quantile=\"0.5\"} 1\nfoo{quantile=\"0.5\",a=\"y\"} 2\nfoo_sum{a=\"x\"} 3\nfoo_count{a=\"x\"} 4.5\n",
	"# TYPE foo summary\nfoo_sum 3\nfoo_sum 4\n",
	"# TYPE foo summary\nfoo{quantile=\"NaN\"} 1\nfoo 2\nfoo_sum{quantile=\"1\"} 3\n",
	"# TYPE foo histogram\nfoo_bucket{le=\"1\"} 1\nfoo_bucket{le=\"+Inf\"} 2\nfoo_sum 3\nfoo_count 2\n",
	"# TYPE foo histogram\nfoo_bucket{le=\"1.0\",a=\"b\"} 1.5\nfoo_bucket{a=\"b\",le=\"+Inf\"} -2\nfoo 1\nfoo_sum{le=\"1\"} 3\nfoo_count 1 5\nfoo_count 2 6\n",
	"# TYPE foo gauge_histogram\nfoo_bucket{le=\"1\"} 1\nfoo_gsum 1\nfoo_sum 2\n",
	"# HELP foo_sum x\n# TYPE foo summary\nfoo_sum 1\nfoo_sum{quantile=\"0.5\"} 2\n",
	"# TYPE foo_bucket gauge\n# TYPE foo histogram\nfoo_bucket 1\n",
	"foo{a=\"1\",a=\"2\"} 1\n",
	"foo{__name__=\"x\"} 1\n",
	"{\"foo\"} 1\n",
	"foo{\"a.b\"=\"c\"} 1\n",
	"foo\"bar\" 1\n",
	"foo{a=\"b\"}1\n",
	"foo{a=\"\\x\"} 1\n",
	"foo{a=\"b\n\"} 1\n",
	"foo 1 9223372036854775807\nfoo 1 -9223372036854775808\nfoo 1 9223372036854775808\n",
	"foo 1e400\nfoo 1e-400\n",
}

// seedOpenMetrics are small OpenMetrics bodies.
var seedOpenMetrics = []string{
	"# EOF\n",
	"# EOF",
	"foo 1\n# EOF\n",
	"# EOF\n\n",
	"foo 1\n",
	"# TYPE foo counter\n# HELP foo help \\\\ \\n \\\" \\x\n# UNIT foo \nfoo_total 1\nfoo_created 1.5e9\n# EOF\n",
	"# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\nfoo_seconds_total{a=\"b\"} 1 1.5 # {trace_id=\"abc\"} 0.5 1.25\nfoo_seconds_created{a=\"b\"} 1.5\n# EOF\n",
	"# TYPE foo counter\nfoo_created 1\n# EOF\n",
	"# TYPE foo counter\nfoo 1\n# EOF\n",
	"# TYPE foo counter\nfoo_total -1\n# EOF\n",
	"# TYPE foo gauge\nfoo{a=\"b\",c=\"d\"} -1 123.456\nfoo NaN\n# EOF\n",
	"# TYPE foo gauge\nfoo 1 # {a=\"b\"} 1\n# EOF\n",
	"# TYPE foo summary\nfoo{quantile=\"0.5\"} 1\nfoo_sum 3\nfoo_count 4\nfoo_created 1\n# EOF\n",
	"# TYPE foo summary\nfoo{quantile=\"2\"} 1\n# EOF\n",
	"# TYPE foo histogram\nfoo_bucket{le=\"1\"} 1 # {id=\"x\"} 0.3\nfoo_bucket{le=\"+Inf\"} 2\nfoo_sum 3\nfoo_count 2\nfoo_created 1.7e9\n# EOF\n",
	"# TYPE foo gaugehistogram\nfoo_bucket{le=\"+Inf\"} 2\nfoo_gsum -3\nfoo_gcount 2\n# EOF\n",
	"# TYPE foo info\nfoo_info{version=\"1\"} 1\n# EOF\n",
	"# TYPE foo stateset\nfoo{foo=\"a\"} 1\nfoo{foo=\"b\"} 0\n# EOF\n",
	"# TYPE foo unknown\nfoo 1\n# EOF\n",
	"a 1\nb 1\na 2\n# EOF\n",
	"a 1\n# HELP a late\n# EOF\n",
	"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\n# EOF\n",
	"foo{a=\"b\",} 1\n# EOF\n",
	"foo  1\n# EOF\n",
	"foo 1 \n# EOF\n",
	"# comment\n# EOF\n",
	"\n# EOF\n",
	"foo 1\r\n# EOF\n",
	"foo{a=\"\\q\"} 1e3\n# EOF\n",
	"foo 0x1p3\n# EOF\n",
	"# TYPE foo gauge\nfoo 1 1e400\n# EOF\n",
}

func FuzzAgainstExpfmt(f *testing.F) {
	for _, s := range seedText {
		f.Add([]byte(s), false)
	}
	for _, s := range seedOpenMetrics {
		f.Add([]byte(s), true)
	}
	f.Add(encode(f, agentRegistry(f, true), false), false)
	f.Add(encode(f, agentRegistry(f, false), true), true)
	var p Parser
	f.Fuzz(func(t *testing.T, body []byte, om bool) {
		// expfmt's OpenMetrics parser (an ABNF matcher) needs about a second
		// for a 10 KiB body; keep its inputs small.
		if om && len(body) > 4096 {
			return
		}
		// This parser takes a last line without a newline, expfmt does not:
		// add it, so that the comparison gets more bodies both accept.
		if !om && len(body) > 0 && body[len(body)-1] != '\n' {
			errA := p.Parse(body, false, 0)
			a := slices.Clone(p.Samples())
			body = append(body[:len(body):len(body)], '\n')
			errB := p.Parse(body, false, 0)
			if (errA == nil) != (errB == nil) || !sameSamples(a, p.Samples()) {
				t.Fatalf("a final newline changes the result: %v, %v", errA, errB)
			}
		}
		compareWithExpfmt(t, &p, body, om)
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range seedText {
		f.Add([]byte(s), false, uint8(0))
	}
	for _, s := range seedOpenMetrics {
		f.Add([]byte(s), true, uint8(2))
	}
	f.Add(encode(f, agentRegistry(f, true), false), false, uint8(100))
	f.Add(encode(f, agentRegistry(f, false), true), true, uint8(0))
	var reused Parser
	f.Fuzz(func(t *testing.T, body []byte, om bool, limit uint8) {
		var p Parser
		err := p.Parse(body, om, int(limit))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 {
				t.Fatalf("error %v is not an *Error with a line", err)
			}
			if errors.Is(err, ErrSampleLimit) && limit == 0 {
				t.Fatalf("sample limit error without a limit: %v", err)
			}
			if len(p.Samples()) != 0 || len(p.Families()) != 0 {
				t.Fatal("results left after an error")
			}
		} else if limit > 0 && len(p.Samples()) > int(limit) {
			t.Fatalf("%d samples, limit %d", len(p.Samples()), limit)
		}
		checkResults(t, &p, body)

		// A reused parser gives the same results as a new one.
		_ = reused.Parse([]byte("# TYPE foo histogram\nfoo_bucket{le=\"1\"} 1\nx{a=\"b\"} 2\n# EOF\n"), om, 0)
		err2 := reused.Parse(body, om, int(limit))
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("reused parser: %v, new parser: %v", err2, err)
		}
		if !sameSamples(p.Samples(), reused.Samples()) || len(p.Families()) != len(reused.Families()) {
			t.Fatal("reused parser returns other samples or families")
		}
		if err != nil || om {
			return
		}

		// Written back without metadata, the samples parse to themselves.
		var out []byte
		for _, s := range p.Samples() {
			out = append(out, s.Name...)
			out = append(out, '{')
			out = append(out, s.Labels...)
			out = append(out, "} "...)
			out = strconv.AppendFloat(out, s.Value, 'g', -1, 64)
			if s.HasTimestamp {
				out = append(out, ' ')
				out = strconv.AppendInt(out, s.Timestamp, 10)
			}
			out = append(out, '\n')
		}
		var q Parser
		if err := q.Parse(out, false, 0); err != nil {
			t.Fatalf("samples written back do not parse: %v\n%s", err, out)
		}
		if !sameSamples(p.Samples(), q.Samples()) {
			t.Fatalf("samples written back parse to other samples:\n%s", out)
		}
	})
}

// checkResults checks that results are sub-slices of body and well formed.
func checkResults(t *testing.T, p *Parser, body []byte) {
	t.Helper()
	inBody := func(what string, b []byte) {
		if len(b) == 0 {
			return
		}
		start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
		at := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if at < start || at+uintptr(len(b)) > start+uintptr(len(body)) {
			t.Fatalf("%s %q is not in the body", what, b)
		}
	}
	fams := p.Families()
	for _, f := range fams {
		inBody("family name", f.Name)
		inBody("help", f.Help)
		inBody("unit", f.Unit)
		if scanName(f.Name, 0) != len(f.Name) || len(f.Name) == 0 {
			t.Fatalf("invalid family name %q", f.Name)
		}
	}
	for _, s := range p.Samples() {
		inBody("name", s.Name)
		inBody("labels", s.Labels)
		if scanName(s.Name, 0) != len(s.Name) || len(s.Name) == 0 {
			t.Fatalf("invalid name %q", s.Name)
		}
		if s.Family < -1 || int(s.Family) >= len(fams) {
			t.Fatalf("family %d of %d", s.Family, len(fams))
		}
		EachLabel(s.Labels, func(name, raw []byte) bool {
			v, ok := LabelValue(s.Labels, string(name))
			if !ok || !bytes.Equal(v, Unescape(nil, raw)) {
				t.Fatalf("LabelValue(%q, %s) = %q, %v; EachLabel gives %q", s.Labels, name, v, ok, raw)
			}
			return true
		})
		if !s.HasTimestamp && s.Timestamp != 0 {
			t.Fatal("timestamp without HasTimestamp")
		}
	}
}

func sameSamples(a, b []Sample) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !bytes.Equal(x.Name, y.Name) || !bytes.Equal(x.Labels, y.Labels) ||
			!(x.Value == y.Value && math.Signbit(x.Value) == math.Signbit(y.Value) || math.IsNaN(x.Value) && math.IsNaN(y.Value)) ||
			x.HasTimestamp != y.HasTimestamp || x.Timestamp != y.Timestamp {
			return false
		}
	}
	return true
}
