package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/corral-dev/corral/api/wire"
)

// bulkCmd is corralctl bulk: an action (a command each) or the operations.
type bulkCmd struct {
	Stop         bulkActionCmd `cmd:"" help:"Pause the collectors (--param estimated_duration_minutes=N)."`
	Resume       bulkActionCmd `cmd:"" help:"Resume the collectors."`
	Restart      bulkActionCmd `cmd:"" help:"Restart the agents."`
	Collect      bulkActionCmd `cmd:"" help:"Collect now."`
	UpdateConfig bulkActionCmd `cmd:"" name:"update-config" help:"Change the collectors' config (--param collection_interval='\"30s\"', query_limit, tags, group, collector keys)."`
	UpdateTags   bulkActionCmd `cmd:"" name:"update-tags" help:"Set the collectors' tags, kept by the server (--param tags='[\"a\",\"b\"]')."`
	UpdateGroup  bulkActionCmd `cmd:"" name:"update-group" help:"Set the collectors' group, kept by the server (--param group='\"g\"')."`
	Unregister   bulkActionCmd `cmd:"" help:"Unregister the collectors (--param archive_metrics=false deletes their data, retention_days, delete_audit)."`
	List         bulkListCmd   `cmd:"" help:"List your bulk operations, newest first (a super admin sees everyone's)."`
	Show         bulkShowCmd   `cmd:"" help:"Show a bulk operation with its rows as it ended."`
	Cancel       bulkCancelCmd `cmd:"" help:"Cancel a scheduled bulk operation."`
}

// bulkActionCmd is one action on many collectors: POST
// /api/v1/collectors/bulk-action. The server chooses the collectors within
// the caller's scope, carries the action out on each (at most 16 at once),
// waits up to 10s for the agents' acknowledgements and answers per collector;
// an unreachable agent is pending (its command is retried until it expires),
// not failed. A dry run only checks; --at stores the operation and runs it
// then, with the owner's rights at that time.
type bulkActionCmd struct {
	IDs      []string `name:"ids" placeholder:"ID" help:"These collectors (comma-separated or repeated)."`
	Selector string   `help:"Or the collectors whose target labels match this selector, e.g. '{team=\"red\",env=~\"prod.*\"}'."`
	Status   []string `enum:"offline,error,stale,incomplete,slow,paused,waiting,online,unknown" placeholder:"STATUS" help:"Only collectors in this status (repeatable): offline, error, stale, incomplete, slow, paused, waiting, online, unknown."`
	Param    []string `sep:"none" placeholder:"KEY=JSON" help:"A parameter of the action, as its single command takes it, the value as JSON: --param estimated_duration_minutes=30, --param collection_interval='\"30s\"', --param tags='[\"a\",\"b\"]', --param archive_metrics=false (repeatable)."`
	Reason   string   `help:"Why, for every command and the audit trail."`
	DryRun   bool     `name:"dry-run" help:"Only say what would happen to each collector; nothing is sent or changed."`
	At       string   `placeholder:"TIME" help:"Run it later: ${time_help}; within a year. corralctl bulk list shows it, bulk cancel cancels it."`
	Output   string   `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

// Run carries out the action the command is named after (stop, resume …).
func (o bulkActionCmd) Run(ctx context.Context, k *kong.Context, g *globals) error {
	return bulkAction(ctx, k.Selected().Name, o, g.config, g.stdout)
}

// bulkAction runs action on the chosen collectors and prints a row per
// collector and the totals. Exit 1 only when every collector failed: a partial
// failure is exit 0 and the summary says so.
func bulkAction(ctx context.Context, action string, o bulkActionCmd, cfgFlag string, out io.Writer) error {
	req := wire.BulkRequest{Action: action, CollectorIDs: o.IDs, Selector: o.Selector, Status: o.Status, Reason: o.Reason, DryRun: o.DryRun}
	switch {
	case len(o.IDs) == 0 && o.Selector == "":
		return &badInput{msg: "--ids or --selector: give one, to choose the collectors"}
	case len(o.IDs) > 0 && o.Selector != "":
		return &badInput{msg: "--ids and --selector: give one, not both"}
	}
	params, err := parseJSONPairs("param", o.Param)
	if err != nil {
		return err
	}
	if len(params) > 0 {
		req.Params, _ = json.Marshal(params)
	}
	if len(o.Reason) > 1000 {
		return badFlag("reason", "at most 1000 characters")
	}
	if o.At != "" {
		if o.DryRun {
			return badFlag("at", "a dry run runs now; leave --at out")
		}
		now := time.Now()
		at, err := parseWhen("at", o.At, now)
		if err != nil {
			return err
		}
		if until := at.Sub(now); until < time.Second || until > 366*24*time.Hour {
			return badFlag("at", "%s: want a time in the future, within a year", at.Format(time.RFC3339))
		}
		req.ScheduleAt = &at
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	c.http.Timeout = time.Minute // the server waits up to 10s for the agents, after the items
	var res wire.BulkResult
	b, err := c.call(ctx, http.MethodPost, "/api/v1/collectors/bulk-action", nil, req, &res)
	if err != nil {
		return err
	}
	if err := render(out, o.Output == "json", b, func() error { return printBulk(out, res) }); err != nil {
		return err
	}
	if res.Total > 0 && res.Failed == res.Total {
		return errNotOK
	}
	return nil
}

// printBulk prints an operation's rows and its summary line.
func printBulk(out io.Writer, res wire.BulkResult) error {
	if res.State == wire.BulkScheduled {
		_, err := fmt.Fprintf(out, "%s: %s scheduled for %s by %s; corralctl bulk cancel %s cancels it\n", res.ID, res.Action,
			localTime(res.ScheduleAt), res.CreatedBy, res.ID)
		return err
	}
	if len(res.Results) > 0 {
		tw := newTable(out)
		fmt.Fprintln(tw, "COLLECTOR\tRESULT\tCOMMAND\tSTATE\tMESSAGE")
		for _, it := range res.Results {
			msg := it.Message
			if it.Error != "" {
				msg = it.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Collector, it.Status, orDash(it.CommandID), orDash(it.State), msg)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(out, bulkSummary(res))
	return err
}

// bulkSummary says in one line how an operation went.
func bulkSummary(res wire.BulkResult) string {
	switch {
	case res.State == wire.BulkCancelled:
		return fmt.Sprintf("%s: %s cancelled (it was scheduled for %s)", res.ID, res.Action, localTime(res.ScheduleAt))
	case res.State == wire.BulkFailed:
		return fmt.Sprintf("%s: %s did not run: %s", res.ID, res.Action, res.Error)
	case res.State == wire.BulkRunning:
		return fmt.Sprintf("%s: %s is running since %s", res.ID, res.Action, localTime(res.StartedAt))
	case res.Total == 0:
		return fmt.Sprintf("%s: %s matched no collector; nothing was done", res.ID, res.Action)
	case res.DryRun:
		return fmt.Sprintf("dry run of %s on %s: %d would go ahead, %d would fail; nothing was changed", res.Action,
			plural(res.Total, "collector"), res.Succeeded, res.Failed)
	}
	s := fmt.Sprintf("%s: %s on %s: %d succeeded, %d failed, %d pending", res.ID, res.Action, plural(res.Total, "collector"),
		res.Succeeded, res.Failed, res.Pending)
	switch {
	case res.Failed == res.Total:
		s += " — every collector failed"
	case res.Failed > 0:
		s += fmt.Sprintf(" — partial failure: %d of %d failed", res.Failed, res.Total)
	}
	if res.Pending > 0 {
		s += fmt.Sprintf("; pending commands are retried until they expire: corralctl commands --bulk %s", res.ID)
	}
	return s
}

type bulkListCmd struct {
	State  string `enum:",scheduled,running,done,cancelled,failed" default:"" help:"Only operations in this state: scheduled, running, done, cancelled or failed."`
	Limit  int    `default:"100" help:"Rows, newest first (at most 1000)."`
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

func (o bulkListCmd) Run(ctx context.Context, g *globals) error {
	return bulkList(ctx, o, g.config, g.stdout)
}

// bulkList lists the caller's bulk operations (a super admin's: everyone's).
func bulkList(ctx context.Context, o bulkListCmd, cfgFlag string, out io.Writer) error {
	q, err := pageQuery(o.Limit, map[string]string{"state": o.State})
	if err != nil {
		return err
	}
	ops, printed, err := list[wire.BulkResult](ctx, cfgFlag, "/api/v1/bulk-actions", q, o.Output == "json", out)
	if err != nil || printed {
		return err
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "BULK\tACTION\tSTATE\tCREATED\tSCHEDULED FOR\tBY\tTOTAL\tSUCCEEDED\tFAILED\tPENDING\tCHOSEN BY")
	for _, b := range ops.Data {
		chosen := "-"
		if r := b.Request; r != nil {
			chosen = r.Selector
			if len(r.CollectorIDs) > 0 {
				chosen = strings.Join(r.CollectorIDs, ",")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", b.ID, b.Action, b.State, localTime(&b.CreatedAt), localTime(b.ScheduleAt),
			b.CreatedBy, b.Total, b.Succeeded, b.Failed, b.Pending, chosen)
	}
	return tw.Flush()
}

type bulkIDCmd struct {
	ID     string `arg:"" help:"Bulk operation id (bulk-…)."`
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

// bulk show and bulk cancel take the same flags.
type (
	bulkShowCmd   bulkIDCmd
	bulkCancelCmd bulkIDCmd
)

func (o bulkShowCmd) Run(ctx context.Context, g *globals) error {
	return bulkShow(ctx, bulkIDCmd(o), g.config, g.stdout)
}

func (o bulkCancelCmd) Run(ctx context.Context, g *globals) error {
	return bulkCancel(ctx, bulkIDCmd(o), g.config, g.stdout)
}

// bulkShow shows one bulk operation with its rows as it ended (the commands
// go on: corralctl commands --bulk ID shows where they are now).
func bulkShow(ctx context.Context, o bulkIDCmd, cfgFlag string, out io.Writer) error {
	return bulkOne(ctx, http.MethodGet, "/api/v1/bulk-actions/"+url.PathEscape(o.ID), o.Output, cfgFlag, out)
}

// bulkCancel cancels a scheduled bulk operation; one that ran already is a
// conflict (exit 1).
func bulkCancel(ctx context.Context, o bulkIDCmd, cfgFlag string, out io.Writer) error {
	return bulkOne(ctx, http.MethodPost, "/api/v1/bulk-actions/"+url.PathEscape(o.ID)+"/cancel", o.Output, cfgFlag, out)
}

func bulkOne(ctx context.Context, method, path, output, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var res wire.BulkResult
	if printed, err := c.fetch(ctx, method, path, nil, nil, &res, output == "json", out); err != nil || printed {
		return err
	}
	return printBulk(out, res)
}
