package publish

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Negotiate picks the format of an answer of /metrics or /federate from the
// request's Accept header, as client_golang's promhttp does with OpenMetrics
// enabled: OpenMetrics 1.0.0 or 0.0.1 when asked for, the text format
// otherwise (*/* and no header included).
func Negotiate(h http.Header) expfmt.Format {
	return expfmt.NegotiateAccept(h, expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1)
}

// IsOpenMetrics reports whether f is an OpenMetrics format.
func IsOpenMetrics(f expfmt.Format) bool { return f.FormatType() == expfmt.TypeOpenMetrics }

// ToOpenMetrics re-encodes text, an exposition in the text format as
// WriteFleet and WriteFederate write it, followed by extra families, in the
// OpenMetrics format f with expfmt's encoder (counter families lose their
// _total, # EOF ends it). Unlike the text writers it holds the whole answer
// in memory: OpenMetrics names a family before its samples differently.
func ToOpenMetrics(out io.Writer, f expfmt.Format, text []byte, extra []*dto.MetricFamily) error {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return fmt.Errorf("re-read the text exposition for OpenMetrics: %w", err)
	}
	all := make([]*dto.MetricFamily, 0, len(fams)+len(extra))
	for _, mf := range fams {
		all = append(all, mf)
	}
	slices.SortFunc(all, func(a, b *dto.MetricFamily) int {
		switch {
		case a.GetName() < b.GetName():
			return -1
		case a.GetName() > b.GetName():
			return 1
		}
		return 0
	})
	all = append(all, extra...)
	enc := expfmt.NewEncoder(out, f)
	for _, mf := range all {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}
