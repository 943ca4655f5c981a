package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/corral-dev/corral/api/dispatch"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets/lifecycle"
)

// control wires the control plane: the command dispatcher (with the server's
// signing key, made on first start), the collectors' lifecycle and bulk
// operations.
func (s *server) control(ctx context.Context) error {
	if _, err := dispatch.EnsureKey(ctx, s.store); err != nil {
		return fmt.Errorf("the server's control key: %w", err)
	}
	tenancy := s.cfg.Tenancy
	scope := func(h *scrape.Health) (string, string) {
		if h.Target == nil {
			return tenancy.DefaultOrg, ""
		}
		org := h.Target.Labels[tenancy.OrgLabel]
		if org == "" {
			org = tenancy.DefaultOrg
		}
		return org, h.Target.Labels[tenancy.TeamLabel]
	}
	ctl := s.cfg.Control
	// The lifecycle and the dispatcher need each other: the lifecycle drops an
	// unregistered collector's commands, the dispatcher rotates scrape tokens.
	s.life = lifecycle.New(lifecycle.Options{
		Store: s.store,
		Lookup: func(id string) (lifecycle.Current, bool) {
			h, ok := s.eval.Get(id)
			if !ok || h.Target == nil {
				return lifecycle.Current{}, false
			}
			org, team := scope(&h)
			return lifecycle.Current{Target: h.Target, Org: org, Team: team}, true
		},
		RegistryJobs: s.registryJobs,
		PublicKey:    func() string { return s.dispatch.PublicKey() },
		Changed: func() {
			select {
			case s.registryPoke <- struct{}{}:
			default:
			}
			s.syncTargets(nil)
		},
		Unregistered: func(id string) { s.dispatch.Forget(id) },
		Event: func(typ, collector, org, team string, data any) {
			s.hub.Publish(events.Event{Type: typ, Collector: collector, Org: org, Team: team, Data: data})
		},
		OrgLabel: tenancy.OrgLabel, TeamLabel: tenancy.TeamLabel, DefaultOrg: tenancy.DefaultOrg,
		Retention: time.Duration(ctl.ArchiveRetentionDays) * 24 * time.Hour,
		Logger:    s.log.With("component", "lifecycle"),
	})
	s.dispatch = dispatch.New(dispatch.Options{Store: s.store, Fleet: s.eval, Events: s.hub, Scope: scope,
		Expiry: time.Duration(ctl.CommandExpiry), MaxBackoff: time.Duration(ctl.RetryMaxBackoff),
		Tokens: s.life, Logger: s.log.With("component", "dispatch"), Registerer: s.reg})
	if err := s.life.Load(ctx); err != nil {
		return err
	}
	if err := s.life.RecoverTokens(ctx); err != nil {
		return fmt.Errorf("finish scrape token rotations: %w", err)
	}
	s.bulk = dispatch.NewBulk(dispatch.BulkOptions{Dispatcher: s.dispatch, Store: s.store, Lifecycle: s.life,
		Principal: func(ctx context.Context, userID string) (dispatch.Scope, error) {
			return s.auth.PrincipalOf(ctx, userID)
		},
		// Answer while the commands of unreachable agents are still being retried.
		AckWait: min(10*time.Second, time.Duration(ctl.CommandExpiry)/2),
		Logger:  s.log.With("component", "bulk")})
	return nil
}

// registryJobs are the scrape configs that scrape registered collectors.
func (s *server) registryJobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sc := range s.cfg.ScrapeConfigs {
		if sc.Registry {
			out = append(out, sc.JobName)
		}
	}
	return out
}

// showKeys prints the server's public control key (making it on first use), and
// the next one during a rotation.
func showKeys(configFile, storageURL string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(configFile)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 2
	}
	if storageURL != "" {
		cfg.Storage.URL = storageURL
	}
	ctx := context.Background()
	st, err := store.Open(ctx, storeURL(cfg.Storage.URL), nil)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	defer st.Close()
	active, err := dispatch.EnsureKey(ctx, st)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	_, next, err := dispatch.ServerKeys(ctx, st)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	fmt.Fprintln(stdout, active.PublicKey)
	fmt.Fprintf(stderr, "key id %s, active since %s; put the line above in the agents' control.trusted_keys\n",
		active.KID, active.ActivatedAt.Format(time.RFC3339))
	if next.KID != "" {
		fmt.Fprintf(stderr, "a rotation is under way to key %s: %s\n", next.KID, next.PublicKey)
	}
	return 0
}
