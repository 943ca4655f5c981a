package targets

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	promlabels "github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Label names with a meaning to corral, as in Prometheus.
const (
	LabelJob         = "job"
	LabelInstance    = "instance"
	LabelCollector   = "collector"
	LabelAddress     = "__address__"
	LabelScheme      = "__scheme__"
	LabelMetricsPath = "__metrics_path__"
	LabelParamPrefix = "__param_"
	LabelMetaPrefix  = "__meta_"
	// LabelFilePath is set by file_sd on each of its groups.
	LabelFilePath = "__meta_filepath"
)

// Target is one collector to scrape, after merging and labelling.
// A Target handed out by the Manager is shared: read it, never change it.
type Target struct {
	Collector string            // identity: the `collector` label; default job + "/" + instance
	Job       string            // the `job` label (a file_sd group may set its own)
	ScrapeJob string            // the scrape config (job_name) that found it: its scrape settings apply
	Instance  string            // the `instance` label; default the address (host:port)
	URL       string            // scheme://address + metrics_path (from __scheme__, __metrics_path__, defaults http, /metrics), plus the job's params and __param_* query params
	Labels    map[string]string // final target labels: job, instance, collector, group labels; no label starting with "__"
	Meta      map[string]string // the "__" labels (__address__, __scheme__, __metrics_path__, __meta_filepath, __scrape_interval__, __corral_stale_after__ …) kept for the scraper
	Org       string            // the tenant: from the Tenancy's org label, else its default org
	Team      string            // from the Tenancy's team label; "" for none
	Provider  string            // "static", "file_sd", "registry"
	Source    string            // the Group.Source it came from
	Hash      uint64            // stable hash of Collector, URL, labels and non-__meta_ Meta labels (for scrape offsets and change detection)
	// HonorLabels and HonorTimestamps are the job's honor_labels and
	// honor_timestamps: on a clash the sample's own label wins (else the
	// target's, and the sample's is kept as exported_<name>); a sample's own
	// timestamp is kept (else the scrape's time is used).
	HonorLabels, HonorTimestamps bool

	labelsText string // LabelsString, rendered once when the target is made
}

// Address is the host:port scraped (the __address__ label).
func (t *Target) Address() string { return t.Meta[LabelAddress] }

// LabelsString renders t.Labels as `{collector="…",instance="…",job="…",…}`,
// sorted by name, values escaped as in the text exposition format. A target
// made by discovery has it rendered once; the publishers call it per series.
func (t *Target) LabelsString() string {
	if t.labelsText != "" {
		return t.labelsText
	}
	return renderLabels(t.Labels)
}

// OpenLabels is LabelsString without its closing brace, for writers that
// append more labels: `{collector="a",job="b"`.
func (t *Target) OpenLabels() string {
	s := t.LabelsString()
	return s[:len(s)-1]
}

// OpenLabelsWithout is OpenLabels without the labels skip names, for a
// writer whose sample labels win over the target's (honor_labels).
func (t *Target) OpenLabelsWithout(skip func(name string) bool) string {
	kept := make(map[string]string, len(t.Labels))
	for k, v := range t.Labels {
		if !skip(k) {
			kept[k] = v
		}
	}
	s := renderLabels(kept)
	return s[:len(s)-1]
}

func renderLabels(labels map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range sortedKeys(labels) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(expositionName(name))
		b.WriteString(`="`)
		writeEscaped(&b, labels[name])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// expositionName is name as corral writes it in the text format: a name
// outside [a-zA-Z_][a-zA-Z0-9_]* (Prometheus 3 allows any UTF-8 name) is
// escaped with underscores, as Prometheus's own exposition does for a scraper
// that did not ask for UTF-8 names, so that every scraper can read it.
func expositionName(name string) string {
	if ValidLabelName(name) {
		return name
	}
	return model.EscapeName(name, model.UnderscoreEscaping)
}

func (t *Target) String() string { return t.Collector + " " + t.URL }

// writeEscaped escapes a label value as the text format does: \\, \" and \n.
func writeEscaped(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}

// hashTarget hashes what makes a scrape different: identity, URL and labels.
// __meta_* labels are left out, as Prometheus drops them before hashing: a
// collector moving from one file to another keeps its scrape loop and offset.
func hashTarget(t *Target) uint64 {
	h := fnv.New64a()
	sep := []byte{0xff}
	h.Write([]byte(t.Collector))
	h.Write(sep)
	h.Write([]byte(t.URL))
	if t.HonorLabels {
		h.Write([]byte{0xfe, 1})
	}
	if t.HonorTimestamps {
		h.Write([]byte{0xfe, 2})
	}
	for _, set := range []map[string]string{t.Labels, t.Meta} {
		h.Write(sep)
		for _, name := range sortedKeys(set) {
			if strings.HasPrefix(name, LabelMetaPrefix) {
				continue
			}
			h.Write([]byte(name))
			h.Write(sep)
			h.Write([]byte(set[name]))
			h.Write(sep)
		}
	}
	return h.Sum64()
}

// DroppedTarget is a discovered target that is not scraped: dropped by its
// job's relabel_configs (Reason ""), or one Prometheus would not scrape either
// (Reason says why). Discovered are its labels before relabelling.
type DroppedTarget struct {
	ScrapeJob  string
	Provider   string
	Source     string
	Discovered map[string]string
	Reason     string
	Org, Team  string // its tenant, from the discovered labels
}

// errRelabelDrop marks a target dropped by relabel_configs: not an error, yet
// not scraped.
var errRelabelDrop = errors.New("dropped by relabel_configs")

// buildTargets turns a group into targets the way Prometheus populates labels
// for a scrape config: a target's own __address__ wins over the group's
// labels, which win over the job's defaults (job, __scheme__,
// __metrics_path__, __param_*); the job's relabel_configs then apply to all of
// them, __meta_* included; an empty label is an absent one; instance defaults
// to the address and, in corral, collector to job/instance.
// As in Prometheus, a target that cannot be scraped is dropped alone, listed in
// dropped with the reason; the group's other targets are kept.
func buildTargets(job *ScrapeJob, kind string, g *Group) (out []*Target, dropped []DroppedTarget) {
	var labelErr error
	for _, name := range sortedKeys(g.Labels) {
		if labelErr = checkLabel(name, g.Labels[name]); labelErr != nil {
			break
		}
	}
	out = make([]*Target, 0, len(g.Targets))
	for i, addr := range g.Targets {
		err := labelErr
		if err == nil {
			err = CheckAddress(addr)
		}
		var t *Target
		if err == nil {
			t, err = buildTarget(job, kind, g, addr)
		}
		if err != nil {
			d := DroppedTarget{ScrapeJob: job.Name, Provider: kind, Source: g.Source, Discovered: discovered(job, g, addr)}
			d.Org, d.Team = job.Tenancy.Of(d.Discovered)
			if !errors.Is(err, errRelabelDrop) {
				d.Reason = fmt.Sprintf("targets[%d] %q: %v", i, addr, err)
			}
			dropped = append(dropped, d)
			continue
		}
		out = append(out, t)
	}
	return out, dropped
}

// discovered is a target's label set before relabelling, as Prometheus's
// discoveredLabels: the group's labels, the address and the job's defaults.
func discovered(job *ScrapeJob, g *Group, addr string) map[string]string {
	labels, meta := baseLabels(job, g, addr)
	maps.Copy(labels, meta)
	return labels
}

// baseLabels splits a target's labels before relabelling into target labels
// and the "__" ones.
func baseLabels(job *ScrapeJob, g *Group, addr string) (labels, meta map[string]string) {
	labels = make(map[string]string, len(g.Labels)+3)
	meta = make(map[string]string, 4)
	for name, v := range g.Labels {
		if v == "" {
			continue
		}
		if strings.HasPrefix(name, "__") {
			meta[name] = v
		} else {
			labels[name] = v
		}
	}
	meta[LabelAddress] = addr
	setDefault(labels, LabelJob, job.Name)
	setDefault(meta, LabelScheme, job.Scheme)
	setDefault(meta, LabelScheme, "http")
	setDefault(meta, LabelMetricsPath, job.MetricsPath)
	setDefault(meta, LabelMetricsPath, "/metrics")
	for k, v := range job.Params {
		if len(v) > 0 {
			setDefault(meta, LabelParamPrefix+k, v[0])
		}
	}
	return labels, meta
}

func setDefault(m map[string]string, name, v string) {
	if m[name] == "" && v != "" {
		m[name] = v
	}
}

func buildTarget(job *ScrapeJob, kind string, g *Group, addr string) (*Target, error) {
	labels, meta := baseLabels(job, g, addr)
	if len(job.Relabel) > 0 {
		lb := promlabels.NewBuilder(promlabels.EmptyLabels())
		for _, m := range []map[string]string{labels, meta} {
			for k, v := range m {
				lb.Set(k, v)
			}
		}
		if !relabel.ProcessBuilder(lb, job.Relabel...) {
			return nil, errRelabelDrop
		}
		labels, meta = map[string]string{}, map[string]string{}
		lb.Range(func(l promlabels.Label) {
			if strings.HasPrefix(l.Name, "__") {
				meta[l.Name] = l.Value
			} else {
				labels[l.Name] = l.Value
			}
		})
		if addr = meta[LabelAddress]; addr == "" {
			return nil, errors.New("no address after relabel_configs")
		}
		if err := CheckAddress(addr); err != nil {
			return nil, fmt.Errorf("after relabel_configs: %w", err)
		}
		for name, v := range labels {
			if err := checkLabel(name, v); err != nil {
				return nil, fmt.Errorf("after relabel_configs: %w", err)
			}
		}
	}
	setDefault(labels, LabelInstance, addr)
	if labels[LabelJob] == "" {
		return nil, fmt.Errorf("no job label and the scrape job has no name")
	}
	setDefault(labels, LabelCollector, labels[LabelJob]+"/"+labels[LabelInstance])

	scheme, path := meta[LabelScheme], meta[LabelMetricsPath]
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", scheme)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("metrics path %q: must start with /", path)
	}
	params := url.Values{}
	for k, v := range job.Params {
		params[k] = slices.Clone(v)
	}
	for name, v := range meta {
		if k, ok := strings.CutPrefix(name, LabelParamPrefix); ok {
			if len(params[k]) > 0 {
				params[k][0] = v
			} else {
				params[k] = []string{v}
			}
		}
	}
	u := url.URL{Scheme: scheme, Host: addr, Path: path, RawQuery: params.Encode()}
	t := &Target{
		Collector: labels[LabelCollector],
		Job:       labels[LabelJob],
		ScrapeJob: job.Name,
		Instance:  labels[LabelInstance],
		URL:       u.String(),
		Labels:    labels,
		Meta:      meta,
		Provider:  kind,
		Source:    g.Source,

		HonorLabels:     job.HonorLabels,
		HonorTimestamps: !job.IgnoreTimestamps,
	}
	t.Org, t.Team = job.Tenancy.Of(labels)
	t.Hash = hashTarget(t)
	t.labelsText = renderLabels(t.Labels)
	return t, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
