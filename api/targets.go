package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/scrape"
)

// activeTargetJSON is one target in the shape of Prometheus's /api/v1/targets,
// plus corral's collector, status and reason.
type activeTargetJSON struct {
	DiscoveredLabels   map[string]string `json:"discoveredLabels,omitempty"`
	Labels             map[string]string `json:"labels"`
	ScrapePool         string            `json:"scrapePool"`
	ScrapeURL          string            `json:"scrapeUrl"`
	GlobalURL          string            `json:"globalUrl"`
	LastError          string            `json:"lastError"`
	LastScrape         time.Time         `json:"lastScrape"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
	Health             string            `json:"health"`

	Collector string `json:"collector"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
}

// droppedTargetJSON is a target discovery lists but corral ignores: its
// collector is unregistered.
type droppedTargetJSON struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	ScrapePool       string            `json:"scrapePool"`
	Collector        string            `json:"collector"`
	Reason           string            `json:"reason"`
	ArchiveID        string            `json:"archived_collector_id"`
}

type targetsJSON struct {
	Status string `json:"status"`
	Data   struct {
		ActiveTargets  []activeTargetJSON  `json:"activeTargets"`
		DroppedTargets []droppedTargetJSON `json:"droppedTargets"`
	} `json:"data"`
}

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
	var out targetsJSON
	out.Status = "success"
	out.Data.ActiveTargets = []activeTargetJSON{}
	out.Data.DroppedTargets = []droppedTargetJSON{}
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
			out.Data.DroppedTargets = append(out.Data.DroppedTargets, droppedTargetJSON{DiscoveredLabels: disc, ScrapePool: t.ScrapeJob,
				Collector: t.Collector, ArchiveID: d.Archive.ID,
				Reason: fmt.Sprintf("unregistered at %s by %s; ignored until re-registered", d.Archive.ArchivedAt.UTC().Format(time.RFC3339), d.Archive.ArchivedBy)})
		}
	}
	if state == "dropped" {
		writeJSON(w, http.StatusOK, out)
		return
	}
	a.o.Fleet.Each(func(h scrape.Health) bool {
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
		out.Data.ActiveTargets = append(out.Data.ActiveTargets, activeTargetJSON{
			DiscoveredLabels: disc, Labels: t.Labels, ScrapePool: t.ScrapeJob, ScrapeURL: u, GlobalURL: u,
			LastError: lastErr, LastScrape: h.LastScrape.UTC(), LastScrapeDuration: h.ScrapeDuration.Seconds(),
			Health: health, Collector: h.Collector, Status: h.Status, Reason: h.Reason,
		})
		return true
	})
	writeJSON(w, http.StatusOK, out)
}

type sdFileJSON struct {
	File         string     `json:"file"`
	Targets      int        `json:"targets"`
	LastGoodRead *time.Time `json:"last_good_read"`
	Error        string     `json:"error"`
	ErrorSince   *time.Time `json:"error_since"`
}

// sdFiles serves GET /api/v1/sd-files. The files are server configuration and
// may hold the targets of every org, so only a super admin sees them; anyone
// else gets 403.
func (a *api) sdFiles(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if !p.IsSuperAdmin() {
		writeError(w, http.StatusForbidden, codeForbidden, "the file_sd files are visible to super admins only", nil)
		return
	}
	out := struct {
		Data []sdFileJSON `json:"data"`
	}{Data: []sdFileJSON{}}
	if a.o.SDFiles != nil {
		for _, f := range a.o.SDFiles() {
			out.Data = append(out.Data, sdFileJSON{File: f.Path, Targets: f.Targets, LastGoodRead: ts(f.LastGoodRead),
				Error: f.Error, ErrorSince: ts(f.ErrorAt)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
