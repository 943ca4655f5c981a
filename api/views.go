package api

import (
	"encoding/json"
	"math"
	"net/url"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
)

// The answers are the types of package wire, which corralctl decodes too.
// This file makes them from the server's own types.

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

func (a *api) row(h *health.Health) wire.Collector {
	org, team := a.scopeOf(h)
	c := wire.Collector{
		ID: h.Collector, Status: string(h.Status), Reason: h.Reason, StatusSince: ts(h.StatusSince),
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

func (a *api) detail(h *health.Health) wire.CollectorDetail {
	ag := h.Agent
	d := wire.CollectorDetail{
		Collector: a.row(h),
		Kind:      ag.Kind, Version: ag.Version,
		FirstSeen: ts(h.FirstSeen), LastScrape: ts(h.LastScrape),
		ScrapeDuration: h.ScrapeDuration.Seconds(), Samples: h.Samples,
		AgentState: ag.State, LastItem: ts(h.LastItem),
		Uptime:   numIf(h.Uptime > 0, h.Uptime.Seconds()),
		Restarts: h.Restarts, LastError: h.LastError, LastErrorReason: h.LastReason,
		ConsecutiveFailures: h.ConsecutiveFailures, CollectionError: h.CollectionError,
		Collection: wire.Collection{
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
	if th := h.Thresholds; th != (health.Thresholds{}) {
		d.Thresholds = &wire.Thresholds{
			OfflineAfter: th.OfflineAfter.Seconds(), StaleAfter: th.StaleAfter.Seconds(),
			SlowScrape: th.SlowScrape.Seconds(), SlowCollection: th.SlowCollection.Seconds(),
			IncompleteBelow: th.IncompleteBelow,
		}
	}
	return d
}

func viewDesired(d store.DesiredState) wire.Desired {
	v := wire.Desired{RunState: d.Run, Reason: d.Reason, ResumeExpected: ts(d.ResumeExpected), ConfigGeneration: d.ConfigGeneration,
		Tags: d.Tags, Group: d.Group, UpdatedBy: d.UpdatedBy, UpdatedAt: d.UpdatedAt.UTC()}
	if len(d.Config) > 0 {
		// The store keeps the real values, which the reconciler resends.
		v.Config = control.RedactConfig(d.Config)
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	return v
}

func viewAudit(e store.AuditEntry) wire.AuditEntry {
	p := e.Params
	if len(p) == 0 {
		p = json.RawMessage("{}")
	}
	p = control.Redact(p) // rows written before DSN passwords were redacted
	return wire.AuditEntry{ID: e.ID, At: e.At.UTC(), FinishedAt: ts(e.FinishedAt), Actor: wire.Actor(e.Actor), Remote: e.Remote, Action: e.Action,
		Collector: e.Collector, Org: e.Org, Team: e.Team, Reason: e.Reason, Params: p, Result: e.Result, Error: e.Error,
		CommandID: e.CommandID, BulkID: e.BulkID, Target: e.Target}
}

func (a *api) viewArchive(arc store.ArchivedCollector, discovered map[string]bool) wire.Archive {
	v := wire.Archive{ID: arc.ID, Collector: arc.Collector, Name: arc.Collector, Provider: arc.Provider, Source: arc.Source,
		URL: redactURL(arc.URL), Labels: arc.Labels, Org: orgOr(arc.Org, a.o.DefaultOrg), Team: arc.Team, Reason: arc.Reason,
		ArchivedBy: arc.ArchivedBy, ArchivedAt: arc.ArchivedAt.UTC(), MetricsArchived: arc.MetricsArchived, MetricsCount: arc.Records,
		RetainUntil: ts(arc.RetainUntil), PurgedAt: ts(arc.PurgedAt), DeleteAudit: arc.DeleteAudit,
		StillDiscovered: discovered[arc.Collector], ReregisteredAt: ts(arc.ReregisteredAt)}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	return v
}

// unregisterRequest is the control plane's request for the wire's body: it
// also names the collector of the path.
func unregisterRequest(collector string, b wire.UnregisterRequest) control.UnregisterRequest {
	return control.UnregisterRequest{Collector: collector, Reason: b.Reason, ArchiveMetrics: b.ArchiveMetrics,
		RetentionDays: b.RetentionDays, DeleteAudit: b.DeleteAudit}
}
