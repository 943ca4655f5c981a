package server

import (
	"context"
	"net/url"
	"time"

	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// registeredGroups turns the collectors registered through the API into target
// groups for the registry provider, and keeps their scrape tokens for the
// scraper (scrapeToken).
func (s *server) registeredGroups(ctx context.Context) ([]targets.Group, error) {
	rs, err := s.store.ListRegistered(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]targets.Group, 0, len(rs))
	for _, r := range rs {
		u, err := url.Parse(r.URL)
		if err != nil || u.Host == "" {
			s.log.Warn("registered collector has an unusable URL", "collector", r.ID, "url", r.URL)
			continue
		}
		labels := map[string]string{}
		for k, v := range r.Labels {
			labels[k] = v
		}
		labels[targets.LabelCollector] = r.Name
		if r.Org != "" {
			labels[s.tenancy.OrgLabel] = r.Org
		}
		if r.Team != "" {
			labels[s.tenancy.TeamLabel] = r.Team
		}
		for k, v := range r.Thresholds {
			if l, ok := health.ThresholdLabels[k]; ok {
				labels[l] = v
			}
		}
		labels[targets.LabelScheme] = u.Scheme
		if u.Path != "" && u.Path != "/" {
			labels[targets.LabelMetricsPath] = u.Path
		}
		out = append(out, targets.Group{Targets: []string{u.Host}, Labels: labels, Source: "registry:" + r.ID})
	}
	s.setTokens(rs)
	return out, nil
}

// setTokens keeps the scrape tokens of the registered collectors rs.
func (s *server) setTokens(rs []store.RegisteredCollector) {
	tokens := make(map[string]string, len(rs))
	for _, r := range rs {
		if r.Token != "" {
			tokens[r.Name] = r.Token
		}
	}
	s.mu.Lock()
	s.tokens = tokens
	s.mu.Unlock()
}

// scrapeToken is a registered collector's own token for its agent.
func (s *server) scrapeToken(t *targets.Target) string {
	if t.Provider != targets.KindRegistry {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[t.Collector]
}

// syncTargets hands the scraper the discovered targets less the unregistered
// collectors: ts when discovery sent a new set, else (nil) the last set again,
// because the unregistered set changed. It runs on the discovery loop and, for
// an unregistration, on the API request, which answers only once scraping
// stopped.
func (s *server) syncTargets(ts *[]*targets.Target) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.scraper == nil {
		return // still starting (a token rotation finished at start): the first set comes soon
	}
	s.mu.Lock()
	if ts != nil {
		s.discovered = *ts
	}
	cur := s.discovered
	s.mu.Unlock()
	sync := s.plane.Lifecycle.Filter(cur)
	if s.cluster != nil {
		sync = s.cluster.owned(sync)
	}
	s.scraper.Sync(sync)
	if s.cluster != nil {
		// Later takeovers read the store as it is then, not as it was at start.
		s.restorer.dropStart()
	}
}

// registryChanged lists the registry again and filters the targets again:
// the lifecycle changed the registry or the unregistered set.
func (s *server) registryChanged() {
	// The tokens first, at once: the targets filtered again below may start a
	// loop for a collector just re-registered, and a loop keeps the token it
	// started with; the discoverer's own listing comes only after.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	rs, err := s.store.ListRegistered(ctx)
	cancel()
	if err != nil {
		s.log.Warn("listing the registered collectors' scrape tokens failed; the registry's next listing brings them", "err", err)
	} else {
		s.setTokens(rs)
	}
	select {
	case s.registryPoke <- struct{}{}:
	default:
	}
	s.syncTargets(nil)
}
