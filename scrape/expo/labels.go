package expo

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// Character classes of names.
const (
	cName       = 1 << iota // [a-zA-Z0-9_:]
	cNameStart              // [a-zA-Z_:]
	cLabel                  // [a-zA-Z0-9_]
	cLabelStart             // [a-zA-Z_]
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		digit := c >= '0' && c <= '9'
		if letter || digit || c == ':' {
			t[c] |= cName
		}
		if letter || c == ':' {
			t[c] |= cNameStart
		}
		if letter || digit {
			t[c] |= cLabel
		}
		if letter {
			t[c] |= cLabelStart
		}
	}
	return t
}()

// scanName returns the end of the metric name that starts at b[i], i if none does.
func scanName(b []byte, i int) int {
	if i >= len(b) || charClass[b[i]]&cNameStart == 0 {
		return i
	}
	for i++; i < len(b) && charClass[b[i]]&cName != 0; i++ {
	}
	return i
}

// scanLabelName returns the end of the label name that starts at b[i], i if none does.
func scanLabelName(b []byte, i int) int {
	if i >= len(b) || charClass[b[i]]&cLabelStart == 0 {
		return i
	}
	for i++; i < len(b) && charClass[b[i]]&cLabel != 0; i++ {
	}
	return i
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func skipBlanks(b []byte, i int) int {
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	return i
}

// lspan is one label of the current line: offsets into the line.
type lspan struct {
	ns, ne, vs, ve int32
	esc            bool // the value has escape sequences
}

func (l lspan) name(b []byte) []byte  { return b[l.ns:l.ne] }
func (l lspan) value(b []byte) []byte { return b[l.vs:l.ve] }

// scanValue scans a quoted label value whose first byte is b[i] (after the
// quote) and returns the index of the closing quote. In the text format only
// \\, \" and \n are escapes, as in expfmt; OpenMetrics allows a backslash
// before any character.
func (p *Parser) scanValue(b []byte, i int, om bool) (end int, esc bool, err error) {
	// Most values have no escapes: find the quote, check there is no
	// backslash before it and that the value is UTF-8.
	if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
		v := b[i : i+q]
		if bytes.IndexByte(v, '\\') < 0 {
			if !utf8.Valid(v) {
				return 0, false, p.errorf("label value %q is not valid UTF-8", v)
			}
			return i + q, false, nil
		}
	}
	high := false
	vs := i
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			if high && !utf8.Valid(b[vs:i]) {
				return 0, false, p.errorf("label value %q is not valid UTF-8", b[vs:i])
			}
			return i, esc, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, false, p.errorf("unterminated label value")
			}
			if n := b[i+1]; !om && n != '\\' && n != '"' && n != 'n' {
				return 0, false, p.errorf("invalid escape sequence %q in label value", b[i:i+2])
			}
			esc = true
			i += 2
		default:
			if c >= utf8.RuneSelf {
				high = true
			}
			i++
		}
	}
	return 0, false, p.errorf("unterminated label value (label values cannot span lines)")
}

// textLabels parses a text-format label set starting after its '{' at b[i] and
// returns the index of the closing '}'. Blanks may surround every token and a
// comma may end the set, as expfmt allows.
func (p *Parser) textLabels(b []byte, i int, metric []byte) (int, error) {
	for {
		i = skipBlanks(b, i)
		if i >= len(b) {
			return 0, p.errorf("unterminated label set for metric %s", metric)
		}
		if b[i] == '}' {
			return i, nil
		}
		ns := i
		i = scanLabelName(b, i)
		if i == ns {
			if b[i] == '"' {
				return 0, p.errorf("quoted label names are not supported (metric %s)", metric)
			}
			return 0, p.errorf("invalid label name at %q for metric %s", clip(b[ns:]), metric)
		}
		ne := i
		i = skipBlanks(b, i)
		if i >= len(b) || b[i] != '=' {
			return 0, p.errorf("expected '=' after label name %s for metric %s", b[ns:ne], metric)
		}
		i = skipBlanks(b, i+1)
		if i >= len(b) || b[i] != '"' {
			return 0, p.errorf("expected '\"' at start of the value of label %s for metric %s", b[ns:ne], metric)
		}
		ve, esc, err := p.scanValue(b, i+1, false)
		if err != nil {
			return 0, err
		}
		p.lbl = append(p.lbl, lspan{ns: int32(ns), ne: int32(ne), vs: int32(i + 1), ve: int32(ve), esc: esc})
		i = skipBlanks(b, ve+1)
		if i >= len(b) {
			return 0, p.errorf("unterminated label set for metric %s", metric)
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i, nil
		default:
			return 0, p.errorf("expected ',' or '}' after the value of label %s for metric %s, found %q", b[ns:ne], metric, b[i])
		}
	}
}

// omLabels parses an OpenMetrics label set starting after its '{' at b[i]:
// name="value" pairs separated by single commas, nothing else.
func (p *Parser) omLabels(b []byte, i int, metric []byte) (int, error) {
	if i < len(b) && b[i] == '}' {
		return i, nil
	}
	for {
		ns := i
		i = scanLabelName(b, i)
		if i == ns {
			if i < len(b) && b[i] == '"' {
				return 0, p.errorf("quoted label names are not supported (metric %s)", metric)
			}
			return 0, p.errorf("invalid label name at %q for metric %s", clip(b[ns:]), metric)
		}
		ne := i
		if i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' {
			return 0, p.errorf("expected '=\"' after label name %s for metric %s", b[ns:ne], metric)
		}
		ve, esc, err := p.scanValue(b, i+2, true)
		if err != nil {
			return 0, err
		}
		p.lbl = append(p.lbl, lspan{ns: int32(ns), ne: int32(ne), vs: int32(i + 2), ve: int32(ve), esc: esc})
		i = ve + 1
		if i >= len(b) {
			return 0, p.errorf("unterminated label set for metric %s", metric)
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i, nil
		default:
			return 0, p.errorf("expected ',' or '}' after the value of label %s for metric %s, found %q", b[ns:ne], metric, b[i])
		}
	}
}

// checkLabels checks the labels of the current line (p.lbl): no __name__, no
// name twice. It returns the index in p.lbl of the label named special ("le",
// "quantile" or ""), or -1.
func (p *Parser) checkLabels(b, metric []byte, special string) (int, error) {
	found := -1
	for k, l := range p.lbl {
		name := l.name(b)
		if len(name) == 8 && string(name) == "__name__" {
			return 0, p.errorf("label name __name__ is reserved (metric %s)", metric)
		}
		for _, m := range p.lbl[:k] {
			if int(m.ne-m.ns) == len(name) && bytes.Equal(m.name(b), name) {
				return 0, p.errorf("duplicate label name %s for metric %s", name, metric)
			}
		}
		if special != "" && string(name) == special {
			found = k
		}
	}
	return found, nil
}

// labelFloat reads the value of an le or quantile label as expfmt does.
func labelFloat(b []byte, l lspan) (float64, bool) {
	if l.esc {
		return 0, false
	}
	v, ok := parseFloat(l.value(b))
	return v, ok && !math.IsNaN(v)
}

// clip shortens text quoted in an error.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// nextLabel returns the label of labels (a Sample's Labels) that starts at or
// after i, and where the one after it starts. It never panics on malformed input.
func nextLabel(b []byte, i int) (name, val []byte, next int, ok bool) {
	for i < len(b) && (isBlank(b[i]) || b[i] == ',') {
		i++
	}
	ns := i
	i = scanLabelName(b, i)
	if i == ns {
		return nil, nil, 0, false
	}
	name = b[ns:i]
	i = skipBlanks(b, i)
	if i >= len(b) || b[i] != '=' {
		return nil, nil, 0, false
	}
	i = skipBlanks(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return nil, nil, 0, false
	}
	i++
	vs := i
	for i < len(b) && b[i] != '"' {
		if b[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(b) {
		return nil, nil, 0, false
	}
	return name, b[vs:i], i + 1, true
}

// EachLabel calls fn with the name and the raw (still escaped) value of each
// label of labels, a Sample's Labels, in order, until fn returns false.
func EachLabel(labels []byte, fn func(name, rawValue []byte) bool) {
	for i := 0; ; {
		name, val, next, ok := nextLabel(labels, i)
		if !ok || !fn(name, val) {
			return
		}
		i = next
	}
}

// LabelValue returns the unescaped value of the label called name in labels, a
// Sample's Labels. The value is a sub-slice of labels unless it has escape
// sequences; only then does LabelValue allocate.
func LabelValue(labels []byte, name string) ([]byte, bool) {
	for i := 0; ; {
		n, val, next, ok := nextLabel(labels, i)
		if !ok {
			return nil, false
		}
		if string(n) == name {
			if bytes.IndexByte(val, '\\') < 0 {
				return val, true
			}
			return Unescape(nil, val), true
		}
		i = next
	}
}

// Unescape appends the unescaped form of rawValue, a label value or help text as
// it is in the body, to dst and returns the extended slice. \\, \" and \n are
// escapes; a backslash before any other character stays, as OpenMetrics has it
// (the text format rejects such values when parsing).
func Unescape(dst, rawValue []byte) []byte {
	for {
		k := bytes.IndexByte(rawValue, '\\')
		if k < 0 || k+1 >= len(rawValue) {
			return append(dst, rawValue...)
		}
		dst = append(dst, rawValue[:k]...)
		switch c := rawValue[k+1]; c {
		case '\\', '"':
			dst = append(dst, c)
		case 'n':
			dst = append(dst, '\n')
		default:
			dst = append(dst, '\\', c)
		}
		rawValue = rawValue[k+2:]
	}
}

// NextLabel returns the label of labels (a Sample's Labels) that starts at or
// after i, its raw (still escaped) value, and where the next one starts; ok is
// false past the last. It is EachLabel without a callback, for loops that
// must not allocate a closure.
func NextLabel(labels []byte, i int) (name, rawValue []byte, next int, ok bool) {
	return nextLabel(labels, i)
}
