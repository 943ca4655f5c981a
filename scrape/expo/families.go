package expo

import (
	"bytes"
	"hash/maphash"
	"math"
)

// entry is a name the format treats as a family: one announced by a TYPE, HELP
// or UNIT line, or one first seen as a sample name. The rules of which sample
// belongs to which family are expfmt's, so that they group samples alike.
type entry struct {
	name    []byte
	hash    uint64
	typ     Type
	fam     int32 // index into Parser.families, -1 until announced
	typeSet bool  // text: TYPE seen or samples seen; OpenMetrics: TYPE seen
	helpSet bool
	unitSet bool

	// OpenMetrics.
	shadowed   bool // a later family of the same name replaced it (see shadow)
	hasSamples bool
	emitted    bool  // its samples are over: more of them would interleave
	first      int32 // index of its first sample
	created    int32 // counter _created samples

	// Summaries and histograms: the timestamp their samples share.
	tsState uint8 // 0 no sample yet, 1 without timestamp, 2 with ts
	ts      int64
}

// suffix is what a sample name adds to the name of its family.
type suffix uint8

const (
	sfxNone suffix = iota
	sfxSum
	sfxCount
	sfxBucket
)

// role is what a sample is within its family.
type role uint8

const (
	roleValue    role = iota // the value of a counter, gauge, untyped …
	roleQuantile             // a summary quantile
	roleBucket
	roleSum
	roleCount
	roleCreated
)

// lookup returns the entry named name, or -1.
func (p *Parser) lookup(name []byte) int32 {
	if len(p.slots) == 0 {
		return -1
	}
	h := maphash.Bytes(p.seed, name)
	mask := uint64(len(p.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := p.slots[i]
		if s == 0 {
			return -1
		}
		if e := &p.ents[s-1]; e.hash == h && bytes.Equal(e.name, name) {
			return s - 1
		}
	}
}

// insert adds an entry named name, which must not exist yet.
func (p *Parser) insert(name []byte) int32 {
	if 2*(len(p.ents)+1) > len(p.slots) {
		p.grow()
	}
	h := maphash.Bytes(p.seed, name)
	idx := int32(len(p.ents))
	p.ents = append(p.ents, entry{name: name, hash: h, fam: -1})
	p.place(h, idx)
	return idx
}

// shadow adds an entry of old's name that lookup finds instead of old, whose
// samples are over, and returns it.
func (p *Parser) shadow(old int32) int32 {
	if 2*(len(p.ents)+1) > len(p.slots) {
		p.grow()
	}
	name, h := p.ents[old].name, p.ents[old].hash
	idx := int32(len(p.ents))
	p.ents = append(p.ents, entry{name: name, hash: h, fam: -1})
	p.ents[old].shadowed = true
	mask := uint64(len(p.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if p.slots[i] == old+1 {
			p.slots[i] = idx + 1
			return idx
		}
	}
}

func (p *Parser) place(h uint64, idx int32) {
	mask := uint64(len(p.slots) - 1)
	i := h & mask
	for p.slots[i] != 0 {
		i = (i + 1) & mask
	}
	p.slots[i] = idx + 1
}

func (p *Parser) grow() {
	n := 2 * len(p.slots)
	if n < 64 {
		n = 64
	}
	p.slots = make([]int32, n)
	for i := range p.ents {
		if !p.ents[i].shadowed {
			p.place(p.ents[i].hash, int32(i))
		}
	}
}

// announce makes entry e a family of Families() and returns its index.
func (p *Parser) announce(e int32) int32 {
	ent := &p.ents[e]
	if ent.fam < 0 {
		ent.fam = int32(len(p.families))
		p.families = append(p.families, Family{Name: ent.name, Type: ent.typ})
	}
	return ent.fam
}

// resolveText finds the family of a name in the text format as expfmt does: the
// family of that exact name; else, for name_sum and name_count, a summary named
// name; else, for those and name_bucket, a histogram named name; else a new one.
// HELP and TYPE lines resolve their names the same way. The answer for a name
// does not change later in the body: an entry is found by its exact name
// forever, a name resolved to a summary or histogram is never inserted (the
// same lookup finds that family again), and types never change once samples
// have been resolved against them.
func (p *Parser) resolveText(name []byte) (int32, suffix) {
	if e := p.lookup(name); e >= 0 {
		return e, sfxNone
	}
	var base []byte
	sfx := sfxNone
	switch {
	case len(name) > 6 && string(name[len(name)-6:]) == "_count":
		base, sfx = name[:len(name)-6], sfxCount
	case len(name) > 4 && string(name[len(name)-4:]) == "_sum":
		base, sfx = name[:len(name)-4], sfxSum
	case len(name) > 7 && string(name[len(name)-7:]) == "_bucket":
		base, sfx = name[:len(name)-7], sfxBucket
	}
	if sfx != sfxNone {
		if e := p.lookup(base); e >= 0 {
			t := p.ents[e].typ
			if (t == Summary && sfx != sfxBucket) || t.isHist() {
				return e, sfx
			}
		}
	}
	return p.insert(name), sfxNone
}

// sigSet is a set of 64-bit series signatures (open addressing, 0 is empty).
type sigSet struct {
	slots []uint64
	n     int
}

func (s *sigSet) reset() {
	if s.n > 0 {
		clear(s.slots)
		s.n = 0
	}
}

// add inserts k and reports whether it was new.
func (s *sigSet) add(k uint64) bool {
	if k == 0 {
		k = 1
	}
	if 2*(s.n+1) > len(s.slots) {
		old := s.slots
		n := 2 * len(old)
		if n < 64 {
			n = 64
		}
		s.slots = make([]uint64, n)
		for _, v := range old {
			if v != 0 {
				s.put(v)
			}
		}
	}
	if s.has(k) {
		return false
	}
	s.put(k)
	s.n++
	return true
}

func (s *sigSet) put(k uint64) {
	mask := uint64(len(s.slots) - 1)
	i := mix(k) & mask
	for s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = k
}

func (s *sigSet) has(k uint64) bool {
	if k == 0 {
		k = 1
	}
	if len(s.slots) == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	for i := mix(k) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			return false
		case k:
			return true
		}
	}
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// labelsSig returns a signature of a label set that does not depend on the order
// of the labels. Values are compared escaped, which is fine: every value has one
// escaped form.
func (p *Parser) labelsSig(labels []byte) uint64 {
	var acc uint64
	for i := 0; ; {
		name, val, next, ok := nextLabel(labels, i)
		if !ok {
			return acc
		}
		acc += mix(maphash.Bytes(p.seed, name) ^ 0x9e3779b97f4a7c15*maphash.Bytes(p.seed, val))
		i = next
	}
}

// labelsSigExcept is labelsSig without the label called except.
func (p *Parser) labelsSigExcept(labels []byte, except string) uint64 {
	var acc uint64
	for i := 0; ; {
		name, val, next, ok := nextLabel(labels, i)
		if !ok {
			return acc
		}
		if string(name) != except {
			acc += mix(maphash.Bytes(p.seed, name) ^ 0x9e3779b97f4a7c15*maphash.Bytes(p.seed, val))
		}
		i = next
	}
}

// seriesKey identifies a sample of role r with the given labels in family e.
func (p *Parser) seriesKey(e int32, r role, labels []byte) uint64 {
	return mix(p.labelsSig(labels) ^ uint64(e)<<8 ^ uint64(r))
}

// isWhole reports whether a bucket or count is a whole number that expfmt
// keeps as an integer (float64(uint64(v)) == v).
func isWhole(v float64) bool { return v >= 0 && v < 1<<64 && v == math.Trunc(v) }

// fractionalBucket records a histogram bucket of family e whose count is not a
// whole number. expfmt then turns the whole histogram into floats and, when
// the series has no _count sample, makes one up with the value 0; such a
// series is an error here (see checkFractionalBuckets).
func (p *Parser) fractionalBucket(e int32) {
	p.fracBuckets = append(p.fracBuckets, fracBucket{ent: e, sample: int32(len(p.samples)), line: p.line})
}

type fracBucket struct {
	ent, sample int32
	line        int
}

// checkFractionalBuckets runs when the body is parsed.
func (p *Parser) checkFractionalBuckets() error {
	for _, fb := range p.fracBuckets {
		s := &p.samples[fb.sample]
		key := mix(p.labelsSigExcept(s.Labels, "le") ^ uint64(fb.ent)<<8 ^ uint64(roleCount))
		if !p.sigs.has(key) {
			p.line = fb.line
			return p.errorf("histogram %s: bucket %s{%s} has a fractional count but its series has no _count sample (expfmt would make up a _count of 0)",
				p.ents[fb.ent].name, s.Name, s.Labels)
		}
	}
	return nil
}

// sameTimestamp checks that the samples of summary or histogram family e share
// one timestamp (or none): expfmt keeps one timestamp per series, the last.
func (p *Parser) sameTimestamp(e int32, ts int64, hasTS bool) error {
	ent := &p.ents[e]
	st := uint8(1)
	if hasTS {
		st = 2
	}
	switch {
	case ent.tsState == 0:
		ent.tsState, ent.ts = st, ts
	case ent.tsState != st || (hasTS && ent.ts != ts):
		return p.errorf("samples of %s %s have different timestamps, or only some have one; this parser does not support that",
			ent.typ, ent.name)
	}
	return nil
}

// unique checks that family e has one sample of role r per label set.
func (p *Parser) unique(e int32, r role, name, labels []byte) error {
	if !p.sigs.add(p.seriesKey(e, r, labels)) {
		return p.errorf("duplicate sample %s{%s}: expfmt keeps only the last one of a %s", name, labels, p.ents[e].typ)
	}
	return nil
}
