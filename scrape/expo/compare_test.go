package expo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// flat is a sample reduced to what the comparison with expfmt looks at.
type flat struct {
	key   string  // name{sorted labels} @timestamp
	value float64 // compared exactly, except NaN == NaN and -0 == 0
}

// flatSet holds the flattened samples of one body; created samples (OpenMetrics)
// apart, because expfmt keeps them as timestamps, to nanoseconds.
type flatSet struct {
	samples []flat
	created []flat
}

func (s *flatSet) sort() {
	for _, l := range [][]flat{s.samples, s.created} {
		slices.SortFunc(l, func(a, b flat) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			return strings.Compare(canonValue(a.value), canonValue(b.value))
		})
	}
}

func canonValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// canonLabel writes le and quantile values as floats, so "1" and "1.0" compare equal.
func canonLabel(name, value string) string {
	if name == "le" || name == "quantile" {
		if f, err := strconv.ParseFloat(value, 64); err == nil && !strings.ContainsAny(value, "_pP") {
			value = canonValue(f)
		}
	}
	return name + "=" + strconv.Quote(value)
}

func flatKey(name string, labels []string, ts *int64) string {
	slices.Sort(labels)
	k := name + "{" + strings.Join(labels, ",") + "}"
	if ts != nil {
		k += " @" + strconv.FormatInt(*ts, 10)
	}
	return k
}

// flattenExpfmt turns expfmt's metric families back into samples.
func flattenExpfmt(fams []*dto.MetricFamily) flatSet {
	var s flatSet
	for _, mf := range fams {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			ts := m.TimestampMs
			base := make([]string, 0, len(m.GetLabel())+1)
			for _, l := range m.GetLabel() {
				base = append(base, canonLabel(l.GetName(), l.GetValue()))
			}
			add := func(n string, v float64, extra ...string) {
				s.samples = append(s.samples, flat{flatKey(n, append(slices.Clone(base), extra...), ts), v})
			}
			addCreated := func(n string, sec int64, nanos int32) {
				s.created = append(s.created, flat{flatKey(n, slices.Clone(base), nil), float64(sec) + float64(nanos)/1e9})
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				if m.Counter.Value != nil {
					add(name, m.Counter.GetValue())
				}
				if c := m.Counter.CreatedTimestamp; c != nil {
					addCreated(strings.TrimSuffix(name, "_total")+"_created", c.Seconds, c.Nanos)
				}
			case dto.MetricType_GAUGE:
				add(name, m.Gauge.GetValue())
			case dto.MetricType_UNTYPED:
				add(name, m.Untyped.GetValue())
			case dto.MetricType_SUMMARY:
				for _, q := range m.Summary.GetQuantile() {
					add(name, q.GetValue(), canonLabel("quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)))
				}
				if m.Summary.SampleSum != nil {
					add(name+"_sum", m.Summary.GetSampleSum())
				}
				if m.Summary.SampleCount != nil {
					add(name+"_count", float64(m.Summary.GetSampleCount()))
				}
				if c := m.Summary.CreatedTimestamp; c != nil {
					addCreated(name+"_created", c.Seconds, c.Nanos)
				}
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.Histogram
				for _, b := range h.GetBucket() {
					v := float64(b.GetCumulativeCount())
					if b.CumulativeCountFloat != nil {
						v = b.GetCumulativeCountFloat()
					}
					add(name+"_bucket", v, canonLabel("le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)))
				}
				if h.SampleSum != nil {
					add(name+"_sum", h.GetSampleSum())
				}
				switch {
				case h.SampleCountFloat != nil:
					add(name+"_count", h.GetSampleCountFloat())
				case h.SampleCount != nil:
					add(name+"_count", float64(h.GetSampleCount()))
				}
				if c := h.CreatedTimestamp; c != nil {
					addCreated(name+"_created", c.Seconds, c.Nanos)
				}
			}
		}
	}
	s.sort()
	return s
}

// flattenOurs turns the parser's samples into the same form.
func flattenOurs(p *Parser) flatSet {
	var s flatSet
	fams := p.Families()
	for _, smp := range p.Samples() {
		var labels []string
		EachLabel(smp.Labels, func(n, v []byte) bool {
			labels = append(labels, canonLabel(string(n), string(Unescape(nil, v))))
			return true
		})
		name := string(smp.Name)
		var typ Type
		var fam string
		if smp.Family >= 0 {
			typ, fam = fams[smp.Family].Type, string(fams[smp.Family].Name)
		}
		if typ == GaugeHistogram {
			name = strings.Replace(name, fam+"_gsum", fam+"_sum", 1)
			name = strings.Replace(name, fam+"_gcount", fam+"_count", 1)
		}
		if typ != Gauge && typ != Untyped && typ != Unknown && name == fam+"_created" {
			s.created = append(s.created, flat{flatKey(name, labels, nil), smp.Value})
			continue
		}
		var ts *int64
		if smp.HasTimestamp {
			ts = &smp.Timestamp
		}
		s.samples = append(s.samples, flat{flatKey(name, labels, ts), smp.Value})
	}
	s.sort()
	return s
}

// diffFlat returns a description of the first difference, or "".
func diffFlat(ours, theirs flatSet) string {
	if len(ours.samples) != len(theirs.samples) {
		return fmt.Sprintf("%d samples, expfmt has %d:\nours:   %v\nexpfmt: %v", len(ours.samples), len(theirs.samples), ours.samples, theirs.samples)
	}
	for i := range ours.samples {
		a, b := ours.samples[i], theirs.samples[i]
		if a.key != b.key || canonValue(a.value) != canonValue(b.value) {
			return fmt.Sprintf("sample %d: ours %s %v, expfmt %s %v", i, a.key, a.value, b.key, b.value)
		}
	}
	if len(ours.created) != len(theirs.created) {
		return fmt.Sprintf("%d _created samples, expfmt has %d: %v vs %v", len(ours.created), len(theirs.created), ours.created, theirs.created)
	}
	for i := range ours.created {
		a, b := ours.created[i], theirs.created[i]
		if a.key != b.key || math.Abs(a.value-b.value) > 1e-6+1e-9*math.Abs(a.value) {
			return fmt.Sprintf("created %d: ours %s %v, expfmt %s %v", i, a.key, a.value, b.key, b.value)
		}
	}
	return ""
}

// expfmtParse parses body with expfmt; a panic in expfmt counts as an error.
func expfmtParse(body []byte, om bool) (fams []*dto.MetricFamily, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("expfmt panicked: %v", r)
		}
	}()
	if !om {
		p := expfmt.NewTextParser(model.UTF8Validation)
		m, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for _, mf := range m {
			fams = append(fams, mf)
		}
		return fams, nil
	}
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.FmtOpenMetrics_1_0_0)
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				return fams, nil
			}
			return nil, err
		}
		fams = append(fams, mf)
	}
}

// compareWithExpfmt fails t when both parsers accept body and disagree. It
// reports whether both accepted it.
func compareWithExpfmt(t testing.TB, p *Parser, body []byte, om bool) bool {
	t.Helper()
	if err := p.Parse(body, om, 0); err != nil {
		return false
	}
	fams, err := expfmtParse(body, om)
	if err != nil {
		return false
	}
	if d := diffFlat(flattenOurs(p), flattenExpfmt(fams)); d != "" {
		t.Fatalf("openMetrics=%v: samples differ from expfmt's: %s\nbody:\n%s", om, d, body)
	}
	return true
}
