package targets

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// registryRetry bounds the wait before a failed listing is tried again.
const registryRetry = 5 * time.Second

// Registry is the Provider of the collectors registered through the API.
type Registry struct {
	job      string
	list     func(ctx context.Context) ([]Group, error)
	interval time.Duration
	notify   <-chan struct{}

	mu      sync.Mutex
	lastErr error
}

// NewRegistryProvider returns a Provider that calls list at start, on every
// receive from notify, and every interval (never when interval ≤ 0; after a
// failed listing it retries within 5s). Groups should carry a stable Source
// (the collector's id); a group without one gets "registry[i]". A failed
// listing keeps the groups of the last good one (see LastError); the first
// set is sent after the first good listing.
func NewRegistryProvider(job string, list func(ctx context.Context) ([]Group, error), interval time.Duration, notify <-chan struct{}) Provider {
	return &Registry{job: job, list: list, interval: interval, notify: notify}
}

// Kind implements Kinder.
func (r *Registry) Kind() string { return KindRegistry }

// LastError is the error of the last listing, nil after a good one.
func (r *Registry) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Run implements Provider.
func (r *Registry) Run(ctx context.Context, up chan<- []*Group) {
	var prev map[string]*Group // nil until the first good listing
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.notify:
		case <-timer.C:
		}
		cur, err := r.listGroups(ctx)
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		next := r.interval
		if err != nil {
			if next <= 0 || next > registryRetry {
				next = registryRetry
			}
		} else {
			var changed []*Group
			if prev == nil {
				changed = make([]*Group, 0, len(cur))
			}
			for src, g := range cur {
				if old, ok := prev[src]; !ok || !old.equal(g) {
					changed = append(changed, g)
				}
			}
			for src := range prev {
				if _, ok := cur[src]; !ok {
					changed = append(changed, &Group{Source: src})
				}
			}
			if changed != nil && !send(ctx, up, changed) {
				return
			}
			prev = cur
		}
		// Re-arm; a notify may have arrived first, so drain a fired timer.
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next > 0 {
			timer.Reset(next)
		}
	}
}

func (r *Registry) listGroups(ctx context.Context) (map[string]*Group, error) {
	gs, err := r.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list registered collectors of job %s: %w", r.job, err)
	}
	out := make(map[string]*Group, len(gs))
	for i := range gs {
		g := gs[i].clone()
		if g.Source == "" {
			g.Source = fmt.Sprintf("registry[%d]", i)
		}
		if _, dup := out[g.Source]; dup {
			g.Source = fmt.Sprintf("%s#%d", g.Source, i)
		}
		out[g.Source] = g
	}
	return out, nil
}
