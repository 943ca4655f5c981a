package control

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/exporter/contract"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
)

type verdict int

const (
	waiting verdict = iota
	confirmed
	failedNow
	progressed
)

// judge says what a scrape of agent a means for acknowledged command e.
func judge(e *entry, a *scrape.AgentSample) (verdict, string) {
	switch e.c.Command {
	case agentctl.Pause:
		if a.State == contract.StatePaused {
			return confirmed, ""
		}
	case agentctl.Resume:
		switch a.State {
		case contract.StateRunning, contract.StateWaiting, contract.StateError:
			return confirmed, ""
		}
	case agentctl.Restart:
		if a.HasStartTime && a.StartTime > e.base.StartTime+0.001 {
			return confirmed, ""
		}
	case agentctl.Collect:
		if a.LastCollection > e.base.LastCollection {
			return confirmed, ""
		}
	case agentctl.UpdateConfig:
		if a.HasGeneration && a.ConfigGeneration >= e.base.TargetGeneration {
			return confirmed, ""
		}
	case agentctl.Backfill:
		switch {
		case a.HasBackfill && a.BackfillRunning:
			return progressed, ""
		case a.BackfillProgress >= 1:
			return confirmed, ""
		case a.HasBackfill:
			return failedNow, fmt.Sprintf("the backfill stopped at %.0f%% (the agent was paused, restarted or its source failed; see its /healthz and logs)", a.BackfillProgress*100)
		}
	default:
		return confirmed, ""
	}
	return waiting, ""
}

// progressEvery bounds how often a backfill's progress is written and published.
const progressEvery = 2 * time.Second

// Observe confirms acknowledged commands and reconciles the desired state
// against one evaluation. It runs for every scrape, on the scrape path: with
// nothing to do it costs two map look-ups under a lock, and it never waits for
// the store or an agent.
func (d *Dispatcher) Observe(h *health.Health) {
	if !h.Up || h.Target == nil || !d.owns(h.Collector) {
		return // a replica handing the collector over scrapes it a little longer: its owner acts
	}
	select {
	case <-d.loaded:
	default:
		return
	}
	d.mu.Lock()
	acked := d.acked[h.Collector]
	des, hasDes := d.desired[h.Collector]
	if len(acked) == 0 && !hasDes {
		d.mu.Unlock()
		return
	}
	now := time.Now()
	a := &h.Agent
	type outcome struct {
		e     *entry
		c     store.Command
		final bool
	}
	var out []outcome
	var desiredChanged bool
	for _, e := range append([]*entry(nil), acked...) {
		if !h.LastScrape.After(e.c.AckedAt) {
			continue // started before the agent answered: says nothing
		}
		v, why := judge(e, a)
		switch v {
		case confirmed:
			c, ok := d.changeLocked(e, func(c *store.Command) {
				c.State, c.FinishedAt = store.CommandConfirmed, now
				if c.Command == agentctl.Backfill {
					c.Progress = 1
				}
			})
			if ok {
				out = append(out, outcome{e, c, true})
			}
			if ok && c.Command == agentctl.UpdateConfig {
				// Only a config the agent applied becomes desired: one it
				// refused, or that never arrived, is not re-sent by the
				// reconciler.
				var applied map[string]json.RawMessage
				if json.Unmarshal(c.Args, &applied) == nil && len(applied) > 0 {
					if !hasDes {
						des, hasDes = store.DesiredState{Collector: h.Collector}, true
					}
					des.Config = maps.Clone(des.Config)
					if des.Config == nil {
						des.Config = map[string]json.RawMessage{}
					}
					maps.Copy(des.Config, applied)
					des.ConfigGeneration = int64(e.base.TargetGeneration)
					des.UpdatedAt, des.UpdatedBy = now, c.Actor.Name
					d.desired[h.Collector] = des
					desiredChanged = true
				}
			}
		case failedNow:
			c, ok := d.changeLocked(e, func(c *store.Command) {
				c.State, c.FinishedAt, c.Error, c.Progress = store.CommandFailed, now, why, a.BackfillProgress
			})
			if ok {
				out = append(out, outcome{e, c, true})
			}
		case progressed:
			e.c.ExpiresAt = now.Add(d.o.Expiry)
			if a.BackfillProgress-e.c.Progress >= 0.01 && now.Sub(e.progress) >= progressEvery {
				e.progress = now
				c, _ := d.changeLocked(e, func(c *store.Command) { c.Progress = a.BackfillProgress })
				out = append(out, outcome{e, c, false})
			}
		}
	}
	var acts []act
	if hasDes && a.HasContract && d.reconciling[h.Collector] == 0 && now.Sub(d.reconciled[h.Collector]) >= d.o.ReconcileEvery {
		acts = d.reconcileLocked(h, des)
		if len(acts) > 0 {
			d.reconciled[h.Collector] = now
			d.reconciling[h.Collector] += len(acts)
		}
	}
	d.mu.Unlock()

	if desiredChanged {
		d.saveDesired(des)
	}
	for _, o := range out {
		if !o.final {
			d.persistAsync(o.e)
			d.publishCommand(o.c)
			continue
		}
		d.spawn(func() { d.finished(o.e, o.c) })
		if o.c.State == store.CommandConfirmed {
			d.publishEffect(h, o.c)
		}
	}
	for _, x := range acts {
		d.spawn(func() { d.reconcile(x) })
	}
}

// saveDesired writes a desired state in the background. It takes its copy
// as an argument so that Observe's own one stays on the stack.
func (d *Dispatcher) saveDesired(des store.DesiredState) {
	d.spawn(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
		defer cancel()
		if err := d.o.Store.SetDesired(ctx, des); err != nil {
			d.log.Warn("recording the confirmed config generation failed", "collector", des.Collector, "err", err)
		}
	})
}

// act is something the reconciler does: a command, with a history row.
type act struct {
	req     Request
	history fleet.StatusChange
}

// reconcileLocked decides what brings the agent back to its desired state.
func (d *Dispatcher) reconcileLocked(h *health.Health, des store.DesiredState) []act {
	var acts []act
	a := &h.Agent
	actor := store.Actor{Kind: store.ActorReconciler, Name: "reconciler"}
	by := des.UpdatedBy
	if by == "" {
		by = "an operator"
	}
	if !d.hasOpenLocked(h.Collector, agentctl.Pause, agentctl.Resume) {
		var cmd, action, want string
		switch {
		case des.Run == store.DesiredPaused && a.State != contract.StatePaused && a.State != contract.StateStopping:
			cmd, action, want = agentctl.Pause, "stop", store.DesiredPaused
		case des.Run == store.DesiredRunning && a.State == contract.StatePaused:
			cmd, action, want = agentctl.Resume, "resume", store.DesiredRunning
		}
		if cmd != "" {
			reason := fmt.Sprintf("desired state is %s (set by %s at %s", want, by, des.UpdatedAt.UTC().Format(time.RFC3339))
			if des.Reason != "" {
				reason += ": " + des.Reason
			}
			reason += fmt.Sprintf("); the agent reported %s", a.State)
			var args json.RawMessage
			if cmd == agentctl.Pause && des.Reason != "" {
				args, _ = json.Marshal(map[string]string{"reason": des.Reason})
			}
			acts = append(acts, act{
				req:     Request{Collector: h.Collector, Command: cmd, Args: args, Reason: reason, Actor: actor, Action: action},
				history: fleet.StatusChange{Collector: h.Collector, From: a.State, To: want, Reason: reason, Kind: fleet.KindReconcile},
			})
		}
	}
	if len(des.Config) > 0 && des.ConfigGeneration > 0 && a.HasGeneration && a.ConfigGeneration < float64(des.ConfigGeneration) &&
		!d.hasOpenLocked(h.Collector, agentctl.UpdateConfig) {
		args, _ := json.Marshal(des.Config)
		reason := fmt.Sprintf("the agent's config generation %.0f is below the confirmed %d: it lost the applied changes", a.ConfigGeneration, des.ConfigGeneration)
		acts = append(acts, act{
			req: Request{Collector: h.Collector, Command: agentctl.UpdateConfig, Args: args, Reason: reason, Actor: actor, Action: "update-config"},
			history: fleet.StatusChange{Collector: h.Collector, From: fmt.Sprintf("config generation %.0f", a.ConfigGeneration),
				To: fmt.Sprintf("config generation %d", des.ConfigGeneration), Reason: reason, Kind: fleet.KindReconcile},
		})
	}
	return acts
}

func (d *Dispatcher) hasOpenLocked(collector string, cmds ...string) bool {
	for _, list := range [][]*entry{d.queues[collector], d.acked[collector]} {
		for _, e := range list {
			for _, c := range cmds {
				if e.c.Command == c {
					return true
				}
			}
		}
	}
	return false
}

func (d *Dispatcher) reconcile(x act) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
	defer cancel()
	c, err := d.Submit(ctx, x.req)
	// Queued now (or failed): the open commands say from here on what is pending.
	d.mu.Lock()
	if d.reconciling[x.req.Collector]--; d.reconciling[x.req.Collector] <= 0 {
		delete(d.reconciling, x.req.Collector)
	}
	d.mu.Unlock()
	if err != nil {
		d.log.Warn("the reconciler could not send a command", "collector", x.req.Collector, "command", x.req.Command, "err", err)
		return
	}
	x.history.At = c.CreatedAt
	x.history.Reason += "; sent " + c.Command + " as " + c.ID
	if err := d.o.Store.AppendStatusChanges(ctx, []fleet.StatusChange{x.history}); err != nil {
		d.log.Warn("writing the reconciler's history row failed", "collector", x.req.Collector, "err", err)
	}
	d.m.reconciled.WithLabelValues(c.Command).Inc()
	d.log.Info("reconciling", "collector", c.Collector, "command", c.Command, "id", c.ID, "reason", x.req.Reason)
}

// publishEffect announces what a confirmed command changed on the agent.
func (d *Dispatcher) publishEffect(h *health.Health, c store.Command) {
	var typ string
	data := map[string]any{"command_id": c.ID, "by": c.Actor.Name, "reason": c.Reason}
	switch c.Command {
	case agentctl.Pause:
		typ = wire.EventStopped
	case agentctl.Resume:
		typ = wire.EventResumed
	case agentctl.Restart:
		typ = wire.EventRestarted
		data["previous_start_time"] = unixTime(d.baseOf(c).StartTime)
		data["start_time"] = unixTime(h.Agent.StartTime)
	default:
		return
	}
	d.publish(events.Event{Type: typ, Collector: c.Collector, Time: c.FinishedAt, Data: data, Org: c.Org, Team: c.Team,
		Status: h.Status, Job: h.Target.Job, Labels: h.Target.Labels})
}

func (d *Dispatcher) baseOf(c store.Command) baseline {
	var b baseline
	_ = json.Unmarshal(c.Baseline, &b)
	return b
}

func unixTime(sec float64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(sec*1e9)).UTC()
}
