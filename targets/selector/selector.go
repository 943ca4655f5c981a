// Package selector picks series and collectors by their labels with
// Prometheus's own label matchers (model/labels) and series selector syntax
// (promql/parser), so that a selector means in corral exactly what it means
// in PromQL: /federate's match[], a bulk operation's selector and the
// collector list's label filters all go through it.
package selector

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Selector is a series selector: every matcher must match. The metric name
// is the label __name__.
type Selector []*labels.Matcher

// Parse parses a PromQL series selector such as `up`, `{job="x"}` or
// `corral_collector_state{state!="online",collector=~"pg-.*"}`. At least one
// matcher must not match the empty string, as Prometheus requires, so a
// selector cannot select everything by accident.
func Parse(s string) (Selector, error) {
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %s", s, strings.TrimSpace(err.Error()))
	}
	for _, m := range ms {
		if !m.Matches("") {
			return Selector(ms), nil
		}
	}
	return nil, fmt.Errorf("selector %q: needs at least one matcher that does not match the empty string", s)
}

// Matcher is one label matcher written as the API's label filters take it,
// without quotes: name=value, name!=value, name=~regex or name!~regex.
func Matcher(s string) (*labels.Matcher, error) {
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, fmt.Errorf("%q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	name, rest := s[:i], s[i:]
	var t labels.MatchType
	switch {
	case strings.HasPrefix(rest, "=~"):
		t, rest = labels.MatchRegexp, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		t, rest = labels.MatchNotRegexp, rest[2:]
	case strings.HasPrefix(rest, "!="):
		t, rest = labels.MatchNotEqual, rest[2:]
	case strings.HasPrefix(rest, "="):
		t, rest = labels.MatchEqual, rest[1:]
	default:
		return nil, fmt.Errorf("%q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	m, err := labels.NewMatcher(t, name, rest)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	return m, nil
}

// Matches reports whether a set of labels (a collector's target labels)
// matches every matcher; an absent label is the empty string.
func (sel Selector) Matches(set map[string]string) bool {
	for _, m := range sel {
		if !m.Matches(set[m.Name]) {
			return false
		}
	}
	return true
}

// MatchesWith is Matches over a label set given as a lookup function, for
// series whose labels are not a map (a sample's labels under its target's).
func (sel Selector) MatchesWith(get func(name string) string) bool {
	for _, m := range sel {
		if !m.Matches(get(m.Name)) {
			return false
		}
	}
	return true
}
