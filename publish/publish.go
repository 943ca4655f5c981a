// Package publish writes what the server knows of its fleet for Prometheus
// to read: the fleet series of /metrics (WriteFleet) and the latest samples
// of every collector for /federate (WriteFederate). Both stream: memory does
// not grow with the fleet beyond a list of collectors.
package publish

import (
	"bufio"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/selector"
)

// Fleet is the health of every collector: a *health.Evaluator.
type Fleet interface {
	// Each calls fn with every collector's health, sorted by collector, until fn returns false.
	Each(fn func(health.Health) bool)
}

// Snapshots are the latest scrapes: a *scrape.Manager.
type Snapshots interface {
	// HoldAll holds the latest snapshot of every collector, sorted by collector.
	HoldAll() []scrape.Held
}

// fleetFamily is one series family of the fleet on the server's /metrics.
type fleetFamily struct {
	name, typ, help string
	// write appends the family's lines for one collector; lbl is the collector's
	// label set without the closing brace, e.g. `{collector="a",job="b"`.
	write func(w *lineWriter, lbl string, h *health.Health)
}

// fleetFamilies are what the server derives. None shares a name with an
// agent's series (which /federate serves under their own names, the agent's
// items_total and config_generation among them): a name has one type and
// one source, so sum() counts once.
var fleetFamilies = []fleetFamily{
	{"corral_collector_up", "gauge", "1 if the last scrape of the collector succeeded.", func(w *lineWriter, lbl string, h *health.Health) {
		w.sample("corral_collector_up", lbl, "", "", b2f(h.Up))
	}},
	{"corral_collector_status", "gauge", "Status of the collector: 1 for the current one (offline error stale incomplete slow paused waiting online unknown archived).", func(w *lineWriter, lbl string, h *health.Health) {
		for _, s := range fleet.Statuses() {
			w.sample("corral_collector_status", lbl, "status", string(s), b2f(h.Status == s))
		}
	}},
	{"corral_collector_last_seen_timestamp_seconds", "gauge", "End of the last successful scrape.", func(w *lineWriter, lbl string, h *health.Health) {
		if !h.LastSeen.IsZero() {
			w.sample("corral_collector_last_seen_timestamp_seconds", lbl, "", "", unix(h.LastSeen))
		}
	}},
	{"corral_collector_freshness_seconds", "gauge", "Age of the newest item the collector collected, at the last scrape.", func(w *lineWriter, lbl string, h *health.Health) {
		if h.HasFreshness {
			w.sample("corral_collector_freshness_seconds", lbl, "", "", h.Freshness.Seconds())
		}
	}},
	{"corral_collector_completeness_ratio", "gauge", "Items collected over items expected, rolling over the window (1h, 24h); absent without an expectation.", func(w *lineWriter, lbl string, h *health.Health) {
		if !math.IsNaN(h.Completeness1h) {
			w.sample("corral_collector_completeness_ratio", lbl, "window", fleet.Window1h, h.Completeness1h)
		}
		if !math.IsNaN(h.Completeness24h) {
			w.sample("corral_collector_completeness_ratio", lbl, "window", fleet.Window24h, h.Completeness24h)
		}
	}},
	{"corral_collector_scrape_duration_seconds", "gauge", "Duration of the last scrape.", func(w *lineWriter, lbl string, h *health.Health) {
		if !h.LastScrape.IsZero() {
			w.sample("corral_collector_scrape_duration_seconds", lbl, "", "", h.ScrapeDuration.Seconds())
		}
	}},
	{"corral_collector_consecutive_scrape_failures", "gauge", "Failed scrapes in a row.", func(w *lineWriter, lbl string, h *health.Health) {
		w.sample("corral_collector_consecutive_scrape_failures", lbl, "", "", float64(h.ConsecutiveFailures))
	}},
	{"corral_collector_collection_mean_seconds", "gauge", "Mean duration of the agent's collection runs between the last two scrapes (from its corral_collector_collection_duration_seconds histogram).", func(w *lineWriter, lbl string, h *health.Health) {
		if h.Agent.DurationCount > 0 {
			w.sample("corral_collector_collection_mean_seconds", lbl, "", "", h.CollectionMean.Seconds())
		}
	}},
	{"corral_collector_cpu_usage_ratio", "gauge", "CPU cores the agent process used between the last two scrapes.", func(w *lineWriter, lbl string, h *health.Health) {
		if h.HasCPU {
			w.sample("corral_collector_cpu_usage_ratio", lbl, "", "", h.CPURatio)
		}
	}},
	{"corral_collector_memory_bytes", "gauge", "Resident memory of the agent process.", func(w *lineWriter, lbl string, h *health.Health) {
		if h.Agent.HasRSS {
			w.sample("corral_collector_memory_bytes", lbl, "", "", h.Agent.RSS)
		}
	}},
	{"corral_collector_start_time_seconds", "gauge", "Start time of the agent process (changes on restart).", func(w *lineWriter, lbl string, h *health.Health) {
		if h.Agent.HasStartTime {
			w.sample("corral_collector_start_time_seconds", lbl, "", "", h.Agent.StartTime)
		}
	}},
	{"corral_collector_restarts_total", "counter", "Agent restarts seen since the server started.", func(w *lineWriter, lbl string, h *health.Health) {
		w.sample("corral_collector_restarts_total", lbl, "", "", float64(h.Restarts))
	}},
}

// WriteFleet writes the fleet series in the text format, family by family,
// streaming: memory does not grow with the fleet beyond the list of collectors.
func WriteFleet(out io.Writer, e Fleet) error {
	w := newLineWriter(out)
	counts := map[fleet.Status]int{}
	e.Each(func(h health.Health) bool {
		counts[h.Status]++
		return true
	})
	w.header("corral_collectors", "gauge", "Collectors by status.")
	for _, s := range fleet.Statuses() {
		w.sample("corral_collectors", "{", "status", string(s), float64(counts[s]))
	}
	for i := range fleetFamilies {
		f := &fleetFamilies[i]
		w.header(f.name, f.typ, f.help)
		e.Each(func(h health.Health) bool {
			if h.Target == nil {
				return true
			}
			f.write(w, h.Target.OpenLabels(), &h)
			return w.err == nil
		})
		if w.err != nil {
			return w.err
		}
	}
	return w.flush()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// lineWriter writes exposition lines with one scratch buffer.
type lineWriter struct {
	w       *bufio.Writer
	scratch []byte
	err     error
}

func newLineWriter(w io.Writer) *lineWriter {
	return &lineWriter{w: bufio.NewWriterSize(w, 64<<10), scratch: make([]byte, 0, 64)}
}

func (w *lineWriter) header(name, typ, help string) {
	w.str("# HELP ")
	w.str(name)
	w.str(" ")
	w.str(help)
	w.str("\n# TYPE ")
	w.str(name)
	w.str(" ")
	w.str(typ)
	w.str("\n")
}

func (w *lineWriter) str(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

func (w *lineWriter) bytes(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

// sample writes name + lbl (open label set) [+ extra="value"] + "} " + value.
func (w *lineWriter) sample(name, lbl, extra, extraValue string, v float64) {
	w.str(name)
	w.str(lbl)
	if extra != "" {
		if len(lbl) > 1 {
			w.str(",")
		}
		w.str(extra)
		w.str(`="`)
		w.str(extraValue)
		w.str(`"`)
	}
	w.str("} ")
	w.value(v)
	w.str("\n")
}

func (w *lineWriter) value(v float64) {
	switch {
	case math.IsNaN(v):
		w.str("NaN")
	case math.IsInf(v, 1):
		w.str("+Inf")
	case math.IsInf(v, -1):
		w.str("-Inf")
	default:
		w.scratch = strconv.AppendFloat(w.scratch[:0], v, 'g', -1, 64)
		w.bytes(w.scratch)
	}
}

func (w *lineWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	return w.w.Flush()
}

var typeNames = map[expo.Type]string{
	expo.Counter: "counter", expo.Gauge: "gauge", expo.Histogram: "histogram",
	expo.Summary: "summary", expo.Untyped: "untyped",
}

type famRef struct {
	held       int
	start, end int
}

// WriteFederate writes the latest samples of every collector that match any of
// sels, with the collector's target labels, grouped by family as the text format
// wants. A sample label that clashes with a target label is kept as exported_<name>.
// It holds the latest snapshots while it writes, never a copy of them.
//
// As with Prometheus's staleness, a collector whose latest scrape failed has
// no samples here (only up 0): its last good ones are not served as if
// current.
func WriteFederate(out io.Writer, m Snapshots, e Fleet, sels []selector.Selector, opts ...FederateOption) error {
	var o federateOptions
	for _, opt := range opts {
		opt(&o)
	}
	w := newLineWriter(out)
	// up and scrape_duration_seconds of every collector, as Prometheus stores them.
	var upLines []health.Health
	down := map[string]bool{}
	e.Each(func(h health.Health) bool {
		if h.Target != nil {
			upLines = append(upLines, h)
			if !h.Up {
				down[h.Collector] = true
			}
		}
		return true
	})
	for _, fam := range []string{"up", "scrape_duration_seconds"} {
		wrote := false
		for i := range upLines {
			h := &upLines[i]
			v := b2f(h.Up)
			if fam == "scrape_duration_seconds" {
				if h.LastScrape.IsZero() {
					continue
				}
				v = h.ScrapeDuration.Seconds()
			}
			if !selected(sels, fam, nil, h.Target) {
				continue
			}
			if !wrote {
				w.str("# TYPE " + fam + " gauge\n")
				wrote = true
			}
			w.sample(fam, o.withExternal(h.Target), "", "", v)
		}
	}

	helds := m.HoldAll()
	defer func() {
		for _, h := range helds {
			h.Release()
		}
	}()
	live := helds[:0:0]
	for _, h := range helds {
		if !down[h.Target.Collector] {
			live = append(live, h)
		}
	}
	byFamily := map[string][]famRef{}
	types := map[string]expo.Type{}
	for hi, h := range live {
		samples := h.Samples()
		fams := h.Families()
		for i := 0; i < len(samples); {
			j := i + 1
			for j < len(samples) && samples[j].Family == samples[i].Family && (samples[i].Family >= 0 || string(samples[j].Name) == string(samples[i].Name)) {
				j++
			}
			var name string
			if f := samples[i].Family; f >= 0 && int(f) < len(fams) {
				var typ expo.Type
				name, typ = fams[f].InText(samples[i].Name)
				if _, ok := types[name]; !ok {
					types[name] = typ
				}
			} else {
				name = string(samples[i].Name)
			}
			byFamily[name] = append(byFamily[name], famRef{held: hi, start: i, end: j})
			i = j
		}
	}
	names := make([]string, 0, len(byFamily))
	for n := range byFamily {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		wrote := false
		for _, ref := range byFamily[name] {
			h := live[ref.held]
			lbl := h.Target.OpenLabels()
			ts := strconv.FormatInt(h.At.UnixMilli(), 10)
			samples := h.Samples()
			final := h.Final()
			for k := ref.start; k < ref.end; k++ {
				s := &samples[k]
				if final {
					if !selectedFinal(sels, string(s.Name), s.Labels) {
						continue
					}
				} else if !selected(sels, string(s.Name), s.Labels, h.Target) {
					continue
				}
				if !wrote {
					typ := typeNames[types[name]]
					if typ == "" {
						typ = "untyped"
					}
					w.str("# TYPE " + name + " " + typ + "\n")
					wrote = true
				}
				w.bytes(s.Name)
				if final {
					// metric_relabel_configs merged the target's labels in.
					w.str("{")
					w.bytes(s.Labels)
					first := len(s.Labels) == 0
					for _, el := range o.external {
						if _, has := expo.LabelValue(s.Labels, el.name); has {
							continue
						}
						if !first {
							w.str(",")
						}
						first = false
						w.str(el.text)
					}
					w.str("} ")
					w.value(s.Value)
					w.str(" ")
					if s.HasTimestamp && h.Target.HonorTimestamps {
						w.str(strconv.FormatInt(s.Timestamp, 10))
					} else {
						w.str(ts)
					}
					w.str("\n")
					continue
				}
				tl := lbl
				if h.Target.HonorLabels && clashes(s.Labels, h.Target) {
					tl = h.Target.OpenLabelsWithout(func(n string) bool { _, has := expo.LabelValue(s.Labels, n); return has })
				}
				w.str(tl)
				first := len(tl) == 1
				expo.EachLabel(s.Labels, func(n, v []byte) bool {
					if !first {
						w.str(",")
					}
					first = false
					if _, clash := h.Target.Labels[string(n)]; clash && !h.Target.HonorLabels {
						w.str("exported_")
					}
					w.bytes(n)
					w.str(`="`)
					w.bytes(v)
					w.str(`"`)
					return true
				})
				for _, el := range o.external {
					if _, has := h.Target.Labels[el.name]; has {
						continue
					}
					if _, has := expo.LabelValue(s.Labels, el.name); has {
						continue
					}
					if !first {
						w.str(",")
					}
					first = false
					w.str(el.text)
				}
				w.str("} ")
				w.value(s.Value)
				w.str(" ")
				if s.HasTimestamp && h.Target.HonorTimestamps {
					w.str(strconv.FormatInt(s.Timestamp, 10))
				} else {
					w.str(ts)
				}
				w.str("\n")
			}
		}
		if w.err != nil {
			return w.err
		}
	}
	return w.flush()
}

// FederateOption changes what WriteFederate writes.
type FederateOption func(*federateOptions)

type federateOptions struct {
	external []externalLabel
}

type externalLabel struct{ name, text string }

// WithExternalLabels adds global.external_labels to every series that has no
// label of that name, as Prometheus's /federate does.
func WithExternalLabels(labels map[string]string) FederateOption {
	return func(o *federateOptions) {
		for _, name := range slices.Sorted(maps.Keys(labels)) {
			one := targets.Target{Labels: map[string]string{name: labels[name]}}
			text := one.LabelsString()
			o.external = append(o.external, externalLabel{name: name, text: text[1 : len(text)-1]})
		}
	}
}

// withExternal is the target's open label set with the external labels it
// lacks.
func (o *federateOptions) withExternal(t *targets.Target) string {
	lbl := t.OpenLabels()
	for _, el := range o.external {
		if _, has := t.Labels[el.name]; has {
			continue
		}
		if len(lbl) > 1 {
			lbl += ","
		}
		lbl += el.text
	}
	return lbl
}

// clashes reports whether a sample has a label of the target's.
func clashes(labels []byte, t *targets.Target) bool {
	clash := false
	expo.EachLabel(labels, func(n, _ []byte) bool {
		_, clash = t.Labels[string(n)]
		return !clash
	})
	return clash
}

// selectedFinal is selected for a sample that carries all its labels.
func selectedFinal(sels []selector.Selector, name string, labels []byte) bool {
	get := func(n string) string {
		if n == "__name__" {
			return name
		}
		if lv, has := expo.LabelValue(labels, n); has {
			return string(lv)
		}
		return ""
	}
	for _, sel := range sels {
		if sel.MatchesWith(get) {
			return true
		}
	}
	return false
}

// selected reports whether any selector matches the series: the sample's name and
// labels, with the target's labels taking precedence as in the output.
func selected(sels []selector.Selector, name string, labels []byte, t *targets.Target) bool {
	get := func(n string) string {
		if n == "__name__" {
			return name
		}
		if t.HonorLabels && labels != nil {
			if lv, has := expo.LabelValue(labels, n); has {
				return string(lv)
			}
		}
		if tv, has := t.Labels[n]; has {
			return tv
		}
		if labels != nil {
			if lv, has := expo.LabelValue(labels, n); has {
				return string(lv)
			}
		}
		return ""
	}
	for _, sel := range sels {
		if sel.MatchesWith(get) {
			return true
		}
	}
	return false
}
