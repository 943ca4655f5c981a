package server

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
)

// restore reads what the store remembers of every collector: status, times and
// the current completeness buckets.
func (s *server) restore(ctx context.Context) (map[string]*health.Restored, error) {
	cs, err := s.store.Collectors(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore collectors: %w", err)
	}
	now := time.Now().UTC()
	out := make(map[string]*health.Restored, len(cs))
	for _, c := range cs {
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
		out[c.ID] = r
	}
	return out, nil
}
