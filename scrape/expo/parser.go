package expo

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
)

// Type is the type of a metric family as a TYPE line announces it.
type Type uint8

// Metric types. Untyped is also the type of a family with a HELP line and no
// TYPE line. Info, StateSet and Unknown exist only in OpenMetrics.
const (
	Untyped Type = iota
	Counter
	Gauge
	Histogram
	Summary
	GaugeHistogram
	Info
	StateSet
	Unknown
)

var typeNames = [...]string{
	Untyped: "untyped", Counter: "counter", Gauge: "gauge", Histogram: "histogram",
	Summary: "summary", GaugeHistogram: "gaugehistogram", Info: "info",
	StateSet: "stateset", Unknown: "unknown",
}

// String returns the type as OpenMetrics spells it ("untyped" for Untyped).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// isHist reports whether samples of the type are _bucket, _sum and _count.
func (t Type) isHist() bool { return t == Histogram || t == GaugeHistogram }

// Sample is one line of an exposition.
type Sample struct {
	Name         []byte  // sub-slice of the body (e.g. "http_requests_total", "foo_bucket")
	Labels       []byte  // raw text between { and }, without the braces, possibly empty; sub-slice of body
	Value        float64 // as strconv.ParseFloat reads it
	Timestamp    int64   // milliseconds since the epoch; valid if HasTimestamp
	HasTimestamp bool
	Family       int32 // index into Families(), -1 when no TYPE/HELP/UNIT line announced it
}

// Family is a metric family announced by TYPE, HELP or (OpenMetrics) UNIT lines.
type Family struct {
	Name []byte // the family's name: foo for foo_bucket, foo_sum …; sub-slice of body
	Type Type
	Help []byte // as in the body: still escaped (see Unescape); nil without HELP
	Unit []byte // OpenMetrics UNIT; nil when absent or empty
}

// InText is the family's name and type in the Prometheus text format, given
// the name of its first sample, for writers that re-serve samples parsed
// from either format in the text format. An OpenMetrics counter foo (samples
// foo_total) is the text format's counter foo_total; an info foo is the gauge
// foo_info; a stateset is a gauge; the other types without a text
// equivalent (unknown, gaugehistogram) are untyped.
func (f *Family) InText(firstSample []byte) (string, Type) {
	name := string(f.Name)
	switch f.Type {
	case Counter:
		if !bytes.HasSuffix(f.Name, []byte("_total")) && len(firstSample) == len(f.Name)+len("_total") &&
			bytes.HasPrefix(firstSample, f.Name) && bytes.HasSuffix(firstSample, []byte("_total")) {
			return name + "_total", Counter
		}
	case Info:
		return name + "_info", Gauge
	case StateSet:
		return name, Gauge
	case Unknown, GaugeHistogram:
		return name, Untyped
	}
	return name, f.Type
}

// ErrSampleLimit is wrapped by the error Parse returns when a body has more
// samples than the limit it was given.
var ErrSampleLimit = errors.New("sample limit exceeded")

// Error is an error in an exposition, with the number of the line it is on.
type Error struct {
	Line int    // 1-based
	Msg  string // what is wrong
	err  error  // ErrSampleLimit, or nil
}

// Error implements the error interface.
func (e *Error) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Msg }

// Unwrap returns ErrSampleLimit for a sample limit error.
func (e *Error) Unwrap() error { return e.err }

// Parser parses expositions. Its zero value is ready to use; reuse it, so that
// its buffers are too. A Parser must not be used by two goroutines at once.
type Parser struct {
	samples  []Sample
	families []Family

	// Every name that the format treats as a family, announced or not, found
	// by a hash of the name.
	ents  []entry
	slots []int32 // open addressing: entry index+1, 0 for empty
	seed  maphash.Seed
	init  bool

	lbl         []lspan      // labels of the current line
	fracBuckets []fracBucket // see fractionalBucket
	sigs        sigSet       // series of summary/histogram _sum/_count/_created seen
	tmp         sigSet       // scratch for the OpenMetrics counter check

	// The state of one Parse.
	line  int   // number of the current line
	limit int   // sample limit, 0 for none
	cur   int32 // OpenMetrics: the family receiving samples, or -1

	// The last sample name resolved in the text format and what it resolved to.
	lastName []byte
	lastEnt  int32
	lastSfx  suffix
}

// Samples returns the samples of the last successful Parse in the order of the
// body; none after a failed one. The slice is reused by the next Parse.
func (p *Parser) Samples() []Sample { return p.samples }

// Families returns the families announced by TYPE, HELP or UNIT lines in the
// last successful Parse, in the order of their first such line. A HELP line after
// a family's first samples announces it from then on: earlier samples keep
// Family -1. The slice is reused by the next Parse.
func (p *Parser) Families() []Family { return p.families }

// Parse resets the parser and parses the whole body, in the OpenMetrics text
// format if openMetrics is set and in the Prometheus text format 0.0.4
// otherwise. A sampleLimit above 0 makes Parse stop with an error wrapping
// ErrSampleLimit at the first sample beyond it. The results refer to body, which
// must stay unchanged while they are used.
func (p *Parser) Parse(body []byte, openMetrics bool, sampleLimit int) error {
	p.reset(sampleLimit)
	var err error
	if openMetrics {
		err = p.parseOpenMetrics(body)
	} else {
		err = p.parseText(body)
	}
	if err == nil && len(p.fracBuckets) > 0 {
		err = p.checkFractionalBuckets()
	}
	if err != nil {
		p.samples = p.samples[:0]
		p.families = p.families[:0]
		return err
	}
	return nil
}

func (p *Parser) reset(limit int) {
	if !p.init {
		p.seed = maphash.MakeSeed()
		p.init = true
	}
	p.samples = p.samples[:0]
	p.families = p.families[:0]
	if len(p.ents) > 0 {
		clear(p.slots)
		p.ents = p.ents[:0]
	}
	p.sigs.reset()
	p.fracBuckets = p.fracBuckets[:0]
	p.line = 0
	p.limit = limit
	p.cur = -1
	p.lastName = nil
}

// nextLine returns the line of body that starts at pos, without its newline,
// where the next one starts, and whether the line had no newline after it.
func nextLine(body []byte, pos int) (line []byte, next int, last bool) {
	if n := bytes.IndexByte(body[pos:], '\n'); n >= 0 {
		return body[pos : pos+n], pos + n + 1, false
	}
	return body[pos:], len(body), true
}

// lineError adds a hint to err when line ends in a carriage return.
func lineError(err error, line []byte) error {
	if e, ok := err.(*Error); ok && len(line) > 0 && line[len(line)-1] == '\r' {
		e.Msg += " (the line ends in a carriage return: CRLF line endings are not supported)"
	}
	return err
}

// errorf returns an *Error for the current line.
func (p *Parser) errorf(format string, args ...any) error {
	return &Error{Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// add appends a sample, enforcing the sample limit.
func (p *Parser) add(s Sample) error {
	if p.limit > 0 && len(p.samples) >= p.limit {
		return &Error{
			Line: p.line,
			Msg: fmt.Sprintf("%v: more than %d samples; raise sample_limit or make the exporter expose fewer series",
				ErrSampleLimit, p.limit),
			err: ErrSampleLimit,
		}
	}
	p.samples = append(p.samples, s)
	return nil
}
