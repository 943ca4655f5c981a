package dispatch

import (
	"encoding/json"
	"time"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/store"
)

// CommandJSON is a command as the API and the command:updated event show it.
type CommandJSON struct {
	ID            string          `json:"id"`
	Collector     string          `json:"collector"`
	Command       string          `json:"command"`
	Args          json.RawMessage `json:"args,omitempty"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	Error         string          `json:"error,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
	Progress      *float64        `json:"progress,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Actor         store.Actor     `json:"actor"`
	BulkID        string          `json:"bulk_id,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	SentAt        *time.Time      `json:"sent_at,omitempty"`
	AcknowledgeAt *time.Time      `json:"acknowledged_at,omitempty"`
	FinishedAt    *time.Time      `json:"finished_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	ExpiresAt     time.Time       `json:"expires_at"`
}

// View renders a command for the API and events.
func View(c store.Command) CommandJSON {
	v := CommandJSON{ID: c.ID, Collector: c.Collector, Command: c.Command, State: c.State, Attempts: c.Attempts,
		Error: c.Error, Result: c.Result, Reason: c.Reason, Actor: c.Actor, BulkID: c.BulkID,
		CreatedAt: ms(c.CreatedAt), SentAt: opt(c.SentAt), AcknowledgeAt: opt(c.AckedAt), FinishedAt: opt(c.FinishedAt),
		ExpiresAt: ms(c.ExpiresAt)}
	if len(c.Args) > 0 && string(c.Args) != "{}" {
		v.Args = c.Args
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
	e := events.Event{Type: events.TypeCommandUpdate, Collector: c.Collector, Data: View(c), Org: c.Org, Team: c.Team}
	if h, ok := d.o.Fleet.Get(c.Collector); ok && h.Target != nil {
		e.Status, e.Job, e.Labels = h.Status, h.Target.Job, h.Target.Labels
	}
	d.publish(e)
}
