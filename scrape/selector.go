package scrape

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MatchType is the operator of a label matcher.
type MatchType int

// Label matcher operators, as in PromQL.
const (
	MatchEqual MatchType = iota
	MatchNotEqual
	MatchRegexp
	MatchNotRegexp
)

// Matcher matches one label (the metric name is the label __name__).
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// Matches reports whether v (the label's value, "" when absent) matches.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}

// Selector is a series selector: every matcher must match.
type Selector []*Matcher

// ParseSelector parses a PromQL series selector such as
// `up`, `{job="x"}` or `corral_collector_state{state!="online",collector=~"pg-.*"}`,
// the form /federate's match[] takes. At least one matcher must not match the empty
// string, as Prometheus requires, so a selector cannot select everything by accident.
func ParseSelector(s string) (Selector, error) {
	p := &selParser{s: s}
	sel, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("match[] %q: %w", s, err)
	}
	nonEmpty := false
	for _, m := range sel {
		if !m.Matches("") {
			nonEmpty = true
		}
	}
	if !nonEmpty {
		return nil, fmt.Errorf("match[] %q: needs at least one matcher that does not match the empty string", s)
	}
	return sel, nil
}

type selParser struct {
	s   string
	pos int
}

func (p *selParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

func isNameStart(c byte, colon bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (colon && c == ':')
}

func isNameChar(c byte, colon bool) bool {
	return isNameStart(c, colon) || (c >= '0' && c <= '9')
}

func (p *selParser) ident(colon bool) string {
	start := p.pos
	if p.pos < len(p.s) && isNameStart(p.s[p.pos], colon) {
		p.pos++
		for p.pos < len(p.s) && isNameChar(p.s[p.pos], colon) {
			p.pos++
		}
	}
	return p.s[start:p.pos]
}

func (p *selParser) parse() (Selector, error) {
	var sel Selector
	p.skipSpace()
	if name := p.ident(true); name != "" {
		sel = append(sel, &Matcher{Name: "__name__", Type: MatchEqual, Value: name})
	}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '{' {
		p.pos++
		for {
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == '}' {
				p.pos++
				break
			}
			var name string
			if p.pos < len(p.s) && p.s[p.pos] == '"' {
				v, err := p.quoted()
				if err != nil {
					return nil, err
				}
				name = v
			} else {
				name = p.ident(false)
			}
			if name == "" {
				return nil, fmt.Errorf("expected a label name at position %d", p.pos)
			}
			p.skipSpace()
			var typ MatchType
			switch {
			case strings.HasPrefix(p.s[p.pos:], "=~"):
				typ, p.pos = MatchRegexp, p.pos+2
			case strings.HasPrefix(p.s[p.pos:], "!~"):
				typ, p.pos = MatchNotRegexp, p.pos+2
			case strings.HasPrefix(p.s[p.pos:], "!="):
				typ, p.pos = MatchNotEqual, p.pos+2
			case strings.HasPrefix(p.s[p.pos:], "="):
				typ, p.pos = MatchEqual, p.pos+1
			default:
				return nil, fmt.Errorf("expected =, !=, =~ or !~ after %q", name)
			}
			p.skipSpace()
			val, err := p.quoted()
			if err != nil {
				return nil, err
			}
			m := &Matcher{Name: name, Type: typ, Value: val}
			if typ == MatchRegexp || typ == MatchNotRegexp {
				re, err := regexp.Compile("^(?s:" + val + ")$")
				if err != nil {
					return nil, fmt.Errorf("label %s: bad regular expression: %w", name, err)
				}
				m.re = re
			}
			sel = append(sel, m)
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == '}' {
				p.pos++
				break
			}
			return nil, fmt.Errorf("expected , or } at position %d", p.pos)
		}
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at position %d", p.s[p.pos:], p.pos)
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return sel, nil
}

func (p *selParser) quoted() (string, error) {
	if p.pos >= len(p.s) {
		return "", fmt.Errorf("expected a quoted string at the end")
	}
	q := p.s[p.pos]
	if q != '"' && q != '\'' && q != '`' {
		return "", fmt.Errorf("expected a quoted string at position %d", p.pos)
	}
	end := p.pos + 1
	for end < len(p.s) && p.s[end] != q {
		if p.s[end] == '\\' && q != '`' {
			end++
		}
		end++
	}
	if end >= len(p.s) {
		return "", fmt.Errorf("unterminated string starting at position %d", p.pos)
	}
	raw := p.s[p.pos : end+1]
	p.pos = end + 1
	if q == '`' {
		return raw[1 : len(raw)-1], nil
	}
	if q == '\'' {
		raw = `"` + strings.ReplaceAll(strings.ReplaceAll(raw[1:len(raw)-1], `\'`, `'`), `"`, `\"`) + `"`
	}
	v, err := strconv.Unquote(raw)
	if err != nil {
		return "", fmt.Errorf("bad string %s: %w", raw, err)
	}
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("string %s is not valid UTF-8", raw)
	}
	return v, nil
}
