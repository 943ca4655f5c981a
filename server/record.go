package server

import (
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
)

// observer gets every evaluation (health.Observer): the command dispatcher
// confirms commands and reconciles desired state from it, and the hub
// publishes a heartbeat per good scrape and the status events.
type observer struct {
	hub      control.Publisher
	dispatch *control.Dispatcher // set before the first scrape
}

func (o *observer) observed(h *health.Health, change *fleet.StatusChange) {
	if h.Target == nil {
		return
	}
	o.dispatch.Observe(h)
	base := events.Event{Collector: h.Collector, Org: h.Target.Org, Team: h.Target.Team,
		Status: h.Status, Job: h.Target.Job, Labels: h.Target.Labels}
	if h.Up {
		e := base
		e.Type, e.Time = wire.EventHeartbeat, h.LastSeen
		data := map[string]any{"status": h.Status, "scrape_duration_seconds": h.ScrapeDuration.Seconds(), "samples": h.Samples}
		if h.HasFreshness {
			data["freshness_seconds"] = h.Freshness.Seconds()
		}
		e.Data = data
		o.hub.Publish(e)
	}
	if change == nil {
		return
	}
	e := base
	e.Time = change.At
	e.Type, e.Data = wire.EventStatusChanged, map[string]string{"old": change.From, "new": change.To, "reason": change.Reason}
	o.hub.Publish(e)
	switch {
	case change.To == string(fleet.StatusOffline):
		e.Type, e.Data = wire.EventDisconnected, map[string]string{"reason": change.Reason}
		o.hub.Publish(e)
	case change.From == string(fleet.StatusOffline) || change.From == string(fleet.StatusUnknown):
		e.Type, e.Data = wire.EventConnected, map[string]string{"status": change.To}
		o.hub.Publish(e)
	}
	if change.To == string(fleet.StatusError) {
		e.Type, e.Data = wire.EventError, map[string]string{"reason": change.Reason}
		o.hub.Publish(e)
	}
}
