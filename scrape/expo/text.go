package expo

import (
	"bytes"
)

// parseText parses the Prometheus text format 0.0.4.
func (p *Parser) parseText(body []byte) error {
	for pos := 0; pos < len(body); {
		var line []byte
		line, pos, _ = nextLine(body, pos)
		p.line++
		i := skipBlanks(line, 0)
		if i == len(line) {
			continue
		}
		var err error
		switch c := line[i]; {
		case charClass[c]&cNameStart != 0:
			err = p.textSample(line, i)
		case c == '#':
			err = p.textComment(line, i+1)
		case c == '{':
			err = p.errorf("metric names inside braces (quoted UTF-8 names) are not supported")
		default:
			err = p.errorf("invalid metric name at %q", clip(line[i:]))
		}
		if err != nil {
			return lineError(err, line)
		}
	}
	return nil
}

// textComment handles a line starting with '#'; b[i] follows the '#'. As in
// expfmt, "#HELP" counts as HELP and a HELP or TYPE line that ends early (no
// name, or nothing after it) is ignored.
func (p *Parser) textComment(b []byte, i int) error {
	i = skipBlanks(b, i)
	ks := i
	for i < len(b) && !isBlank(b[i]) {
		i++
	}
	if i == len(b) {
		return nil
	}
	kw := b[ks:i]
	help := string(kw) == "HELP"
	if !help && string(kw) != "TYPE" {
		return nil
	}
	ns := skipBlanks(b, i)
	ne := scanName(b, ns)
	if ne == len(b) {
		return nil
	}
	if ne == ns || !isBlank(b[ne]) {
		if b[ne] == '"' {
			return p.errorf("quoted metric names are not supported in %s lines", kw)
		}
		return p.errorf("invalid metric name in %s line at %q", kw, clip(b[ns:]))
	}
	e, _ := p.resolveTextCached(b[ns:ne])
	i = skipBlanks(b, ne)
	if i == len(b) {
		return nil
	}
	ent := &p.ents[e]
	if help {
		if ent.helpSet {
			return p.errorf("second HELP line for metric %s", ent.name)
		}
		text := b[i:]
		for k := 0; ; k += 2 {
			n := bytes.IndexByte(text[k:], '\\')
			if n < 0 {
				break
			}
			k += n
			if k+1 == len(text) || (text[k+1] != '\\' && text[k+1] != 'n' && text[k+1] != '"') {
				return p.errorf("invalid escape sequence %q in HELP for metric %s", text[k:min(k+2, len(text))], ent.name)
			}
		}
		ent.helpSet = true
		f := p.announce(e)
		p.families[f].Help = text
		return nil
	}
	if ent.typeSet {
		return p.errorf("second TYPE line for metric %s, or TYPE after its samples", ent.name)
	}
	text := b[i:]
	for len(text) > 0 && isBlank(text[len(text)-1]) {
		text = text[:len(text)-1]
	}
	t, ok := textType(text)
	if !ok {
		return p.errorf("unknown metric type %q for metric %s", text, ent.name)
	}
	ent.typ, ent.typeSet = t, true
	f := p.announce(e)
	p.families[f].Type = t
	return nil
}

// resolveTextCached is resolveText with a memory of the last name: HELP, TYPE
// and the samples of a family usually follow each other. The family of a name
// never changes within a body (see resolveText), so the memory stays right.
func (p *Parser) resolveTextCached(name []byte) (int32, suffix) {
	if p.lastName != nil && bytes.Equal(name, p.lastName) {
		return p.lastEnt, p.lastSfx
	}
	e, sfx := p.resolveText(name)
	p.lastName, p.lastEnt, p.lastSfx = name, e, sfx
	return e, sfx
}

// textType reads a TYPE in any mix of (ASCII) cases, as expfmt does.
func textType(b []byte) (Type, bool) {
	var buf [16]byte
	if len(b) > len(buf) {
		return 0, false
	}
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(b)]) {
	case "counter":
		return Counter, true
	case "gauge":
		return Gauge, true
	case "histogram":
		return Histogram, true
	case "summary":
		return Summary, true
	case "untyped":
		return Untyped, true
	case "gauge_histogram", "gaugehistogram":
		return GaugeHistogram, true
	}
	return 0, false
}

// textSample parses a sample line whose metric name starts at b[i].
func (p *Parser) textSample(b []byte, i int) error {
	ne := scanName(b, i)
	name := b[i:ne]
	k := skipBlanks(b, ne)
	if k == len(b) {
		return p.errorf("missing value for metric %s", name)
	}
	if k == ne && b[k] != '{' {
		if b[k] == '"' {
			return p.errorf("quoted metric names are not supported (at %q)", clip(b[i:]))
		}
		return p.errorf("invalid character %q after metric name %s", b[k], name)
	}

	e, sfx := p.resolveTextCached(name)
	ent := &p.ents[e]
	ent.typeSet = true
	typ := ent.typ
	r := roleValue
	special := ""
	switch {
	case typ == Summary:
		special = "quantile"
		switch sfx {
		case sfxNone:
			r = roleQuantile
		case sfxSum:
			r = roleSum
		case sfxCount:
			r = roleCount
		}
	case typ.isHist():
		special = "le"
		switch sfx {
		case sfxNone:
			return p.errorf("sample %s of %s %s: only %s_bucket, %s_sum and %s_count are allowed", name, typ, name, name, name, name)
		case sfxBucket:
			r = roleBucket
		case sfxSum:
			r = roleSum
		case sfxCount:
			r = roleCount
		}
	}

	var labels []byte
	p.lbl = p.lbl[:0]
	if b[k] == '{' {
		end, err := p.textLabels(b, k+1, name)
		if err != nil {
			return err
		}
		labels = b[k+1 : end]
		k = skipBlanks(b, end+1)
	}
	if err := p.sampleLabels(b, name, r, special, false); err != nil {
		return err
	}

	vs := k
	for k < len(b) && !isBlank(b[k]) {
		k++
	}
	if vs == k {
		return p.errorf("missing value for metric %s", name)
	}
	val := b[vs:k]
	v, ok := parseFloat(val)
	if !ok {
		return p.errorf("invalid value %q for metric %s", val, name)
	}
	var ts int64
	hasTS := false
	if k = skipBlanks(b, k); k < len(b) {
		te := k
		for te < len(b) && !isBlank(b[te]) {
			te++
		}
		if ts, ok = parseInt(b[k:te]); !ok {
			return p.errorf("invalid timestamp %q for metric %s (want integer milliseconds)", b[k:te], name)
		}
		hasTS = true
		if k = skipBlanks(b, te); k < len(b) {
			return p.errorf("unexpected %q after the timestamp of metric %s", clip(b[k:]), name)
		}
	}

	switch r {
	case roleCount:
		if typ == Summary && !isWhole(v) {
			return p.errorf("invalid count %q for summary %s (want a whole number)", val, ent.name)
		}
		fallthrough
	case roleBucket:
		if typ.isHist() && v < 0 {
			return p.errorf("negative value %q for %s of histogram %s", val, name, ent.name)
		}
		if r == roleBucket && !isWhole(v) {
			p.fractionalBucket(e)
		}
	}
	if typ == Summary || typ.isHist() {
		if err := p.sameTimestamp(e, ts, hasTS); err != nil {
			return err
		}
		if r == roleSum || r == roleCount {
			if err := p.unique(e, r, name, labels); err != nil {
				return err
			}
		}
	}
	return p.add(Sample{Name: name, Labels: labels, Value: v, Timestamp: ts, HasTimestamp: hasTS, Family: ent.fam})
}

// sampleLabels checks the labels of a sample of role r (p.lbl): __name__ and
// duplicates, and the le or quantile label (special) of histograms and
// summaries. In the text format le and quantile may only be on buckets and
// quantiles; in OpenMetrics they are ordinary labels elsewhere.
func (p *Parser) sampleLabels(b, name []byte, r role, special string, om bool) error {
	at, err := p.checkLabels(b, name, special)
	if err != nil {
		return err
	}
	switch r {
	case roleQuantile:
		if at < 0 {
			return p.errorf("summary sample %s has no quantile label", name)
		}
		q, ok := labelFloat(b, p.lbl[at])
		if !ok || (om && (q < 0 || q > 1)) {
			return p.errorf("invalid quantile %q for summary %s", p.lbl[at].value(b), name)
		}
	case roleBucket:
		if at < 0 {
			return p.errorf("histogram bucket %s has no le label", name)
		}
		if _, ok := labelFloat(b, p.lbl[at]); !ok {
			return p.errorf("invalid le %q for histogram bucket %s", p.lbl[at].value(b), name)
		}
	default:
		if at >= 0 && !om {
			return p.errorf("sample %s must not have a %s label (expfmt would drop it)", name, special)
		}
	}
	return nil
}
