package scrape

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// Snapshot is the latest successful scrape of one target, kept for /federate
// and the API. It keeps the body as the target sent it — still gzipped when
// it came so — and not its parse: a reader parses it again (Held), so that a
// fleet's memory is one body per target, not a body and its samples. The
// loop reuses the memory of a snapshot nobody holds, so a scrape does not
// copy or allocate a new one.
type Snapshot struct {
	At      time.Time
	stored  bytes.Buffer // the body as sent
	gzipped bool         // stored is gzip-compressed
	om      bool         // the body is OpenMetrics
	agent   AgentSample
	readers atomic.Int32

	// final is set when metric_relabel_configs rewrote the samples: they are
	// in relabeled, their names and labels in rbuf, each with all its labels,
	// and kept is the parse their family indexes refer to.
	final     bool
	relabeled []expo.Sample
	rbuf      []byte
	kept      *parsed
}

// Release ends a hold from acquire. A snapshot replaced meanwhile is left to the
// garbage collector.
func (s *Snapshot) Release() { s.readers.Add(-1) }

// Final reports whether the samples carry all their labels, the target's
// merged in (metric_relabel_configs rewrote them): a writer must not add
// the target's labels again.
func (s *Snapshot) Final() bool { return s.final }

// parsed is one parse of a body: the parser, and for a gzipped body the
// text it inflated to, which the samples point into.
type parsed struct {
	p    expo.Parser
	text bytes.Buffer
	src  bytes.Reader
}

// Held is a snapshot with its target and its samples; call Release when done.
type Held struct {
	Target *targets.Target
	*Snapshot
	// p is this hold's parse of the body; nil when the snapshot keeps its
	// own (final) or the body no longer parses.
	p      *parsed
	parses *sync.Pool
}

// Samples of the snapshot: as scraped, or as metric_relabel_configs left
// them (see Final). They are valid until Release.
func (h Held) Samples() []expo.Sample {
	switch {
	case h.Snapshot.final:
		return h.Snapshot.relabeled
	case h.p != nil:
		return h.p.p.Samples()
	}
	return nil
}

// Families of the snapshot, which the samples' Family fields index.
func (h Held) Families() []expo.Family {
	switch {
	case h.Snapshot.final && h.Snapshot.kept != nil:
		return h.Snapshot.kept.p.Families()
	case h.p != nil:
		return h.p.p.Families()
	}
	return nil
}

// Release ends the hold and returns its parse to the pool.
func (h Held) Release() {
	if h.p != nil {
		h.parses.Put(h.p)
	}
	h.Snapshot.Release()
}

// hold parses a held snapshot's body again, into a parse from the pool.
// It parsed when it was scraped, so it parses now; should it not, the hold
// has no samples.
func (m *Manager) hold(t *targets.Target, s *Snapshot) Held {
	h := Held{Target: t, Snapshot: s, parses: &m.parses}
	if s.final {
		return h
	}
	ps := m.parses.Get().(*parsed)
	body := s.stored.Bytes()
	var err error
	if s.gzipped {
		body, err = inflate(&m.gzPool, body, ps, 0)
	}
	if err == nil {
		err = ps.p.Parse(body, s.om, 0)
	}
	if err != nil {
		m.parses.Put(ps)
		return h
	}
	h.p = ps
	return h
}
