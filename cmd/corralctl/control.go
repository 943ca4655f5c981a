package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/corral-dev/corral/api/wire"
)

// actionFlags are what every action on one collector takes. The server signs
// the command, delivers it to the agent (retrying with backoff while the agent
// is unreachable, until it expires after 5 minutes), confirms it from the next
// scrapes and writes an audit row.
type actionFlags struct {
	ID      string        `arg:"" help:"Collector id."`
	Reason  string        `help:"Why, for the audit trail and the command (at most 1000 characters)."`
	Wait    string        `default:"ack" enum:"none,ack,confirmed" help:"How long the server waits before it answers: none (queued), ack (the agent acknowledged it; the default) or confirmed (a scrape shows the effect)."`
	Timeout time.Duration `help:"The longest the server waits for --wait, up to 2m (default 10s, 30s with --wait confirmed). The command goes on after it; corralctl command follows it."`
	Output  string        `short:"o" default:"text" enum:"text,json" help:"Output: ${enum} (json: the server's answer)."`
}

// The action commands; each is POST /api/v1/collectors/{id}/{action}.
type (
	stopCmd struct {
		actionFlags `embed:""`
		Duration    time.Duration `help:"How long the pause is expected to last, e.g. 30m (rounded up to minutes, at most 720h): recorded as the expected resume time; it does not resume by itself."`
	}
	backfillCmd struct {
		actionFlags `embed:""`
		From        string `required:"" placeholder:"TIME" help:"Start of the range to collect again: ${time_help}."`
		To          string `required:"" placeholder:"TIME" help:"End of the range, not in the future: ${time_help}."`
	}
	rotateCredentialsCmd struct {
		actionFlags `embed:""`
		ScrapeToken bool `name:"scrape-token" help:"Also roll out a new scrape token (registered collectors): the agent gets its hash and keeps accepting the old token for 10 minutes; the server switches once the agent acknowledged it. The token itself never leaves the server."`
	}
	updateConfigCmd struct {
		actionFlags `embed:""`
		Interval    time.Duration `help:"Collection interval, 1s to 24h (collection_interval)."`
		QueryLimit  int           `name:"query-limit" help:"Most queries per collection, 1 to 10000 (postgres and mysql collectors)."`
		Tag         []string      `help:"Tags, kept by the server (repeatable; replaces the collector's tags)."`
		Group       *string       `help:"Group, kept by the server (--group= clears it)."`
		Set         []string      `sep:"none" placeholder:"KEY=JSON" help:"Another key of the collector's config, its value as JSON: --set statement_timeout='\"5s\"' (repeatable)."`
	}
)

// Run carries out the action the command is named after, for the commands
// without flags of their own: resume, restart, collect and test-connection.
func (o actionFlags) Run(ctx context.Context, k *kong.Context, g *globals) error {
	return act(ctx, k.Selected().Name, o, nil, g.config, g.stdout)
}

func (o stopCmd) Run(ctx context.Context, g *globals) error {
	return act(ctx, "stop", o.actionFlags, o.params, g.config, g.stdout)
}

func (o backfillCmd) Run(ctx context.Context, g *globals) error {
	return act(ctx, "backfill", o.actionFlags, o.params, g.config, g.stdout)
}

func (o updateConfigCmd) Run(ctx context.Context, g *globals) error {
	return act(ctx, "update-config", o.actionFlags, o.params, g.config, g.stdout)
}

func (o rotateCredentialsCmd) Run(ctx context.Context, g *globals) error {
	return act(ctx, "rotate-credentials", o.actionFlags, o.params, g.config, g.stdout)
}

// actionParams are the action's JSON body, beyond the reason.
type actionParams map[string]any

func (o rotateCredentialsCmd) params(time.Time) (actionParams, error) {
	if !o.ScrapeToken {
		return nil, nil
	}
	return actionParams{"scrape_token": true}, nil
}

func (o stopCmd) params(time.Time) (actionParams, error) {
	p := actionParams{}
	if o.Duration != 0 {
		if o.Duration < 0 || o.Duration > 720*time.Hour {
			return nil, badFlag("duration", "%s: want a duration from 1m to 720h (30 days)", o.Duration)
		}
		p["estimated_duration_minutes"] = int(math.Ceil(o.Duration.Minutes()))
	}
	return p, nil
}

func (o backfillCmd) params(now time.Time) (actionParams, error) {
	from, err := parseWhen("from", o.From, now)
	if err != nil {
		return nil, err
	}
	to, err := parseWhen("to", o.To, now)
	if err != nil {
		return nil, err
	}
	switch {
	case !from.Before(to):
		return nil, badFlag("from", "%s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.After(now.Add(time.Minute)):
		return nil, badFlag("to", "%s is in the future; a backfill covers the past only", to.Format(time.RFC3339))
	}
	return actionParams{"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339)}, nil
}

func (o updateConfigCmd) params(time.Time) (actionParams, error) {
	p := actionParams{}
	set, err := parseJSONPairs("set", o.Set)
	if err != nil {
		return nil, err
	}
	for k, v := range set {
		switch k {
		case "reason", "tags", "group", "collection_interval", "interval", "query_limit":
			return nil, badFlag("set", "%s has a flag of its own", k)
		}
		p[k] = v
	}
	if o.Interval != 0 {
		if o.Interval < time.Second || o.Interval > 24*time.Hour {
			return nil, badFlag("interval", "%s: want 1s to 24h", o.Interval)
		}
		p["collection_interval"] = o.Interval.String()
	}
	if o.QueryLimit != 0 {
		if o.QueryLimit < 1 || o.QueryLimit > 10000 {
			return nil, badFlag("query-limit", "%d: want 1 to 10000", o.QueryLimit)
		}
		p["query_limit"] = o.QueryLimit
	}
	if len(o.Tag) > 0 {
		p["tags"] = o.Tag
	}
	if o.Group != nil {
		p["group"] = *o.Group
	}
	if len(p) == 0 {
		return nil, &badInput{msg: "nothing to change: give --interval, --query-limit, --tag, --group or --set"}
	}
	return p, nil
}

// act carries out action on one collector and prints one line saying what
// happened. params (nil: none) checks the action's own flags first. A command
// that failed or expired is exit 1; one still on its way when the server
// stopped waiting (HTTP 202) is exit 0, and the line says so.
func act(ctx context.Context, action string, o actionFlags, params func(now time.Time) (actionParams, error), cfgFlag string, out io.Writer) error {
	p := actionParams{}
	if params != nil {
		var err error
		if p, err = params(time.Now()); err != nil {
			return err
		}
	}
	if o.Timeout < 0 || o.Timeout > 2*time.Minute {
		return badFlag("timeout", "%s: want up to 2m", o.Timeout)
	}
	if len(o.Reason) > 1000 {
		return badFlag("reason", "at most 1000 characters")
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	if o.Reason != "" {
		p["reason"] = o.Reason
	}
	q := url.Values{"wait": {o.Wait}}
	wait := 10 * time.Second
	if o.Wait == "confirmed" {
		wait = 30 * time.Second
	}
	if o.Timeout > 0 {
		q.Set("timeout", o.Timeout.String())
		wait = o.Timeout
	}
	c.http.Timeout = wait + 30*time.Second // the server answers when its wait is up
	var res wire.CommandResponse
	printed, err := c.fetch(ctx, http.MethodPost, "/api/v1/collectors/"+url.PathEscape(o.ID)+"/"+action, q, p, &res, o.Output == "json", out)
	var ae *apiError
	if errors.As(err, &ae) && (ae.Code == wire.CodeCommandFailed || ae.Code == wire.CodeCommandExpired) {
		// HTTP 409 or 504: the command ended badly; the agent's reason is in it.
		var cmd wire.Command
		if b, jerr := json.Marshal(ae.Details["command"]); jerr == nil && json.Unmarshal(b, &cmd) == nil && cmd.ID != "" {
			if o.Output == "json" {
				_ = printRaw(out, b)
			} else {
				fmt.Fprintln(out, commandLine(cmd))
			}
			return errNotOK
		}
	}
	if err != nil || printed {
		return err
	}
	if res.Command == nil {
		line := fmt.Sprintf("%s: %s applied by the server", o.ID, action)
		if d := res.Desired; d != nil {
			line += fmt.Sprintf(" (tags %s, group %s)", orDash(strings.Join(d.Tags, ",")), orDash(d.Group))
		}
		fmt.Fprintln(out, line)
		return nil
	}
	fmt.Fprintln(out, commandLine(*res.Command))
	return nil
}

// commandLine says in one line where a command is.
func commandLine(c wire.Command) string {
	head := fmt.Sprintf("%s: %s", c.Collector, c.Command)
	follow := "; follow with corralctl command " + c.ID
	if c.Command == "backfill" {
		follow += " --watch"
	}
	switch c.State {
	case wire.CommandConfirmed:
		line := fmt.Sprintf("%s confirmed (%s, %s)", head, c.ID, plural(c.Attempts, "attempt"))
		if c.Command == "test_connection" && len(c.Result) > 0 {
			line += ": " + string(c.Result) // what the agent found
		}
		return line
	case wire.CommandAcknowledged:
		return fmt.Sprintf("%s acknowledged (%s, %s); the next scrapes confirm it%s", head, c.ID, plural(c.Attempts, "attempt"), follow)
	case wire.CommandFailed, wire.CommandExpired:
		return fmt.Sprintf("%s %s (%s, %s): %s", head, c.State, c.ID, plural(c.Attempts, "attempt"), orDash(c.Error))
	}
	line := head + " queued, not acknowledged yet"
	if c.Error != "" {
		line += " (retrying: " + c.Error + ")"
	}
	return line + follow
}

type commandCmd struct {
	ID     string `arg:"" help:"Command id (cmd-…), as an action printed it."`
	Watch  bool   `short:"w" help:"Poll until the command is final (confirmed, failed or expired), printing each change, e.g. a backfill's progress; exit 1 if it failed or expired."`
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum} (with --watch, json prints one object per change)."`
}

func (o commandCmd) Run(ctx context.Context, g *globals) error {
	return command(ctx, o, g.config, g.stdout, time.Second)
}

// command shows one command, and with --watch follows it to its end.
func command(ctx context.Context, o commandCmd, cfgFlag string, out io.Writer, every time.Duration) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var raw []byte
	get := func() (wire.Command, error) {
		var cmd wire.Command
		var err error
		raw, err = c.call(ctx, http.MethodGet, "/api/v1/commands/"+url.PathEscape(o.ID), nil, nil, &cmd)
		return cmd, err
	}
	cmd, err := get()
	if err != nil {
		return err
	}
	if err := render(out, o.Output == "json", raw, func() error { return printCommand(out, cmd) }); err != nil {
		return err
	}
	if !o.Watch {
		return nil
	}
	last := changeLine(cmd)
	t := time.NewTicker(every)
	defer t.Stop()
	for !final(cmd) {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C
		case <-t.C:
		}
		if cmd, err = get(); err != nil {
			return err
		}
		if l := changeLine(cmd); l != last {
			last = l
			if o.Output == "json" {
				var line bytes.Buffer
				_ = json.Compact(&line, raw)
				fmt.Fprintln(out, line.String())
			} else {
				fmt.Fprintf(out, "%s %s\n", time.Now().Format(time.TimeOnly), l)
			}
		}
	}
	if cmd.State != wire.CommandConfirmed {
		return errNotOK
	}
	return nil
}

// final reports whether the command has ended.
func final(c wire.Command) bool {
	return c.State == wire.CommandConfirmed || c.State == wire.CommandFailed || c.State == wire.CommandExpired
}

// changeLine is what --watch prints when it changes.
func changeLine(c wire.Command) string {
	l := fmt.Sprintf("%s, %s", c.State, plural(c.Attempts, "attempt"))
	if c.Progress != nil {
		l += fmt.Sprintf(", %.0f%% done", *c.Progress*100)
	}
	if c.Error != "" {
		l += ": " + c.Error
	}
	return l
}

func printCommand(out io.Writer, c wire.Command) error {
	tw := newTable(out)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("command", c.ID)
	row("collector", c.Collector)
	row("action", c.Command)
	if len(c.Args) > 0 {
		row("args", string(c.Args))
	}
	row("state", c.State)
	row("attempts", fmt.Sprint(c.Attempts))
	row("error", c.Error)
	if c.Progress != nil {
		row("progress", fmt.Sprintf("%.0f%%", *c.Progress*100))
	}
	if len(c.Result) > 0 {
		row("result", string(c.Result))
	}
	row("reason", c.Reason)
	row("by", c.Actor.Name+" ("+c.Actor.Kind+")")
	row("bulk", c.BulkID)
	row("created", localTime(&c.CreatedAt))
	if c.SentAt != nil {
		row("sent", localTime(c.SentAt))
	}
	if c.AcknowledgeAt != nil {
		row("acknowledged", localTime(c.AcknowledgeAt))
	}
	if c.NextAttemptAt != nil {
		row("next attempt", localTime(c.NextAttemptAt))
	}
	if c.FinishedAt != nil {
		row("finished", localTime(c.FinishedAt))
	} else {
		row("expires", localTime(&c.ExpiresAt))
	}
	return tw.Flush()
}

type commandsCmd struct {
	Collector string `help:"Only this collector's commands."`
	State     string `enum:",pending,sent,acknowledged,confirmed,failed,expired" default:"" help:"Only commands in this state: pending, sent, acknowledged, confirmed, failed or expired."`
	Bulk      string `placeholder:"BULK-ID" help:"Only the commands of this bulk operation."`
	Limit     int    `default:"50" help:"Rows, newest first (at most 1000)."`
	Output    string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

func (o commandsCmd) Run(ctx context.Context, g *globals) error {
	return commands(ctx, o, g.config, g.stdout)
}

// commands lists commands, newest first.
func commands(ctx context.Context, o commandsCmd, cfgFlag string, out io.Writer) error {
	q, err := pageQuery(o.Limit, map[string]string{"collector": o.Collector, "state": o.State, "bulk_id": o.Bulk})
	if err != nil {
		return err
	}
	cmds, printed, err := list[wire.Command](ctx, cfgFlag, "/api/v1/commands", q, o.Output == "json", out)
	if err != nil || printed {
		return err
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "COMMAND\tCOLLECTOR\tACTION\tSTATE\tATTEMPTS\tCREATED\tBY\tERROR")
	for _, cmd := range cmds.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", cmd.ID, cmd.Collector, cmd.Command, cmd.State, cmd.Attempts,
			localTime(&cmd.CreatedAt), cmd.Actor.Name, cmd.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cmds.Total > len(cmds.Data) {
		fmt.Fprintf(out, "(%d of %d; --limit for more)\n", len(cmds.Data), cmds.Total)
	}
	return nil
}

type scrapeCmd struct {
	ID     string `arg:"" help:"Collector id."`
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

func (o scrapeCmd) Run(ctx context.Context, g *globals) error {
	return scrapeNow(ctx, o, g.config, g.stdout)
}

// scrapeNow has the server scrape a collector at once and prints the result;
// a failed scrape is exit 1.
func scrapeNow(ctx context.Context, o scrapeCmd, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var res wire.ScrapeResult
	b, err := c.call(ctx, http.MethodPost, "/api/v1/collectors/"+url.PathEscape(o.ID)+"/scrape", nil, nil, &res)
	if err != nil {
		return err
	}
	if err := render(out, o.Output == "json", b, func() error {
		took := time.Duration(res.Duration * float64(time.Second)).Round(time.Millisecond)
		if res.Up {
			_, err := fmt.Fprintf(out, "%s: up in %s, %d samples, agent %s; status %s (%s)\n", res.Collector, took, res.Samples,
				orDash(res.AgentState), res.Status, res.StatusReason)
			return err
		}
		_, err := fmt.Fprintf(out, "%s: down after %s (%s): %s; status %s (%s)\n", res.Collector, took, orDash(res.Reason), res.Error,
			res.Status, res.StatusReason)
		return err
	}); err != nil {
		return err
	}
	if !res.Up {
		return errNotOK
	}
	return nil
}
