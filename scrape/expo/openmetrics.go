package expo

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// parseOpenMetrics parses the OpenMetrics 1.0 text format.
func (p *Parser) parseOpenMetrics(body []byte) error {
	for pos := 0; pos < len(body); {
		line, next, last := nextLine(body, pos)
		pos = next
		p.line++
		var err error
		switch {
		case string(line) == "# EOF":
			if pos < len(body) {
				p.line++
				return p.errorf("unexpected data after # EOF")
			}
			if p.cur >= 0 && p.ents[p.cur].hasSamples {
				return p.emit(p.cur)
			}
			return nil
		case last:
			err = p.errorf("missing newline and # EOF at the end of the body")
		case len(line) > 0 && line[0] == '#':
			err = p.omDescriptor(line)
		default:
			err = p.omSample(line)
		}
		if err != nil {
			return lineError(err, line)
		}
	}
	p.line++
	return p.errorf("missing # EOF at the end of the body (OpenMetrics requires it)")
}

// omDescriptor handles "# TYPE name type", "# HELP name text", "# UNIT name unit".
func (p *Parser) omDescriptor(b []byte) error {
	if len(b) < 7 || b[1] != ' ' || b[6] != ' ' {
		return p.errorf("invalid comment %q: OpenMetrics allows only # TYPE, # HELP, # UNIT and # EOF lines", clip(b))
	}
	kw := b[2:6]
	switch string(kw) {
	case "TYPE", "HELP", "UNIT":
	default:
		return p.errorf("invalid comment %q: OpenMetrics allows only # TYPE, # HELP, # UNIT and # EOF lines", clip(b))
	}
	ne := scanName(b, 7)
	if ne == 7 {
		if len(b) > 7 && b[7] == '"' {
			return p.errorf("quoted metric names are not supported in %s lines", kw)
		}
		return p.errorf("invalid metric name in %s line at %q", kw, clip(b[7:]))
	}
	if ne == len(b) || b[ne] != ' ' {
		return p.errorf("invalid %s line: want # %s name value, with single spaces", kw, kw)
	}
	name, val := b[7:ne], b[ne+1:]

	// Find or create the family, as expfmt does.
	var e int32
	switch {
	case p.cur >= 0 && bytes.Equal(p.ents[p.cur].name, name):
		e = p.cur
	default:
		e = p.lookup(name)
		if e < 0 {
			e = p.insert(name)
			if p.cur < 0 || !p.ents[p.cur].hasSamples {
				p.cur = e
			}
		}
	}
	ent := &p.ents[e]
	if ent.hasSamples {
		// A second family of the same name, after the first one's samples:
		// client_golang writes one for a gauge foo beside a counter
		// foo_total (go_memstats_alloc_bytes), and Prometheus's parser
		// takes it. The first family ends; the name means the new one now.
		if !ent.emitted {
			if err := p.emit(e); err != nil {
				return err
			}
		}
		e = p.shadow(e)
		p.cur = e
		ent = &p.ents[e]
	}
	switch string(kw) {
	case "TYPE":
		if ent.typeSet {
			return p.errorf("second TYPE line for metric %s", name)
		}
		t, ok := omType(val)
		if !ok {
			return p.errorf("unknown metric type %q for metric %s", val, name)
		}
		ent.typ, ent.typeSet = t, true
		f := p.announce(e)
		p.families[f].Type = t
	case "HELP":
		if ent.helpSet {
			return p.errorf("second HELP line for metric %s", name)
		}
		for k := 0; k < len(val); k++ {
			switch val[k] {
			case '"':
				return p.errorf("unescaped '\"' in HELP for metric %s", name)
			case '\\':
				if k+1 == len(val) {
					return p.errorf("HELP for metric %s ends in a lone backslash", name)
				}
				k++
			}
		}
		if len(val) > 0 && val[len(val)-1] == '\r' {
			return p.errorf("carriage return at the end of HELP for metric %s", name)
		}
		if !utf8.Valid(val) {
			return p.errorf("HELP for metric %s is not valid UTF-8", name)
		}
		ent.helpSet = true
		f := p.announce(e)
		p.families[f].Help = val
	case "UNIT":
		if ent.unitSet {
			return p.errorf("second UNIT line for metric %s", name)
		}
		for _, c := range val {
			if charClass[c]&cName == 0 {
				return p.errorf("invalid unit %q for metric %s", val, name)
			}
		}
		if len(val) > 0 && (len(name) <= len(val) || name[len(name)-len(val)-1] != '_' || !bytes.HasSuffix(name, val)) {
			return p.errorf("unit %q is not a suffix of metric %s", val, name)
		}
		ent.unitSet = true
		f := p.announce(e)
		if len(val) > 0 {
			p.families[f].Unit = val
		}
	}
	return nil
}

func omType(b []byte) (Type, bool) {
	switch string(b) {
	case "counter":
		return Counter, true
	case "gauge":
		return Gauge, true
	case "histogram":
		return Histogram, true
	case "gaugehistogram":
		return GaugeHistogram, true
	case "summary":
		return Summary, true
	case "unknown":
		return Unknown, true
	case "info":
		return Info, true
	case "stateset":
		return StateSet, true
	}
	return 0, false
}

// omMatch reports whether name is a sample name of family e, and its role.
func (p *Parser) omMatch(e int32, name []byte) (role, bool) {
	ent := &p.ents[e]
	base := ent.name
	if !bytes.HasPrefix(name, base) {
		return 0, false
	}
	sfx := string(name[len(base):])
	switch ent.typ {
	case Counter:
		switch sfx {
		case "_total":
			return roleValue, true
		case "_created":
			return roleCreated, true
		}
	case Gauge, Untyped, Unknown, StateSet:
		return roleValue, sfx == ""
	case Info:
		return roleValue, sfx == "_info"
	case Summary:
		switch sfx {
		case "":
			return roleQuantile, true
		case "_count":
			return roleCount, true
		case "_sum":
			return roleSum, true
		case "_created":
			return roleCreated, true
		}
	case Histogram, GaugeHistogram:
		switch sfx {
		case "_bucket":
			return roleBucket, true
		case "_count":
			return roleCount, true
		case "_sum":
			return roleSum, true
		case "_created":
			return roleCreated, true
		case "_gcount":
			return roleCount, ent.typ == GaugeHistogram
		case "_gsum":
			return roleSum, ent.typ == GaugeHistogram
		}
	}
	return 0, false
}

var omSuffixes = [...]string{"_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info"}

// omResolve finds the family of a sample name as expfmt's OpenMetrics parser
// does: the current family, the family of that exact name, a family the name
// is a sample of, or a new untyped family. A family whose samples are over
// cannot get more.
func (p *Parser) omResolve(name []byte) (int32, role, error) {
	if c := p.cur; c >= 0 && p.ents[c].hasSamples {
		if _, ok := p.omMatch(c, name); !ok && !bytes.Equal(name, p.ents[c].name) {
			if err := p.emit(c); err != nil {
				return 0, 0, err
			}
			p.cur = -1
		}
	}
	if c := p.cur; c >= 0 {
		if r, ok := p.omMatch(c, name); ok {
			return p.take(c, r)
		}
		if p.ents[c].typeSet && bytes.Equal(name, p.ents[c].name) {
			return 0, 0, p.errorf("sample %s of %s %s lacks its suffix", name, p.ents[c].typ, name)
		}
	}
	if e := p.lookup(name); e >= 0 {
		if r, ok := p.omMatch(e, name); ok {
			return p.take(e, r)
		}
		if p.ents[e].typeSet {
			return 0, 0, p.errorf("sample %s of %s %s lacks its suffix", name, p.ents[e].typ, name)
		}
	}
	for _, s := range omSuffixes {
		if len(name) > len(s) && string(name[len(name)-len(s):]) == s {
			if e := p.lookup(name[:len(name)-len(s)]); e >= 0 {
				if r, ok := p.omMatch(e, name); ok {
					return p.take(e, r)
				}
			}
		}
	}
	e := p.insert(name)
	return p.take(e, roleValue)
}

// take makes family e the current one for a sample of role r.
func (p *Parser) take(e int32, r role) (int32, role, error) {
	ent := &p.ents[e]
	if ent.emitted {
		return 0, 0, p.errorf("samples of metric family %s are interleaved with other families", ent.name)
	}
	if !ent.hasSamples {
		ent.hasSamples = true
		ent.first = int32(len(p.samples))
	}
	p.cur = e
	return e, r, nil
}

// emit ends the samples of family e. A counter must then have a _total sample
// for each _created one (expfmt: "counter missing _total value").
func (p *Parser) emit(e int32) error {
	ent := &p.ents[e]
	ent.emitted = true
	if ent.typ != Counter || ent.created == 0 {
		return nil
	}
	p.tmp.reset()
	fam := p.samples[ent.first:]
	for i := range fam {
		if len(fam[i].Name) == len(ent.name)+len("_total") {
			p.tmp.add(p.labelsSig(fam[i].Labels))
		}
	}
	for i := range fam {
		if len(fam[i].Name) != len(ent.name)+len("_total") && !p.tmp.has(p.labelsSig(fam[i].Labels)) {
			return p.errorf("counter %s: %s{%s} has no _total sample with the same labels", ent.name, fam[i].Name, fam[i].Labels)
		}
	}
	return nil
}

// omSample parses an OpenMetrics sample line.
func (p *Parser) omSample(b []byte) error {
	ne := scanName(b, 0)
	if ne == 0 {
		switch {
		case len(b) == 0:
			return p.errorf("empty line (not allowed in OpenMetrics)")
		case b[0] == '{' || b[0] == '"':
			return p.errorf("quoted metric names are not supported")
		}
		return p.errorf("invalid metric name at %q", clip(b))
	}
	name := b[:ne]
	e, r, err := p.omResolve(name)
	if err != nil {
		return err
	}
	ent := &p.ents[e]
	typ := ent.typ

	k := ne
	var labels []byte
	p.lbl = p.lbl[:0]
	if k < len(b) && b[k] == '{' {
		end, err := p.omLabels(b, k+1, name)
		if err != nil {
			return err
		}
		labels = b[k+1 : end]
		k = end + 1
	}
	special := ""
	switch r {
	case roleQuantile:
		special = "quantile"
	case roleBucket:
		special = "le"
	}
	if err := p.sampleLabels(b, name, r, special, true); err != nil {
		return err
	}
	if k >= len(b) || b[k] != ' ' {
		return p.errorf("expected a single space and the value after metric %s", name)
	}
	k++
	vs := k
	for k < len(b) && b[k] != ' ' {
		k++
	}
	val := b[vs:k]
	v, ok := parseFloat(val)
	if !ok {
		return p.errorf("invalid value %q for metric %s", val, name)
	}
	var ts int64
	hasTS, exemplar := false, false
	if k < len(b) {
		k++ // the space
		if k < len(b) && b[k] == '#' {
			exemplar = true
			k--
		} else {
			te := k
			for te < len(b) && b[te] != ' ' {
				te++
			}
			if ts, ok = parseSecondsMs(b[k:te]); !ok {
				return p.errorf("invalid timestamp %q for metric %s (want seconds)", b[k:te], name)
			}
			hasTS = true
			k = te
			exemplar = k < len(b)
		}
	}
	if exemplar {
		if err := p.omExemplar(b, k, name); err != nil {
			return err
		}
		if !(typ == Counter && r == roleValue) && !(typ.isHist() && r == roleBucket) {
			return p.errorf("exemplar not allowed on %s of %s %s", name, typ, ent.name)
		}
	}

	switch r {
	case roleValue:
		switch {
		case typ == Counter && !(v >= 0):
			return p.errorf("invalid value %q for counter %s (negative or NaN)", val, name)
		case typ == Info && v != 1:
			return p.errorf("invalid value %q for info %s (want 1)", val, name)
		case typ == StateSet && v != 0 && v != 1:
			return p.errorf("invalid value %q for stateset %s (want 0 or 1)", val, name)
		}
	case roleQuantile:
		if v < 0 {
			return p.errorf("negative value %q for summary quantile %s", val, name)
		}
	case roleBucket:
		if !(v >= 0) {
			return p.errorf("invalid value %q for histogram bucket %s (negative or NaN)", val, name)
		}
		if !isWhole(v) {
			p.fractionalBucket(e)
		}
	case roleCount:
		if !(v >= 0) || (typ == Summary && !isWhole(v)) {
			return p.errorf("invalid count %q for %s %s", val, typ, ent.name)
		}
	case roleSum:
		if math.IsNaN(v) || (v < 0 && typ != GaugeHistogram) {
			return p.errorf("invalid sum %q for %s %s", val, typ, ent.name)
		}
	case roleCreated:
		if !(math.Abs(v) < 9e18) {
			return p.errorf("invalid created timestamp %q for %s", val, name)
		}
	}
	if typ == StateSet {
		if at, _ := p.checkLabels(b, name, string(ent.name)); at < 0 {
			return p.errorf("stateset sample %s has no label %s", name, ent.name)
		}
	}

	switch {
	case typ == Summary || typ.isHist():
		if err := p.sameTimestamp(e, ts, hasTS); err != nil {
			return err
		}
		if r == roleSum || r == roleCount || r == roleCreated {
			if err := p.unique(e, r, name, labels); err != nil {
				return err
			}
		}
	case typ == Counter && r == roleCreated:
		if err := p.unique(e, r, name, labels); err != nil {
			return err
		}
		ent.created++
	}
	return p.add(Sample{Name: name, Labels: labels, Value: v, Timestamp: ts, HasTimestamp: hasTS, Family: ent.fam})
}

// omExemplar validates an exemplar, " # {labels} value [timestamp]", at b[k].
func (p *Parser) omExemplar(b []byte, k int, metric []byte) error {
	if k+4 > len(b) || string(b[k:k+4]) != " # {" {
		return p.errorf("unexpected %q after the value of metric %s", clip(b[k:]), metric)
	}
	saved := len(p.lbl)
	end, err := p.omLabels(b, k+4, metric)
	if err != nil {
		return err
	}
	runes := 0
	ex := p.lbl[saved:]
	for i, l := range ex {
		for _, m := range ex[:i] {
			if bytes.Equal(l.name(b), m.name(b)) {
				return p.errorf("duplicate label name %s in exemplar of metric %s", l.name(b), metric)
			}
		}
		runes += int(l.ne-l.ns) + unescapedRunes(l.value(b))
	}
	p.lbl = p.lbl[:saved]
	if runes > 128 {
		return p.errorf("exemplar labels of metric %s exceed 128 runes", metric)
	}
	k = end + 1
	if k >= len(b) || b[k] != ' ' {
		return p.errorf("missing exemplar value for metric %s", metric)
	}
	k++
	vs := k
	for k < len(b) && b[k] != ' ' {
		k++
	}
	if v, ok := parseFloat(b[vs:k]); !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return p.errorf("invalid exemplar value %q for metric %s", b[vs:k], metric)
	}
	if k < len(b) {
		k++
		if _, ok := parseSecondsMs(b[k:]); !ok {
			return p.errorf("invalid exemplar timestamp %q for metric %s", b[k:], metric)
		}
	}
	return nil
}

// unescapedRunes counts the runes of the unescaped form of a raw value.
func unescapedRunes(raw []byte) int {
	n := utf8.RuneCount(raw)
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] == '\\' {
			if c := raw[i+1]; c == '\\' || c == '"' || c == 'n' {
				n--
			}
			i++
		}
	}
	return n
}
