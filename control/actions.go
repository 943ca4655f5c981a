package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/jsontext"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/store"
)

// Actions, as the API names them (the routes under /collectors/{id}/ and the
// bulk actions). Each but update-tags and update-group sends a command.
const (
	ActStop              = "stop"
	ActResume            = "resume"
	ActRestart           = "restart"
	ActCollect           = "collect"
	ActBackfill          = "backfill"
	ActTestConnection    = "test-connection"
	ActUpdateConfig      = "update-config"
	ActRotateCredentials = "rotate-credentials"
	ActUpdateTags        = "update-tags"
	ActUpdateGroup       = "update-group"
)

// Actions lists the actions Act takes.
func Actions() []string {
	return []string{ActStop, ActResume, ActRestart, ActCollect, ActBackfill, ActTestConnection, ActUpdateConfig,
		ActRotateCredentials, ActUpdateTags, ActUpdateGroup}
}

var commandOf = map[string]string{
	ActStop: agentctl.Pause, ActResume: agentctl.Resume, ActRestart: agentctl.Restart, ActCollect: agentctl.Collect,
	ActBackfill: agentctl.Backfill, ActTestConnection: agentctl.TestConnection, ActUpdateConfig: agentctl.UpdateConfig,
	ActRotateCredentials: agentctl.RotateCredentials,
}

// InvalidParams is a request whose parameters are wrong; Field names the one.
type InvalidParams struct {
	Field, Msg string
}

func (e *InvalidParams) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func invalid(field, format string, a ...any) error {
	return &InvalidParams{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// ActRequest is one action on one collector.
type ActRequest struct {
	Collector string
	Action    string
	// Params is the action's JSON body; nil is {}.
	Params json.RawMessage
	Actor  store.Actor
	Remote string
	BulkID string
	ID     string // the command id; "" generates one
}

// ActResult is what an action did: a command sent, a desired state changed, or both.
type ActResult struct {
	Command *store.Command
	Desired *store.DesiredState
}

// plan is an action checked and ready to run.
type plan struct {
	command string
	args    json.RawMessage
	reason  string
	params  json.RawMessage // for the audit row
	desired func(*store.DesiredState)
	// serverOnly: only the desired state changes (tags, group).
	serverOnly bool
	// scrapeToken: rotate the registered collector's scrape token too.
	scrapeToken bool
}

const maxReason = 1000

// common are the params every action takes.
type common struct {
	Reason string `json:"reason"`
}

// Check validates an action's params without doing anything: the dry run of a
// bulk operation and the API's 400s use it. kind is the collector's kind ("" if
// unknown).
func Check(action string, params json.RawMessage, kind string) error {
	_, err := makePlan(action, params, kind, time.Now())
	return err
}

// Bounds of a backfill's range, beyond the agent's own (from before to, to not
// in the future): no agent holds data from before 1970, and one request
// recollects at most a year, so that a typo (0001 for 2025) is refused here
// instead of keeping an agent busy for centuries.
var backfillEpoch = time.Unix(0, 0).UTC()

// MaxBackfillSpan is the longest range one backfill covers; split longer ones.
const MaxBackfillSpan = 366 * 24 * time.Hour

// checkBackfillRange refuses a range that starts before the Unix epoch, ends
// after now (plus the clock skew the agent allows), or spans more than
// MaxBackfillSpan.
func checkBackfillRange(from, to, now time.Time) error {
	const layout = time.RFC3339
	switch {
	case from.Before(backfillEpoch):
		return invalid("from", "%s is before 1970-01-01T00:00:00Z, the earliest a backfill may start", from.UTC().Format(layout))
	case to.After(now.Add(agentctl.BackfillMaxFutureSkew)):
		return invalid("to", "%s is in the future (now %s); a backfill covers the past only", to.UTC().Format(layout), now.UTC().Format(layout))
	case to.Sub(from) > MaxBackfillSpan:
		return invalid("to", "%s to %s spans %d days, more than the %d one backfill may cover; split it into several",
			from.UTC().Format(layout), to.UTC().Format(layout), int(to.Sub(from)/(24*time.Hour)), int(MaxBackfillSpan/(24*time.Hour)))
	}
	return nil
}

func makePlan(action string, params json.RawMessage, kind string, now time.Time) (plan, error) {
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	if field, ok := jsontext.Check(params); !ok {
		// Raw values of collector keys go to the agent as they are, and its
		// parser refuses invalid UTF-8 (found by FuzzActionParams); a lone
		// surrogate escape it would decode into U+FFFD.
		return plan{}, invalid(field, "not valid UTF-8, or a lone UTF-16 surrogate escape such as \\ud800")
	}
	p := plan{command: commandOf[action], params: Redact(params)}
	switch action {
	case ActStop:
		var a struct {
			common
			Minutes int `json:"estimated_duration_minutes"`
		}
		if err := strict(params, &a); err != nil {
			return p, err
		}
		if a.Minutes < 0 || a.Minutes > 43200 {
			return p, invalid("estimated_duration_minutes", "must be between 0 and 43200 (30 days)")
		}
		p.reason = a.Reason
		if a.Reason != "" {
			p.args = jsonOf(map[string]string{"reason": a.Reason})
		}
		p.desired = func(d *store.DesiredState) {
			d.Run, d.Reason, d.ResumeExpected = store.DesiredPaused, a.Reason, time.Time{}
			if a.Minutes > 0 {
				d.ResumeExpected = now.Add(time.Duration(a.Minutes) * time.Minute)
			}
		}
	case ActResume:
		var a common
		if err := strict(params, &a); err != nil {
			return p, err
		}
		p.reason = a.Reason
		p.desired = func(d *store.DesiredState) { d.Run, d.Reason, d.ResumeExpected = store.DesiredRunning, "", time.Time{} }
	case ActRestart, ActCollect, ActTestConnection:
		var a common
		if err := strict(params, &a); err != nil {
			return p, err
		}
		p.reason = a.Reason
	case ActRotateCredentials:
		var a struct {
			common
			ScrapeToken bool `json:"scrape_token"`
		}
		if err := strict(params, &a); err != nil {
			return p, err
		}
		p.reason, p.scrapeToken = a.Reason, a.ScrapeToken
	case ActBackfill:
		var a struct {
			common
			From json.RawMessage `json:"from"`
			To   json.RawMessage `json:"to"`
		}
		if err := strict(params, &a); err != nil {
			return p, err
		}
		args := jsonOf(map[string]json.RawMessage{"from": orNull(a.From), "to": orNull(a.To)})
		r, err := agentctl.ParseBackfillArgs(args)
		if err != nil { // the agent's messages start with the field at fault
			msg, field := strings.TrimPrefix(err.Error(), "args: "), "from"
			if strings.HasPrefix(msg, "to") {
				field = "to"
			}
			return p, invalid(field, "%s", strings.TrimPrefix(msg, field+": "))
		}
		if err := checkBackfillRange(r.From, r.To, now); err != nil {
			return p, err
		}
		p.reason, p.args = a.Reason, args
	case ActUpdateConfig:
		return planUpdateConfig(params, kind)
	case ActUpdateTags:
		var a struct {
			common
			Tags []string `json:"tags"`
		}
		if err := strict(params, &a); err != nil {
			return p, err
		}
		tags, err := checkTags(a.Tags)
		if err != nil {
			return p, err
		}
		p.reason, p.serverOnly = a.Reason, true
		p.desired = func(d *store.DesiredState) { d.Tags = tags }
	case ActUpdateGroup:
		var a struct {
			common
			Group *string `json:"group"`
		}
		if err := strict(params, &a); err != nil {
			return p, err
		}
		if a.Group == nil {
			return p, invalid("group", `required ("" clears it)`)
		}
		if err := checkGroup(*a.Group); err != nil {
			return p, err
		}
		p.reason, p.serverOnly = a.Reason, true
		p.desired = func(d *store.DesiredState) { d.Group = *a.Group }
	default:
		return p, invalid("action", "unknown action %q; one of %s", action, strings.Join(Actions(), ", "))
	}
	if len(p.reason) > maxReason {
		return p, invalid("reason", "at most %d characters", maxReason)
	}
	return p, nil
}

func orNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// queryLimitKinds are the collector kinds with a query limit ("limit").
var queryLimitKinds = []string{"postgres", "mysql"}

// planUpdateConfig maps update-config's params to the agent's update_config:
// collection_interval → interval, query_limit → limit (postgres) or
// digest_limit (mysql); tags and group stay
// with the server; any other key goes to the agent, which checks it.
func planUpdateConfig(params json.RawMessage, kind string) (plan, error) {
	p := plan{command: agentctl.UpdateConfig, params: Redact(params)}
	var keys map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(params))
	if err := dec.Decode(&keys); err != nil {
		return p, invalid("", "the body must be a JSON object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return p, invalid("", "the body must be one JSON object")
	}
	agent := map[string]json.RawMessage{}
	var (
		tags    []string
		group   *string
		setTags bool
		err     error
	)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v := keys[k]
		switch k {
		case "reason":
			if err := json.Unmarshal(v, &p.reason); err != nil {
				return p, invalid("reason", "must be a string")
			}
		case "tags":
			var t []string
			if err := json.Unmarshal(v, &t); err != nil {
				return p, invalid("tags", "must be a list of strings")
			}
			if tags, err = checkTags(t); err != nil {
				return p, err
			}
			setTags = true
		case "group":
			var g string
			if err := json.Unmarshal(v, &g); err != nil {
				return p, invalid("group", "must be a string")
			}
			if err := checkGroup(g); err != nil {
				return p, err
			}
			group = &g
		case "collection_interval", "interval":
			var s string
			if json.Unmarshal(v, &s) != nil {
				return p, invalid(k, `must be a duration string such as "30s"`)
			}
			d, err := time.ParseDuration(s)
			if err != nil || d < time.Second || d > 24*time.Hour {
				return p, invalid(k, "%q: want a duration from 1s to 24h, such as \"30s\"", s)
			}
			agent["interval"] = jsonOf(s)
		case "query_limit":
			var n int
			if json.Unmarshal(v, &n) != nil || n < 1 || n > 10000 {
				return p, invalid("query_limit", "must be an integer from 1 to 10000")
			}
			if kind != "" && !slices.Contains(queryLimitKinds, kind) {
				return p, invalid("query_limit", "applies to postgres and mysql collectors; this one is %s", kind)
			}
			// The collectors name it for what they limit.
			if kind == "mysql" {
				agent["digest_limit"] = jsonOf(n)
			} else {
				agent["limit"] = jsonOf(n)
			}
		default:
			if !configKey.MatchString(k) {
				return p, invalid(k, "not a config key (want lower_snake_case)")
			}
			agent[k] = v
		}
	}
	if len(agent) == 0 && !setTags && group == nil {
		return p, invalid("", "nothing to change: give collection_interval, query_limit, tags, group or a collector config key")
	}
	if len(p.reason) > maxReason {
		return p, invalid("reason", "at most %d characters", maxReason)
	}
	p.serverOnly = len(agent) == 0
	if !p.serverOnly {
		p.args = jsonOf(agent)
	}
	p.desired = func(d *store.DesiredState) {
		if setTags {
			d.Tags = tags
		}
		if group != nil {
			d.Group = *group
		}
		// The agent's keys become desired once a scrape confirms the agent
		// applied them (Dispatcher.Observe), not before.
	}
	return p, nil
}

var configKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/=-]{0,63}$`)

func checkTags(tags []string) ([]string, error) {
	if len(tags) > 50 {
		return nil, invalid("tags", "at most 50 tags")
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !tagRE.MatchString(t) {
			return nil, invalid("tags", "%q: a tag is 1 to 64 of A-Z a-z 0-9 . _ : / = - (starting with a letter or digit)", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

func checkGroup(g string) error {
	if g != "" && !tagRE.MatchString(g) {
		return invalid("group", "%q: a group is 1 to 64 of A-Z a-z 0-9 . _ : / = - (starting with a letter or digit)", g)
	}
	return nil
}

// strict decodes one JSON object into v; unknown fields are errors naming the field.
func strict(params json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return invalid(strings.Trim(f, `"`), "unknown field")
		}
		return invalid("", "the body must be a JSON object of the action's parameters: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("", "the body must be one JSON object")
	}
	return nil
}

func jsonOf(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Act checks and carries out an action on one collector. The caller checked
// that the actor may act on it.
func (d *Dispatcher) Act(ctx context.Context, r ActRequest) (ActResult, error) {
	h, ok := d.o.Fleet.Get(r.Collector)
	if !ok {
		return ActResult{}, fmt.Errorf("%s: %w", r.Collector, ErrNotScraped)
	}
	p, err := makePlan(r.Action, r.Params, h.Agent.Kind, time.Now())
	if err != nil {
		return ActResult{}, err
	}
	if p.serverOnly {
		org, team := tenantOf(&h)
		now := time.Now()
		audit := store.AuditEntry{At: now, FinishedAt: now, Actor: r.Actor, Remote: r.Remote, Action: r.Action, Collector: r.Collector,
			Org: org, Team: team, Reason: p.reason, Params: p.params, Result: store.ResultOK, BulkID: r.BulkID}
		des, err := d.SetDesired(ctx, r.Collector, r.Actor, audit, p.desired)
		if err != nil {
			return ActResult{}, err
		}
		return ActResult{Desired: &des}, nil
	}
	if p.scrapeToken {
		if d.o.Tokens == nil || h.Target == nil || h.Target.Provider != "registry" {
			return ActResult{}, invalid("scrape_token", "only collectors registered through the API have a corral scrape token")
		}
		sha, err := d.o.Tokens.NextToken(ctx, r.Collector)
		if err != nil {
			return ActResult{}, err
		}
		p.args = jsonOf(map[string]string{"metrics_token_sha256": sha})
	}
	c, err := d.Submit(ctx, Request{ID: r.ID, Collector: r.Collector, Command: p.command, Args: p.args, Reason: p.reason,
		Actor: r.Actor, Remote: r.Remote, Action: r.Action, Params: p.params, BulkID: r.BulkID, Desired: p.desired})
	if err != nil {
		if p.scrapeToken {
			if sha := tokenOf(store.Command{Command: p.command, Args: p.args}); sha != "" {
				_ = d.o.Tokens.TokenAbandoned(context.WithoutCancel(ctx), r.Collector, sha)
			}
		}
		return ActResult{}, err
	}
	res := ActResult{Command: &c}
	if p.desired != nil {
		if des, ok := d.Desired(r.Collector); ok {
			res.Desired = &des
		}
	}
	return res, nil
}
