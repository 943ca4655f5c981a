// Package alerting is corral's built-in alerter. Every evaluation interval
// it reads the fleet's health (status, freshness, completeness), the failed
// and expired commands and the file_sd files with errors, turns what is
// wrong into alerts with a for: duration each, as Prometheus's alerting
// rules do (pending, then firing, then resolved), and hands the firing and
// resolved ones to the Notifier, which posts them to Alertmanager's v2 API.
// Paused and waiting collectors never alert.
//
// Alert state lives in memory: after a restart the alerts are worked out
// again from the restored health, and a firing alert fires again once its
// for: has passed (Alertmanager deduplicates it with the one it holds until
// that one's endsAt).
package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets/filesd"
)

// ResolvedRetention is how long a resolved alert is kept and sent again, as
// Prometheus keeps them.
const ResolvedRetention = 15 * time.Minute

// Fleet reads the collectors' health; *health.Evaluator is one.
type Fleet interface {
	Each(fn func(health.Health) bool)
}

// Publisher takes the alerter's real-time events; *events.Hub is one.
type Publisher interface {
	Publish(e events.Event)
}

// Tee is a Publisher that hands the command:updated events it forwards to
// the alerter as well: the control plane publishes every change of a
// command there.
type Tee struct {
	Publisher
	Alerter *Alerter
}

// Publish implements Publisher.
func (t Tee) Publish(e events.Event) {
	if c, ok := e.Data.(wire.Command); ok && e.Type == wire.EventCommandUpdate && t.Alerter != nil {
		t.Alerter.CommandUpdated(c)
	}
	t.Publisher.Publish(e)
}

// Options of an Alerter. Fleet is required.
type Options struct {
	Fleet Fleet
	// SDFiles lists the file_sd files (nil: no SDFileError).
	SDFiles func() []filesd.FileStatus
	// Desired is a collector's desired state: one meant to be paused never
	// alerts, and its group is the group label (nil: none).
	Desired func(id string) (store.DesiredState, bool)
	// Events gets alert:firing and alert:resolved (nil: none).
	Events   Publisher
	Notifier *Notifier // nil: alerts are only kept
	Logger   *slog.Logger
	Now      func() time.Time
}

// Settings are what the alerter evaluates with; Apply swaps them.
type Settings struct {
	Config         *configs.AlertingConfig // nil or inactive: nothing is evaluated
	ExternalLabels map[string]string       // added to every alert that lacks them
}

// Alert is one alert the alerter holds.
type Alert struct {
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	State       string // wire.AlertPending, wire.AlertFiring, wire.AlertResolved
	ActiveAt    time.Time
	FiredAt     time.Time
	ResolvedAt  time.Time
	LastSentAt  time.Time
	ValidUntil  time.Time
	// Collector, Org and Team scope the alert; an SDFileError has none
	// (super admins only).
	Collector, Org, Team string
	GeneratorURL         string

	key     string
	holdFor time.Duration
	scope   events.Event // the fields events are scoped and filtered by
}

// Wire is the alert as the API shows it.
func (a *Alert) Wire() wire.Alert {
	w := wire.Alert{Name: a.Name, State: a.State, Severity: a.Labels["severity"], Collector: a.Collector,
		Labels: maps.Clone(a.Labels), Annotations: maps.Clone(a.Annotations), ActiveAt: a.ActiveAt.UTC()}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	w.FiredAt, w.ResolvedAt, w.LastSentAt = opt(a.FiredAt), opt(a.ResolvedAt), opt(a.LastSentAt)
	return w
}

// Alerter evaluates the rules and holds the alerts.
type Alerter struct {
	o Options

	mu       sync.Mutex
	settings Settings
	alerts   map[string]*Alert
	failed   map[string]wire.Command // the latest failed or expired command, by collector and command
}

// New returns an alerter; Apply gives it its settings and Run evaluates.
func New(o Options) *Alerter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Alerter{o: o, alerts: map[string]*Alert{}, failed: map[string]wire.Command{}}
}

// Apply sets the rules and the Alertmanagers. Alerts of rules that are gone
// or off resolve at the next evaluation.
func (a *Alerter) Apply(s Settings) error {
	if a.o.Notifier != nil {
		if err := a.o.Notifier.Apply(s.Config); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.settings = s
	a.mu.Unlock()
	return nil
}

// Run evaluates every evaluation interval until ctx ends.
func (a *Alerter) Run(ctx context.Context) {
	for {
		a.mu.Lock()
		every := configs.DefaultAlertingConfig.EvaluationInterval
		if c := a.settings.Config; c != nil {
			every = c.EvaluationInterval
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(every)):
		}
		a.Eval()
	}
}

// CommandUpdated accounts a command's change of state (the command:updated
// event's data): a failed or expired one is a CommandFailed alert; a later
// confirmed one of the same command to the same collector ends it.
func (a *Alerter) CommandUpdated(c wire.Command) {
	k := c.Collector + "\x00" + c.Command
	a.mu.Lock()
	defer a.mu.Unlock()
	switch c.State {
	case wire.CommandFailed, wire.CommandExpired:
		a.failed[k] = c
	case wire.CommandConfirmed:
		if f, ok := a.failed[k]; ok && !f.CreatedAt.After(c.CreatedAt) {
			delete(a.failed, k)
		}
	}
}

// Alerts are the pending, firing and recently resolved alerts, by name then
// labels.
func (a *Alerter) Alerts() []Alert {
	a.mu.Lock()
	out := make([]Alert, 0, len(a.alerts))
	for _, al := range a.alerts {
		c := *al
		c.Labels, c.Annotations = maps.Clone(al.Labels), maps.Clone(al.Annotations)
		out = append(out, c)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// candidate is an alert whose condition holds at this evaluation.
type candidate struct {
	name, collector, org, team string
	labels, annotations        map[string]string
	activeAt                   time.Time // zero: now
	holdFor                    time.Duration
	generatorURL               string
	scope                      events.Event
}

// Eval evaluates once: what holds now, pending and firing alerts moved on,
// and the notifications due handed to the notifier. It returns those.
func (a *Alerter) Eval() []Posted {
	now := a.o.Now()
	a.mu.Lock()
	s := a.settings
	failed := make([]wire.Command, 0, len(a.failed))
	for k, c := range a.failed {
		rule := s.Config.RuleFor(configs.AlertCommandFailed, "", nil)
		if keep := time.Duration(*rule.KeepFiringFor); keep > 0 && now.Sub(finished(c)) > keep+time.Duration(*rule.For) {
			delete(a.failed, k)
			continue
		}
		failed = append(failed, c)
	}
	a.mu.Unlock()

	var cands []candidate
	if s.Config.Active() {
		cands = a.candidates(now, s, failed)
	}

	a.mu.Lock()
	var changed []Alert
	seen := make(map[string]bool, len(cands))
	for i := range cands {
		c := &cands[i]
		lbl := c.labels
		for k, v := range s.ExternalLabels {
			if _, ok := lbl[k]; !ok {
				lbl[k] = v
			}
		}
		key := c.name + "\x00" + (&Posted{Labels: lbl}).key()
		seen[key] = true
		al, ok := a.alerts[key]
		if !ok || al.State == wire.AlertResolved {
			at := c.activeAt
			if at.IsZero() || at.After(now) {
				at = now
			}
			al = &Alert{Name: c.name, key: key, State: wire.AlertPending, ActiveAt: at}
			a.alerts[key] = al
		}
		al.Labels, al.Annotations, al.holdFor = lbl, c.annotations, c.holdFor
		al.Collector, al.Org, al.Team, al.GeneratorURL, al.scope = c.collector, c.org, c.team, c.generatorURL, c.scope
		if al.State == wire.AlertPending && now.Sub(al.ActiveAt) >= c.holdFor {
			al.State, al.FiredAt = wire.AlertFiring, now
			changed = append(changed, *al)
		}
	}
	for key, al := range a.alerts {
		if seen[key] {
			continue
		}
		switch al.State {
		case wire.AlertPending:
			delete(a.alerts, key)
		case wire.AlertFiring:
			al.State, al.ResolvedAt = wire.AlertResolved, now
			changed = append(changed, *al)
		case wire.AlertResolved:
			if now.Sub(al.ResolvedAt) > ResolvedRetention {
				delete(a.alerts, key)
			}
		}
	}
	var out []Posted
	if s.Config != nil {
		resend := time.Duration(s.Config.ResendDelay)
		valid := 4 * max(resend, time.Duration(s.Config.EvaluationInterval))
		for _, al := range a.alerts {
			if !needsSending(al, now, resend) {
				continue
			}
			al.LastSentAt, al.ValidUntil = now, now.Add(valid)
			p := Posted{Labels: al.Labels, Annotations: al.Annotations, StartsAt: al.ActiveAt, EndsAt: al.ValidUntil, GeneratorURL: al.GeneratorURL}
			if al.State == wire.AlertResolved {
				p.EndsAt = al.ResolvedAt
			}
			out = append(out, p)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	}
	a.mu.Unlock()

	if a.o.Notifier != nil {
		a.o.Notifier.Send(out...)
	}
	if a.o.Events != nil {
		for i := range changed {
			al := &changed[i]
			e := al.scope
			e.Type, e.Collector, e.Org, e.Team, e.Time, e.Data = wire.EventAlertFiring, al.Collector, al.Org, al.Team, now, al.Wire()
			if al.State == wire.AlertResolved {
				e.Type = wire.EventAlertResolved
			}
			a.o.Events.Publish(e)
		}
	}
	return out
}

// needsSending is Prometheus's rule: firing alerts every resend delay, a
// resolution at once.
func needsSending(al *Alert, now time.Time, resend time.Duration) bool {
	if al.State == wire.AlertPending {
		return false
	}
	if al.ResolvedAt.After(al.LastSentAt) {
		return true
	}
	return !al.LastSentAt.Add(resend).After(now)
}

func finished(c wire.Command) time.Time {
	if c.FinishedAt != nil {
		return *c.FinishedAt
	}
	return c.CreatedAt
}

// candidates are the alerts whose condition holds now.
func (a *Alerter) candidates(now time.Time, s Settings, failed []wire.Command) []candidate {
	cfg := s.Config
	var out []candidate
	type known struct {
		h     health.Health
		group string
	}
	byID := map[string]known{}
	a.o.Fleet.Each(func(h health.Health) bool {
		if h.Target == nil {
			return true
		}
		var group string
		if a.o.Desired != nil {
			if d, ok := a.o.Desired(h.Collector); ok {
				if d.Run == store.DesiredPaused {
					return true // meant to be paused: never alerts
				}
				group = d.Group
			}
		}
		if group == "" {
			group = h.Target.Labels["group"]
		}
		if quiet(h.Status) {
			return true
		}
		byID[h.Collector] = known{h, group}
		for _, name := range []string{configs.AlertCollectorDown, configs.AlertCollectorError, configs.AlertCollectorStale,
			configs.AlertCollectorIncomplete, configs.AlertCollectorSlow} {
			rule := cfg.RuleFor(name, h.Target.Job, h.Target.Labels)
			if !rule.On() {
				continue
			}
			summary, why, ok := check(name, &h, rule)
			if !ok {
				continue
			}
			out = append(out, a.collectorAlert(cfg, name, rule, &h, group, summary, why, time.Time{}))
		}
		return true
	})
	for _, c := range failed {
		k, ok := byID[c.Collector]
		if !ok {
			continue // gone, paused, waiting or never scraped: no page for it
		}
		rule := cfg.RuleFor(configs.AlertCommandFailed, k.h.Target.Job, k.h.Target.Labels)
		if !rule.On() {
			continue
		}
		why := c.Error
		if why == "" {
			why = "no reason given"
		}
		summary := fmt.Sprintf("Command %s to collector %s %s", c.Command, c.Collector, c.State)
		desc := fmt.Sprintf("The %s command %s to %s %s at %s: %s", c.Command, c.ID, c.Collector, c.State,
			finished(c).UTC().Format(time.RFC3339), why)
		cand := a.collectorAlert(cfg, configs.AlertCommandFailed, rule, &k.h, k.group, summary, desc, finished(c))
		cand.labels["command"] = c.Command
		cand.annotations["command_id"] = c.ID
		out = append(out, cand)
	}
	if a.o.SDFiles != nil {
		rule := cfg.RuleFor(configs.AlertSDFileError, "", nil)
		if rule.On() {
			for _, f := range a.o.SDFiles() {
				if f.Error == "" {
					continue
				}
				labels := map[string]string{"alertname": configs.AlertSDFileError, "severity": rule.Severity, "file": f.Path}
				maps.Copy(labels, rule.Labels)
				kept := "it was never read without error: it gives no targets"
				if !f.LastGoodRead.IsZero() {
					kept = fmt.Sprintf("its last good read (%s, %d targets) stays in use", f.LastGoodRead.UTC().Format(time.RFC3339), f.Targets)
				}
				out = append(out, candidate{name: configs.AlertSDFileError, labels: labels, activeAt: f.ErrorAt,
					holdFor: time.Duration(*rule.For),
					annotations: map[string]string{
						"summary":     "file_sd file " + f.Path + " cannot be read",
						"description": fmt.Sprintf("%s: %s; %s.", f.Path, f.Error, kept),
						"runbook_url": runbook(cfg, configs.AlertSDFileError),
					},
					generatorURL: strings.TrimRight(cfg.ExternalURL, "/") + "/sd-files",
				})
			}
		}
	}
	return out
}

// quiet are the statuses that never alert: intended (paused, waiting), not
// known yet, or gone.
func quiet(s fleet.Status) bool {
	switch s {
	case fleet.StatusPaused, fleet.StatusWaiting, fleet.StatusUnknown, fleet.StatusArchived:
		return true
	}
	return false
}

// check says whether the condition of a collector alert holds, with the
// summary and why.
func check(name string, h *health.Health, rule configs.AlertRule) (summary, why string, ok bool) {
	id := h.Collector
	reachable := h.Status != fleet.StatusOffline && h.Status != fleet.StatusError
	switch name {
	case configs.AlertCollectorDown:
		return "Collector " + id + " is down", h.Reason, h.Status == fleet.StatusOffline
	case configs.AlertCollectorError:
		return "Collector " + id + " reports an error", h.Reason, h.Status == fleet.StatusError
	case configs.AlertCollectorStale:
		if rule.After != nil {
			after := time.Duration(*rule.After)
			if reachable && h.HasFreshness && h.Freshness > after {
				return "Collector " + id + " is stale", fmt.Sprintf("newest item is %s old (alert after %s)", h.Freshness.Round(time.Second), after), true
			}
			return "", "", false
		}
		return "Collector " + id + " is stale", h.Reason, h.Status == fleet.StatusStale
	case configs.AlertCollectorIncomplete:
		c, window := h.Completeness1h, "hour"
		if rule.Window == "24h" {
			c, window = h.Completeness24h, "day"
		}
		below := h.Thresholds.IncompleteBelow
		if rule.Below != nil {
			below = *rule.Below
		}
		if below == 0 {
			below = health.DefaultIncompleteBelow
		}
		if reachable && !math.IsNaN(c) && c < below {
			return "Collector " + id + " is incomplete", fmt.Sprintf("%.1f%% of the expected items in the last %s (alert below %.0f%%)", c*100, window, below*100), true
		}
	case configs.AlertCollectorSlow:
		return "Collector " + id + " is slow", h.Reason, h.Status == fleet.StatusSlow
	}
	return "", "", false
}

// collectorAlert is the candidate of a collector alert, with its labels and
// annotations.
func (a *Alerter) collectorAlert(cfg *configs.AlertingConfig, name string, rule configs.AlertRule, h *health.Health, group, summary, why string, at time.Time) candidate {
	t := h.Target
	labels := map[string]string{"alertname": name, "severity": rule.Severity, "collector": h.Collector,
		"job": t.Job, "instance": t.Instance, "org": t.Org, "team": t.Team, "group": group}
	for k, v := range labels {
		if v == "" {
			delete(labels, k) // Alertmanager has no empty labels; absent is the same
		}
	}
	maps.Copy(labels, rule.Labels)
	page := strings.TrimRight(cfg.ExternalURL, "/") + "/collectors/" + url.PathEscape(h.Collector)
	desc := fmt.Sprintf("%s (job %s, instance %s) is %s: %s", h.Collector, t.Job, t.Instance, h.Status, why)
	if name == configs.AlertCommandFailed {
		desc = why
	}
	return candidate{name: name, collector: h.Collector, org: t.Org, team: t.Team, labels: labels, activeAt: at,
		holdFor: time.Duration(*rule.For), generatorURL: page,
		annotations: map[string]string{"summary": summary, "description": desc,
			"runbook_url": runbook(cfg, name), "collector_url": page},
		scope: events.Event{Status: h.Status, Job: t.Job, Labels: t.Labels},
	}
}

func runbook(cfg *configs.AlertingConfig, name string) string {
	base := cfg.RunbookURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + name + ".md"
}
