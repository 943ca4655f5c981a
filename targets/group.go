// Package targets decides what corral scrapes. Providers (static_configs,
// file_sd_configs, the registry) emit target groups in Prometheus's shape; the
// Manager merges them into one set of collectors, labels them as Prometheus does
// (job, instance, __address__, __scheme__, __metrics_path__, __param_*), resolves
// collectors found more than once, and hands the full set to the scraper.
package targets

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// Group is a target group in Prometheus's shape (file_sd / static_configs entries).
type Group struct {
	Targets []string          `yaml:"targets" json:"targets"`
	Labels  map[string]string `yaml:"labels" json:"labels"`
	Source  string            `yaml:"-" json:"-"` // unique per group within a provider, e.g. "/etc/corral/sd/a.yml:0"
}

// Validate checks every label name and value and every target address of g.
// The error names the offending label or target; callers add which group it is.
func (g *Group) Validate() error {
	for _, name := range sortedKeys(g.Labels) {
		if err := checkLabel(name, g.Labels[name]); err != nil {
			return err
		}
	}
	for i, t := range g.Targets {
		if err := CheckAddress(t); err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
	}
	return nil
}

// clone returns a deep copy of g, so that a provider's later changes (or a
// caller's) never reach a group already handed on.
func (g *Group) clone() *Group {
	c := &Group{Source: g.Source, Targets: append([]string(nil), g.Targets...)}
	if g.Labels != nil {
		c.Labels = maps.Clone(g.Labels)
	}
	return c
}

// equal reports whether a and b carry the same targets and labels.
func (g *Group) equal(o *Group) bool {
	if g.Source != o.Source || len(g.Targets) != len(o.Targets) || len(g.Labels) != len(o.Labels) {
		return false
	}
	for i := range g.Targets {
		if g.Targets[i] != o.Targets[i] {
			return false
		}
	}
	for k, v := range g.Labels {
		if ov, ok := o.Labels[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// ValidLabelName reports whether name matches [a-zA-Z_][a-zA-Z0-9_]*, the label
// names Prometheus accepts (its legacy, and still the portable, scheme).
func ValidLabelName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkLabel(name, value string) error {
	if !model.UTF8Validation.IsValidLabelName(name) {
		return fmt.Errorf("label name %q is not valid: it must be non-empty UTF-8", name)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("label %s: value %q is not valid UTF-8", name, value)
	}
	return nil
}

// ErrAddress is wrapped by every error of CheckAddress.
var ErrAddress = errors.New("invalid target address")

// CheckAddress reports whether Prometheus would scrape addr as a target's
// __address__: anything but an empty address or one with a "/" (a URL or a
// path). A port is optional, as in Prometheus 3: without one the scheme's
// default port is used. The error says how to write what was meant.
func CheckAddress(addr string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: "+format, append([]any{ErrAddress, addr}, args...)...)
	}
	switch {
	case addr == "":
		return bad("empty; want host:port")
	case strings.Contains(addr, "://"):
		scheme, rest, _ := strings.Cut(addr, "://")
		return bad("want host:port without a scheme: write %q and set the job's scheme (or the __scheme__ label) to %q", hostPortOf(rest), scheme)
	case strings.Contains(addr, "/"):
		return bad("want host:port without a path: write %q and set the job's metrics_path (or the __metrics_path__ label) for the path", hostPortOf(addr))
	}
	return nil
}

// hostPortOf cuts what follows the first "/" off s, for the hints of CheckAddress.
func hostPortOf(s string) string {
	h, _, _ := strings.Cut(s, "/")
	return h
}

// StaticConfig is one static_configs entry.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// Validate checks the entry as the Manager will: a config loader calls it to fail
// early, with its own field prefix ("scrape_configs[0].static_configs[1]: …").
func (c StaticConfig) Validate() error {
	g := Group{Targets: c.Targets, Labels: c.Labels}
	return g.Validate()
}
