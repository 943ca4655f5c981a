package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
)

// restore reads what the store remembers of every collector at start:
// status, times and the current completeness buckets.
func (s *server) restore(ctx context.Context) (map[string]*health.Restored, error) {
	cs, err := s.store.Collectors(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore collectors: %w", err)
	}
	out := make(map[string]*health.Restored, len(cs))
	for _, c := range cs {
		if out[c.ID], err = s.restoredOf(ctx, c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// restoredOf is a stored collector state with its current hour's and day's buckets.
func (s *server) restoredOf(ctx context.Context, c fleet.CollectorState) (*health.Restored, error) {
	now := time.Now().UTC()
	r := &health.Restored{Status: c.Status, Reason: c.Reason, StatusSince: c.StatusSince, FirstSeen: c.FirstSeen, LastSeen: c.LastSeen, LastItem: c.LastItem}
	for _, w := range []struct {
		name  string
		start time.Time
	}{{fleet.Window1h, now.Truncate(time.Hour)}, {fleet.Window24h, time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)}} {
		bs, err := s.store.Buckets(ctx, c.ID, w.name, w.start, w.start)
		if err != nil {
			return nil, fmt.Errorf("restore buckets of %s: %w", c.ID, err)
		}
		for _, b := range bs {
			b.UpdatedAt = time.Time{} // written again as of its next write
			r.Buckets = append(r.Buckets, b)
		}
	}
	return r, nil
}

// restorer answers the evaluator's question when it starts to track a
// collector: from the state read at start the first time, and afterwards —
// a collector unregistered and re-registered, archived or deleted meanwhile —
// from what the store holds now, so that a restored archive's buckets go on
// and a deleted collector's come not back.
//
// When the store cannot answer (unavailable), a collector the evaluator
// forgot earlier in this run — it left discovery and came back during the
// outage — goes on from what the evaluator knew of it then, which is at least
// as new as the store: starting it afresh would overwrite its stored buckets
// with counts from zero and break its history once the store is back.
type restorer struct {
	s         *server
	mu        sync.Mutex
	atStart   map[string]*health.Restored
	forgotten map[string]*health.Restored
}

func (s *server) newRestorer(atStart map[string]*health.Restored) *restorer {
	return &restorer{s: s, atStart: atStart, forgotten: map[string]*health.Restored{}}
}

// forgot keeps what the evaluator knew of a collector it stopped tracking
// (health.Options.Forgot).
func (rs *restorer) forgot(id string, r *health.Restored) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if _, ok := rs.forgotten[id]; !ok && len(rs.forgotten) >= maxForgotten {
		for other := range rs.forgotten { // any: a bound, not a policy
			delete(rs.forgotten, other)
			break
		}
	}
	rs.forgotten[id] = r
}

// dropStart forgets the state read at start: in a cluster a collector this
// replica starts to scrape later was scraped by another replica meanwhile,
// and the store has its newer state.
func (rs *restorer) dropStart() {
	rs.mu.Lock()
	rs.atStart = nil
	rs.mu.Unlock()
}

// maxForgotten bounds the collectors kept after the evaluator forgot them
// (a few hundred bytes each), against a fleet that churns for months.
const maxForgotten = 100000

// restore is health.Options.Restore.
func (rs *restorer) restore(id string) *health.Restored {
	rs.mu.Lock()
	r, ok := rs.atStart[id]
	delete(rs.atStart, id)
	last := rs.forgotten[id]
	rs.mu.Unlock()
	if ok {
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rs.s.store.Collector(ctx, id)
	if err == nil {
		r, err = rs.s.restoredOf(ctx, c)
	}
	if err == nil || errors.Is(err, store.ErrNotFound) {
		rs.mu.Lock()
		delete(rs.forgotten, id) // the store answered: it knows best
		rs.mu.Unlock()
		return r
	}
	if last != nil {
		rs.s.log.Warn("reading a collector's stored state failed; it goes on from what this server last knew of it", "collector", id, "err", err)
		return last
	}
	rs.s.log.Warn("reading a collector's stored state failed; it starts fresh", "collector", id, "err", err)
	return nil
}
