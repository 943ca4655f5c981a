package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

type auditCmd struct {
	Collector string `help:"Only rows about this collector."`
	Actor     string `help:"Only rows of this actor (a user name, or reconciler, retention …)."`
	Action    string `help:"Only this action: stop, resume, register, unregister, re-register, scrape, bulk-stop, rotate-server-key …"`
	Result    string `help:"Only this result: pending, ok, confirmed, failed, expired, scheduled …"`
	Since     string `placeholder:"TIME" help:"Only rows from this time on: ${time_help}."`
	Until     string `placeholder:"TIME" help:"Only rows up to this time: ${time_help}."`
	Limit     int    `default:"100" help:"Rows of the table, newest first (at most 1000); csv and json export every matching row (at most 100,000)."`
	Output    string `short:"o" default:"table" enum:"table,json,csv" help:"Output: table, or the server's export as json or csv (with a header row), written to stdout."`
}

func (o auditCmd) Run(ctx context.Context, g *globals) error {
	return audit(ctx, o, g.config, g.stdout)
}

// audit prints the audit trail: who did what to which collector, newest first,
// in the caller's scope (team_lead and above).
func audit(ctx context.Context, o auditCmd, cfgFlag string, out io.Writer) error {
	q, err := pageQuery(o.Limit, map[string]string{"collector": o.Collector, "actor": o.Actor, "action": o.Action, "result": o.Result})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, f := range []struct{ flag, v string }{{"since", o.Since}, {"until", o.Until}} {
		if f.v == "" {
			continue
		}
		t, err := parseWhen(f.flag, f.v, now)
		if err != nil {
			return err
		}
		q.Set(f.flag, t.Format(time.RFC3339Nano))
	}
	if o.Output != "table" {
		c, err := apiClient(cfgFlag)
		if err != nil {
			return err
		}
		q.Set("format", o.Output)        // the export: every matching row, limit aside
		c.http.Timeout = 5 * time.Minute // an export of 100,000 rows
		var body []byte
		if err := c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, &body); err != nil {
			return err
		}
		_, err = out.Write(body)
		return err
	}
	rows, _, err := list[wire.AuditEntry](ctx, cfgFlag, "/api/v1/audit", q, false, out)
	if err != nil {
		return err
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tCOLLECTOR\tRESULT\tCOMMAND\tREASON")
	for _, r := range rows.Data {
		why := r.Reason
		if r.Error != "" {
			why = strings.TrimSpace(why + " (" + r.Error + ")")
		}
		cmd := r.CommandID
		if cmd == "" {
			cmd = r.BulkID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", localTime(&r.At), r.Actor.Name, r.Action, orDash(r.Collector), r.Result, orDash(cmd), why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rows.Total > len(rows.Data) {
		fmt.Fprintf(out, "(%d of %d; --limit for more, -o csv for all)\n", len(rows.Data), rows.Total)
	}
	return nil
}
