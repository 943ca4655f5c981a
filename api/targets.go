package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/targets"
)

// targets serves GET /api/v1/targets, with Prometheus's filters state
// (active, dropped, any) and scrapePool.
func (a *api) targets(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	state := qs.Get("state")
	switch state {
	case "", "active", "dropped", "any":
	default:
		badParam(w, "state", "want active, dropped or any")
		return
	}
	pool := qs.Get("scrapePool")
	p, _ := auth.FromContext(r.Context())
	out := wire.Targets{Status: "success", Data: wire.TargetDiscovery{ActiveTargets: []wire.ActiveTarget{}, DroppedTargets: []wire.DroppedTarget{}}}
	if state != "active" && a.o.Archives != nil {
		for _, d := range a.o.Archives.Dropped() {
			t := d.Target
			if !p.CanRead(orgOr(d.Archive.Org, a.o.DefaultOrg), d.Archive.Team) || (pool != "" && t.ScrapeJob != pool) {
				continue
			}
			disc := make(map[string]string, len(t.Labels)+len(t.Meta))
			for k, v := range t.Meta {
				disc[k] = v
			}
			for k, v := range t.Labels {
				disc[k] = v
			}
			out.Data.DroppedTargets = append(out.Data.DroppedTargets, wire.DroppedTarget{DiscoveredLabels: disc, ScrapePool: t.ScrapeJob,
				Collector: t.Collector, ArchiveID: d.Archive.ID,
				Reason: fmt.Sprintf("unregistered at %s by %s; ignored until re-registered", d.Archive.ArchivedAt.UTC().Format(time.RFC3339), d.Archive.ArchivedBy)})
		}
	}
	if state != "active" && a.o.Discovery != nil {
		for _, d := range a.o.Discovery.Dropped() {
			if !p.CanRead(d.Org, d.Team) || (pool != "" && d.ScrapeJob != pool) {
				continue
			}
			reason := d.Reason
			if reason == "" {
				reason = "dropped by relabel_configs"
			}
			out.Data.DroppedTargets = append(out.Data.DroppedTargets, wire.DroppedTarget{DiscoveredLabels: d.Discovered, ScrapePool: d.ScrapeJob, Reason: reason})
		}
	}
	if state == "dropped" {
		writeJSON(w, http.StatusOK, out)
		return
	}
	a.o.Fleet.Each(func(h health.Health) bool {
		t := h.Target
		if t == nil {
			return true
		}
		if org, team := a.scopeOf(&h); !p.CanRead(org, team) {
			return true
		}
		if pool != "" && t.ScrapeJob != pool {
			return true
		}
		health := "unknown"
		if !h.LastScrape.IsZero() {
			health = "down"
			if h.Up {
				health = "up"
			}
		}
		disc := make(map[string]string, len(t.Labels)+len(t.Meta))
		for k, v := range t.Meta {
			disc[k] = v
		}
		for k, v := range t.Labels {
			disc[k] = v
		}
		lastErr := ""
		if !h.Up {
			lastErr = h.LastError
		}
		u := redactURL(t.URL)
		out.Data.ActiveTargets = append(out.Data.ActiveTargets, wire.ActiveTarget{
			DiscoveredLabels: disc, Labels: t.Labels, ScrapePool: t.ScrapeJob, ScrapeURL: u, GlobalURL: u,
			LastError: lastErr, LastScrape: h.LastScrape.UTC(), LastScrapeDuration: h.ScrapeDuration.Seconds(),
			Health: health, Collector: h.Collector, Status: string(h.Status), Reason: h.Reason,
		})
		return true
	})
	writeJSON(w, http.StatusOK, out)
}

// sdFiles serves GET /api/v1/sd-files. The files are server configuration and
// may hold the targets of every org, so only a super admin sees them; anyone
// else gets 403.
func (a *api) sdFiles(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if !p.IsSuperAdmin() {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "the file_sd files are visible to super admins only", nil)
		return
	}
	out := wire.List[wire.SDFile]{Data: []wire.SDFile{}}
	if a.o.SDFiles != nil {
		for _, f := range a.o.SDFiles() {
			sf := wire.SDFile{File: f.Path, Targets: f.Targets, LastGoodRead: ts(f.LastGoodRead),
				Error: f.Error, ErrorSince: ts(f.ErrorAt), Dropped: []wire.SDDropped{}}
			for _, d := range f.Dropped {
				sf.Dropped = append(sf.Dropped, wire.SDDropped{Group: d.Group, Target: d.Target, Reason: d.Reason})
			}
			out.Data = append(out.Data, sf)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// httpSD serves GET /api/v1/sd: the collectors corral scrapes, in the format
// of Prometheus's http_sd_config, so that a Prometheus can use corral as its
// discovery. Each collector is one group with its address, its target labels
// (job and instance included, so the Prometheus target keeps them),
// __scheme__, __metrics_path__ and __param_* as corral scrapes it, and
// __meta_corral_* labels for relabelling (collector, status, org, team,
// provider). The caller's scope applies, as everywhere.
func (a *api) httpSD(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	out := []wire.SDGroup{}
	a.o.Fleet.Each(func(h health.Health) bool {
		t := h.Target
		if t == nil {
			return true
		}
		if org, team := a.scopeOf(&h); !p.CanRead(org, team) {
			return true
		}
		labels := make(map[string]string, len(t.Labels)+len(t.Meta)+5)
		for k, v := range t.Labels {
			labels[k] = v
		}
		for k, v := range t.Meta {
			if k == targets.LabelScheme || k == targets.LabelMetricsPath || strings.HasPrefix(k, targets.LabelParamPrefix) {
				labels[k] = v
			}
		}
		labels["__meta_corral_collector"] = t.Collector
		labels["__meta_corral_status"] = string(h.Status)
		labels["__meta_corral_org"] = t.Org
		labels["__meta_corral_team"] = t.Team
		labels["__meta_corral_provider"] = t.Provider
		out = append(out, wire.SDGroup{Targets: []string{t.Address()}, Labels: labels})
		return true
	})
	writeJSON(w, http.StatusOK, out)
}

// conflicts serves GET /api/v1/conflicts: the collector identities discovery
// found more than once, which target of each is scraped and why. A caller sees
// a conflict only when it may read both targets, so that neither side leaks
// another scope's labels.
func (a *api) conflicts(w http.ResponseWriter, r *http.Request) {
	for k := range r.URL.Query() {
		badParam(w, k, "GET /conflicts takes no parameters")
		return
	}
	p, _ := auth.FromContext(r.Context())
	out := wire.List[wire.Conflict]{Data: []wire.Conflict{}}
	if a.o.Conflicts != nil {
		for _, c := range a.o.Conflicts.Conflicts() {
			if !p.CanRead(c.Kept.Org, c.Kept.Team) || !p.CanRead(c.Dropped.Org, c.Dropped.Team) {
				continue
			}
			out.Data = append(out.Data, wire.Conflict{Collector: c.Collector, Reason: c.Reason,
				Kept: conflictTarget(&c.Kept), Dropped: conflictTarget(&c.Dropped)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func conflictTarget(t *targets.Target) wire.ConflictTarget {
	return wire.ConflictTarget{ScrapePool: t.ScrapeJob, Provider: t.Provider, Source: t.Source, ScrapeURL: redactURL(t.URL), Labels: t.Labels}
}
