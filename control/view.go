package control

import (
	"time"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// View renders a command for the API and events, secrets in its arguments
// and result redacted (the agent was sent them as they are).
func View(c store.Command) wire.Command {
	v := wire.Command{ID: c.ID, Collector: c.Collector, Command: c.Command, State: c.State, Attempts: c.Attempts,
		Error: c.Error, Result: Redact(c.Result), Reason: c.Reason, Actor: wire.Actor(c.Actor), BulkID: c.BulkID,
		CreatedAt: ms(c.CreatedAt), SentAt: opt(c.SentAt), AcknowledgeAt: opt(c.AckedAt), FinishedAt: opt(c.FinishedAt),
		ExpiresAt: ms(c.ExpiresAt)}
	if len(c.Args) > 0 && string(c.Args) != "{}" {
		v.Args = Redact(c.Args)
	}
	if c.State == store.CommandPending {
		v.NextAttemptAt = opt(c.NextAttemptAt)
	}
	if c.Command == "backfill" {
		p := c.Progress
		v.Progress = &p
	}
	return v
}

// opt is t as the store gives it back (UTC milliseconds), nil when zero, so a
// live command and a stored one render alike.
func opt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := ms(t)
	return &u
}

func (d *Dispatcher) publish(e events.Event) {
	if d.o.Events != nil {
		d.o.Events.Publish(e)
	}
}

// publishCommand sends command:updated, scoped by the collector's org and team.
func (d *Dispatcher) publishCommand(c store.Command) {
	if d.o.Events == nil {
		return
	}
	e := events.Event{Type: wire.EventCommandUpdate, Collector: c.Collector, Data: View(c), Org: c.Org, Team: c.Team}
	if h, ok := d.o.Fleet.Get(c.Collector); ok && h.Target != nil {
		e.Status, e.Job, e.Labels = h.Status, h.Target.Job, h.Target.Labels
	}
	d.publish(e)
}
