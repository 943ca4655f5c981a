package scrape

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// AcceptHeader is the Accept header of a scrape asking for the given media
// types (configs.ScrapeProtocolHeaders' values) in order of preference, as
// Prometheus's scrape loop writes it: weights falling from q=0.7, the 1.0.0
// formats with escaping=allow-utf-8, and */* last. No types: Prometheus's
// default order.
func AcceptHeader(mediaTypes []string) string {
	if len(mediaTypes) == 0 {
		mediaTypes = defaultMediaTypes
	}
	var b strings.Builder
	// Prometheus counts its six protocols (proto and OpenMetrics 2.0.0
	// included) for the first weight; so does corral, for the same header.
	weight := 7
	for _, mt := range mediaTypes {
		b.WriteString(mt)
		if strings.HasSuffix(mt, "version=1.0.0") {
			b.WriteString(";" + model.EscapingKey + "=" + model.AllowUTF8)
		}
		b.WriteString(";q=0." + strconv.Itoa(weight) + ",")
		weight--
	}
	b.WriteString("*/*;q=0." + strconv.Itoa(weight))
	return b.String()
}

var defaultMediaTypes = []string{
	"application/openmetrics-text;version=1.0.0", "application/openmetrics-text;version=0.0.1",
	"text/plain;version=1.0.0", "text/plain;version=0.0.4",
}

// labelLimits are a job's label_limit, label_name_length_limit and
// label_value_length_limit; 0 is no limit.
type labelLimits struct{ count, nameLen, valueLen int }

func (l labelLimits) any() bool { return l.count > 0 || l.nameLen > 0 || l.valueLen > 0 }

// labelLimitError is a sample over one of the label limits. Its message is
// Prometheus's, with what to do about it.
type labelLimitError struct{ msg string }

func (e *labelLimitError) Error() string {
	return e.msg + "; raise the limit or drop labels with metric_relabel_configs"
}

func (l labelLimits) countErr(metric []byte, n int) error {
	return &labelLimitError{fmt.Sprintf("label_limit exceeded (metric: %.50s, number of labels: %d, limit: %d)", metric, n, l.count)}
}

// nameErr and valueErr are the errors of one label over the length limits;
// they are built only for a sample that fails.
func (l labelLimits) nameErr(metric []byte, name string, nameLen int) error {
	return &labelLimitError{fmt.Sprintf("label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: %d, limit: %d)", metric, name, nameLen, l.nameLen)}
}

func (l labelLimits) valueErr(metric []byte, name, value string, valueLen int) error {
	return &labelLimitError{fmt.Sprintf("label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: %.50q, length: %d, limit: %d)", metric, name, value, valueLen, l.valueLen)}
}

// check tests one label of the final set against the length limits.
func (l labelLimits) check(metric []byte, name, value string) error {
	if l.nameLen > 0 && len(name) > l.nameLen {
		return l.nameErr(metric, name, len(name))
	}
	if l.valueLen > 0 && len(value) > l.valueLen {
		return l.valueErr(metric, name, value, len(value))
	}
	return nil
}

// checkSamples holds every sample, with the target's labels merged in as
// /federate writes them (honor_labels, exported_), to the label limits, as
// Prometheus does before it appends. It does not allocate unless a sample
// fails.
func (l labelLimits) checkSamples(samples []expo.Sample, t *targets.Target) error {
	if len(samples) == 0 {
		return nil
	}
	// The target's own labels are in every series: checked once.
	for n, v := range t.Labels {
		if err := l.check(samples[0].Name, n, v); err != nil {
			return err
		}
	}
	for i := range samples {
		s := &samples[i]
		count := 1 + len(t.Labels) // __name__ and the target's
		if l.valueLen > 0 && len(s.Name) > l.valueLen {
			return l.valueErr(s.Name, model.MetricNameLabel, string(s.Name), len(s.Name))
		}
		for k := 0; ; {
			n, raw, next, ok := expo.NextLabel(s.Labels, k)
			if !ok {
				break
			}
			k = next
			_, clash := t.Labels[string(n)]
			nameLen := len(n)
			switch {
			case clash && t.HonorLabels: // the sample's replaces the target's
			case clash:
				count++
				nameLen += len(model.ExportedLabelPrefix)
			default:
				count++
			}
			if l.nameLen > 0 && nameLen > l.nameLen {
				name := string(n)
				if clash && !t.HonorLabels {
					name = model.ExportedLabelPrefix + name
				}
				return l.nameErr(s.Name, name, nameLen)
			}
			if vl := unescapedLen(raw); l.valueLen > 0 && vl > l.valueLen {
				return l.valueErr(s.Name, string(n), string(expo.Unescape(nil, raw)), vl)
			}
		}
		if l.count > 0 && count > l.count {
			return l.countErr(s.Name, count)
		}
	}
	return nil
}

// unescapedLen is the length of a raw label value once unescaped.
func unescapedLen(raw []byte) int {
	n := len(raw)
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			switch raw[i+1] {
			case '\\', '"', 'n':
				n--
			}
			i++
		}
	}
	return n
}

// rewriter applies a job's metric_relabel_configs to a scrape, one per loop
// so that its buffers are reused.
type rewriter struct {
	lb       *labels.Builder
	conflict []labels.Label
}

var errInvalidName = errors.New("invalid metric name")

// rewrite relabels every sample of p with the target's labels merged in as
// Prometheus's mutateSampleLabels does, into out (samples) and buf (their
// names and labels), checks the label limits of the result, and returns the
// kept samples, which carry all their labels (Snapshot.Final).
func (rw *rewriter) rewrite(samples []expo.Sample, t *targets.Target, rcs []*relabel.Config, lim labelLimits, out []expo.Sample, buf []byte) ([]expo.Sample, []byte, error) {
	if rw.lb == nil {
		rw.lb = labels.NewBuilder(labels.EmptyLabels())
	}
	out, buf = out[:0], buf[:0]
	for i := range samples {
		s := &samples[i]
		lb := rw.lb
		lb.Reset(labels.EmptyLabels())
		lb.Set(model.MetricNameLabel, bstr(s.Name))
		expo.EachLabel(s.Labels, func(n, raw []byte) bool {
			v := bstr(raw)
			if strings.IndexByte(v, '\\') >= 0 {
				v = string(expo.Unescape(nil, raw))
			}
			lb.Set(bstr(n), v)
			return true
		})
		rw.conflict = rw.conflict[:0]
		for n, v := range t.Labels {
			if t.HonorLabels {
				if lb.Get(n) == "" {
					lb.Set(n, v)
				}
				continue
			}
			if old := lb.Get(n); old != "" {
				rw.conflict = append(rw.conflict, labels.Label{Name: n, Value: old})
			}
			lb.Set(n, v)
		}
		for _, c := range rw.conflict {
			name := c.Name
			for {
				name = model.ExportedLabelPrefix + name
				if lb.Get(name) == "" {
					lb.Set(name, c.Value)
					break
				}
			}
		}
		if !relabel.ProcessBuilder(lb, rcs...) {
			continue
		}
		ls := lb.Labels()
		if ls.IsEmpty() {
			continue
		}
		name := ls.Get(model.MetricNameLabel)
		if !model.LegacyValidation.IsValidMetricName(name) {
			return nil, nil, fmt.Errorf("%w %q after metric_relabel_configs (from %s)", errInvalidName, name, s.Name)
		}
		ns := len(buf)
		buf = append(buf, name...)
		ne := len(buf)
		metric := buf[ns:ne]
		if lim.count > 0 && ls.Len() > lim.count {
			return nil, nil, lim.countErr(metric, ls.Len())
		}
		var err error
		ls.Range(func(l labels.Label) {
			if err == nil {
				err = lim.check(metric, l.Name, l.Value)
			}
		})
		if err != nil {
			return nil, nil, err
		}
		first := true
		ls.Range(func(l labels.Label) {
			if l.Name == model.MetricNameLabel {
				return
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, l.Name...)
			buf = append(buf, '=', '"')
			buf = appendEscaped(buf, l.Value)
			buf = append(buf, '"')
		})
		le := len(buf)
		fam := s.Family
		if name != string(s.Name) {
			fam = -1
		}
		out = append(out, expo.Sample{Value: s.Value, Timestamp: s.Timestamp, HasTimestamp: s.HasTimestamp, Family: fam,
			Name: buf[ns:ne:ne], Labels: buf[ne:le:le]})
	}
	// buf may have moved while it grew: point every sample into its final array.
	off := 0
	for i := range out {
		nl, ll := len(out[i].Name), len(out[i].Labels)
		out[i].Name = buf[off : off+nl : off+nl]
		off += nl
		out[i].Labels = buf[off : off+ll : off+ll]
		off += ll
	}
	return out, buf, nil
}

// appendEscaped appends v escaped as a label value of the text formats.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// bstr is b as a string without a copy; only for strings that do not outlive
// b's current contents (relabelling's input, the body of the scrape).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
