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

// restoreFunc answers the evaluator's question when it starts to track a
// collector: from the state read at start the first time, and afterwards —
// a collector unregistered and re-registered, archived or deleted meanwhile —
// from what the store holds now, so that a restored archive's buckets go on
// and a deleted collector's come not back.
func (s *server) restoreFunc(atStart map[string]*health.Restored) func(id string) *health.Restored {
	var mu sync.Mutex
	return func(id string) *health.Restored {
		mu.Lock()
		r, ok := atStart[id]
		delete(atStart, id)
		mu.Unlock()
		if ok {
			return r
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := s.store.Collector(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil {
			r, err = s.restoredOf(ctx, c)
		}
		if err != nil {
			s.log.Warn("reading a collector's stored state failed; it starts fresh", "collector", id, "err", err)
			return nil
		}
		return r
	}
}
