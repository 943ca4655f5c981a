package control

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/targets"
)

// Store is everything the control plane keeps; *store.Store is one.
type Store interface {
	DispatcherStore
	LifecycleStore
	BulkStore
}

// Options configure the control plane. Store and Fleet are required.
type Options struct {
	Store  Store
	Fleet  Fleet     // the collectors as they are scraped now
	Events Publisher // nil: no events
	// Tenancy names the labels that carry a collector's org and team.
	Tenancy targets.Tenancy
	// RegistryJobs are the scrape configs with registry: true (see LifecycleOptions).
	RegistryJobs func() []string
	// Changed is called after the registry or the unregistered set changed:
	// the server lists the registry again and filters its targets again.
	Changed func()
	// Principal returns the current rights of a user, for a scheduled bulk
	// operation run on its behalf.
	Principal func(ctx context.Context, userID string) (Scope, error)
	// CommandExpiry bounds a command's delivery and confirmation (default 5m);
	// RetryMaxBackoff the wait between delivery attempts (default 30s).
	CommandExpiry, RetryMaxBackoff time.Duration
	// ArchiveRetention is how long an unregistered collector's data is kept
	// by default (90 days).
	ArchiveRetention time.Duration
	// TargetsReady is closed once discovery has delivered its first targets
	// (nil: at once): commands and bulk operations a stopped server left open
	// are carried on from then, when their collectors are known again.
	TargetsReady <-chan struct{}
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// Plane is the control plane of one server: the dispatcher, the lifecycle and
// bulk operations, joined.
type Plane struct {
	Dispatcher *Dispatcher
	Lifecycle  *Lifecycle
	Bulk       *Bulk
}

// New builds the control plane: it makes the server's signing key on first
// start, loads the unregistered collectors and finishes the scrape token
// rotations a stop interrupted. Run starts it.
func New(ctx context.Context, o Options) (*Plane, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := EnsureKey(ctx, o.Store); err != nil {
		return nil, fmt.Errorf("the server's control key: %w", err)
	}
	l := NewLifecycle(LifecycleOptions{Store: o.Store, Fleet: o.Fleet, Events: o.Events, Tenancy: o.Tenancy,
		RegistryJobs: o.RegistryJobs, Changed: o.Changed, Retention: o.ArchiveRetention,
		Logger: o.Logger.With("component", "lifecycle")})
	d := NewDispatcher(DispatcherOptions{Store: o.Store, Fleet: o.Fleet, Events: o.Events,
		Expiry: o.CommandExpiry, MaxBackoff: o.RetryMaxBackoff, Tokens: l, TargetsReady: o.TargetsReady,
		Logger: o.Logger.With("component", "dispatch"), Registerer: o.Registerer})
	// The lifecycle drops an unregistered collector's commands and gives new
	// agents the server's key; the dispatcher rotates scrape tokens through it.
	l.dispatch = d
	if err := l.Load(ctx); err != nil {
		return nil, err
	}
	if err := l.RecoverTokens(ctx); err != nil {
		return nil, fmt.Errorf("finish scrape token rotations: %w", err)
	}
	expiry := d.o.Expiry
	b := NewBulk(BulkOptions{Dispatcher: d, Store: o.Store, Lifecycle: l, Principal: o.Principal,
		// Answer while the commands of unreachable agents are still being retried.
		AckWait: min(10*time.Second, expiry/2), TargetsReady: o.TargetsReady,
		Logger: o.Logger.With("component", "bulk")})
	return &Plane{Dispatcher: d, Lifecycle: l, Bulk: b}, nil
}

// Run delivers commands, runs scheduled bulk operations and purges expired
// archives until ctx ends.
func (p *Plane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = p.Dispatcher.Run(ctx) })
	wg.Go(func() { _ = p.Bulk.Run(ctx) })
	wg.Go(func() { p.Lifecycle.RunPurge(ctx, time.Hour) })
	wg.Wait()
	return err
}
