package api

import (
	"math"
	"net/url"
	"time"

	"github.com/corral-dev/corral/scrape"
)

// collectorJSON is one row of GET /collectors.
type collectorJSON struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Reason          string            `json:"reason"`
	StatusSince     *time.Time        `json:"status_since"`
	Job             string            `json:"job"`
	Instance        string            `json:"instance"`
	Org             string            `json:"org"`
	Team            string            `json:"team"`
	Labels          map[string]string `json:"labels"`
	Provider        string            `json:"provider"`
	Up              bool              `json:"up"`
	LastSeen        *time.Time        `json:"last_seen"`
	Freshness       *float64          `json:"freshness_seconds"`
	Completeness1h  *float64          `json:"completeness_1h"`
	Completeness24h *float64          `json:"completeness_24h"`
	CPU             *float64          `json:"cpu"`
	Memory          *float64          `json:"memory_bytes"`
	Items           *float64          `json:"items_collected"`
	Tags            []string          `json:"tags"`
	Group           string            `json:"group"`
}

// collectorDetailJSON answers GET /collectors/{id}.
type collectorDetailJSON struct {
	collectorJSON
	Kind                string          `json:"kind"`
	Version             string          `json:"version"`
	URL                 string          `json:"url"`
	Source              string          `json:"source"`
	ScrapeJob           string          `json:"scrape_job"`
	FirstSeen           *time.Time      `json:"first_seen"`
	LastScrape          *time.Time      `json:"last_scrape"`
	ScrapeDuration      float64         `json:"scrape_duration_seconds"`
	Samples             int             `json:"samples"`
	AgentState          string          `json:"agent_state"`
	LastItem            *time.Time      `json:"last_item"`
	Uptime              *float64        `json:"uptime_seconds"`
	Restarts            int             `json:"restarts"`
	LastError           string          `json:"last_error"`
	LastErrorReason     string          `json:"last_error_reason"`
	ConsecutiveFailures int             `json:"consecutive_failures"`
	Collection          collectionJSON  `json:"collection"`
	Thresholds          *thresholdsJSON `json:"thresholds"`
	// Desired is what operators asked for through corral (stop, resume,
	// update-config, tags); nil when nobody steered the collector yet.
	Desired *desiredJSON `json:"desired"`
}

type collectionJSON struct {
	Succeeded        float64    `json:"succeeded"`
	Failed           float64    `json:"failed"`
	MeanDuration     float64    `json:"mean_duration_seconds"`
	LastCollection   *time.Time `json:"last_collection"`
	ExpectedItems    float64    `json:"expected_items"`
	ExpectedInterval float64    `json:"expected_interval_seconds"`
	ConfigGeneration *float64   `json:"config_generation"`
}

type thresholdsJSON struct {
	OfflineAfter    float64 `json:"offline_after_seconds"`
	StaleAfter      float64 `json:"stale_after_seconds"`
	SlowScrape      float64 `json:"slow_scrape_seconds"`
	SlowCollection  float64 `json:"slow_collection_seconds"`
	IncompleteBelow float64 `json:"incomplete_below"`
}

// statusJSON answers GET /collectors/{id}/status.
type statusJSON struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason"`
	StatusSince *time.Time `json:"status_since"`
	Up          bool       `json:"up"`
	LastSeen    *time.Time `json:"last_seen"`
	LastScrape  *time.Time `json:"last_scrape"`
}

func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func numIf(ok bool, v float64) *float64 {
	if !ok {
		return nil
	}
	return num(v)
}

func fromUnix(sec float64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(sec*1e9))
}

// redactURL hides the password of a URL's user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func (a *api) row(h *scrape.Health) collectorJSON {
	org, team := a.scopeOf(h)
	c := collectorJSON{
		ID: h.Collector, Status: h.Status, Reason: h.Reason, StatusSince: ts(h.StatusSince),
		Org: org, Team: team, Up: h.Up, LastSeen: ts(h.LastSeen),
		Freshness:       numIf(h.HasFreshness, h.Freshness.Seconds()),
		Completeness1h:  num(h.Completeness1h),
		Completeness24h: num(h.Completeness24h),
		CPU:             numIf(h.HasCPU, h.CPURatio),
		Memory:          numIf(h.Agent.HasRSS, h.Agent.RSS),
		Items:           numIf(h.Agent.HasItems, h.Agent.Items),
		Labels:          map[string]string{},
		Tags:            []string{},
	}
	if a.o.Commands != nil {
		if d, ok := a.o.Commands.Desired(h.Collector); ok {
			if d.Tags != nil {
				c.Tags = d.Tags
			}
			c.Group = d.Group
		}
	}
	if t := h.Target; t != nil {
		c.Job, c.Instance, c.Provider = t.Job, t.Instance, t.Provider
		if t.Labels != nil {
			c.Labels = t.Labels
		}
	}
	return c
}

func (a *api) detail(h *scrape.Health) collectorDetailJSON {
	ag := h.Agent
	d := collectorDetailJSON{
		collectorJSON: a.row(h),
		Kind:          ag.Kind, Version: ag.Version,
		FirstSeen: ts(h.FirstSeen), LastScrape: ts(h.LastScrape),
		ScrapeDuration: h.ScrapeDuration.Seconds(), Samples: h.Samples,
		AgentState: ag.State, LastItem: ts(h.LastItem),
		Uptime:   numIf(h.Uptime > 0, h.Uptime.Seconds()),
		Restarts: h.Restarts, LastError: h.LastError, LastErrorReason: h.LastReason,
		ConsecutiveFailures: h.ConsecutiveFailures,
		Collection: collectionJSON{
			Succeeded: ag.CollectionsOK, Failed: ag.CollectionsError,
			MeanDuration:     h.CollectionMean.Seconds(),
			LastCollection:   ts(fromUnix(ag.LastCollection)),
			ExpectedItems:    ag.ExpectedItems,
			ExpectedInterval: ag.ExpectedInterval,
			ConfigGeneration: numIf(ag.HasGeneration, ag.ConfigGeneration),
		},
	}
	if t := h.Target; t != nil {
		d.URL, d.Source, d.ScrapeJob = redactURL(t.URL), t.Source, t.ScrapeJob
	}
	if a.o.Commands != nil {
		if des, ok := a.o.Commands.Desired(h.Collector); ok {
			v := viewDesired(des)
			d.Desired = &v
		}
	}
	if th := h.Thresholds; th != (scrape.Thresholds{}) {
		d.Thresholds = &thresholdsJSON{
			OfflineAfter: th.OfflineAfter.Seconds(), StaleAfter: th.StaleAfter.Seconds(),
			SlowScrape: th.SlowScrape.Seconds(), SlowCollection: th.SlowCollection.Seconds(),
			IncompleteBelow: th.IncompleteBelow,
		}
	}
	return d
}
