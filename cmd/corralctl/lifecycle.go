package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/corral-dev/corral/api/wire"
)

type registerCmd struct {
	Name        string   `arg:"" help:"The collector's name: its id, collector label and the agent's collector.name (1 to 128 of A-Z a-z 0-9 . _ : -)."`
	URL         string   `required:"" help:"The agent's /metrics URL, e.g. http://10.0.0.5:9187/metrics (a bare host:port gets /metrics)."`
	Label       []string `sep:"none" placeholder:"K=V" help:"A target label (repeatable); org and team have flags of their own."`
	Org         string   `help:"The collector's org (default: the server's default org)."`
	Team        string   `help:"The collector's team (needs --org)."`
	Threshold   []string `sep:"none" placeholder:"K=V" help:"A health threshold of its own, e.g. offline_after=5m (repeatable)."`
	AgentConfig string   `name:"agent-config" placeholder:"FILE" help:"Write the agent config the server made to FILE (mode 0600) instead of printing it."`
	Force       bool     `help:"Overwrite --agent-config FILE."`
	Output      string   `short:"o" default:"text" enum:"text,json" help:"Output: ${enum} (json: the server's answer, token included)."`
}

func (o registerCmd) Run(ctx context.Context, g *globals) error {
	return register(ctx, o, g.config, g.stdout)
}

// register registers a collector: the server keeps it in its registry, scrapes
// it in every scrape config with registry: true, with a scrape token of its
// own, and answers with the token (once) and an agent config.
func register(ctx context.Context, o registerCmd, cfgFlag string, out io.Writer) error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badFlag("url", "%q: want the agent's http:// or https:// /metrics URL, e.g. http://10.0.0.5:9187/metrics", o.URL)
	}
	if o.Team != "" && o.Org == "" {
		return badFlag("team", "needs --org")
	}
	labels, err := parsePairs("label", o.Label)
	if err != nil {
		return err
	}
	thresholds, err := parsePairs("threshold", o.Threshold)
	if err != nil {
		return err
	}
	if err := checkWritable("agent-config", o.AgentConfig, o.Force); err != nil {
		return err
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	req := map[string]any{"name": o.Name, "url": o.URL, "labels": labels, "org": o.Org, "team": o.Team, "thresholds": thresholds}
	var res wire.Registered
	b, err := c.call(ctx, http.MethodPost, "/api/v1/collectors/register", nil, req, &res)
	if err != nil {
		return err
	}
	reg := res.Registration
	if o.Output == "json" {
		return showRegistration(out, reg, o.AgentConfig, o.Force, b)
	}
	fmt.Fprintf(out, "registered %s (%s) at %s; it is scraped from the next discovery update\n", reg.ID, scopeOf(reg.Org, reg.Team), reg.URL)
	return showRegistration(out, reg, o.AgentConfig, o.Force, nil)
}

// scopeOf names an org and team (an empty org, from an older server, is its default).
func scopeOf(org, team string) string {
	s := "the default org"
	if org != "" {
		s = "org " + org
	}
	if team != "" {
		s += ", team " + team
	}
	return s
}

// checkWritable refuses, before anything is asked of the server, a file that
// exists without force: a token shown once must not be lost to a refusal.
func checkWritable(flag, path string, force bool) error {
	if path == "" || force {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return badFlag(flag, "%s exists; pass --force to overwrite it", path)
	}
	return nil
}

// showRegistration writes the agent config to path, if both are there, and
// prints a new scrape token once, with the warning, and the agent config if
// it was not written; or, with -o json, the server's answer.
func showRegistration(out io.Writer, reg wire.Registration, path string, force bool, answer json.RawMessage) error {
	written := false
	var werr error
	if path != "" && reg.AgentConfig != "" {
		if werr = writeFile(path, []byte(reg.AgentConfig), 0o600, force); werr == nil {
			written = true
		}
	}
	if answer != nil {
		if err := printRaw(out, answer); err != nil {
			return err
		}
	} else {
		if reg.Token != "" {
			fmt.Fprintf(out, "scrape token: %s\n", reg.Token)
			fmt.Fprintln(out, "WARNING: the token is shown this once and cannot be read back; the agent needs only its SHA-256, which the agent config holds.")
		}
		if reg.Note != "" {
			fmt.Fprintf(out, "note: %s\n", reg.Note)
		}
		switch {
		case written:
			fmt.Fprintf(out, "agent config written to %s (mode 0600): set collector.kind and its section, then corral-agent run --config %s\n", path, path)
		case reg.AgentConfig != "":
			fmt.Fprintf(out, "agent config:\n%s", reg.AgentConfig)
			if !strings.HasSuffix(reg.AgentConfig, "\n") {
				fmt.Fprintln(out)
			}
		case path != "":
			fmt.Fprintf(out, "no agent config written to %s: the server made none (only a registered collector with a new token gets one)\n", path)
		}
	}
	if werr != nil {
		return fmt.Errorf("write the agent config: %w; it is printed above", werr)
	}
	return nil
}

type unregisterCmd struct {
	ID            string `arg:"" help:"Collector id."`
	Reason        string `help:"Why, for the archive and the audit trail."`
	Delete        bool   `help:"Delete its history, buckets and logs now instead of archiving them (archive_metrics: false)."`
	RetentionDays int    `name:"retention-days" help:"Keep the archived data this many days, 1 to 3650 (default: the server's, 90)."`
	DeleteAudit   bool   `name:"delete-audit" help:"Delete its audit rows with its data (now with --delete, else when the retention ends); by default they are kept."`
	Yes           bool   `short:"y" help:"Do not ask; required when stdin is not a terminal."`
	Output        string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

func (o unregisterCmd) Run(ctx context.Context, g *globals) error {
	var tty io.Reader // only a person at a terminal can confirm
	if isTerminal(g.stdin) {
		tty = g.stdin
	}
	return unregister(ctx, o, g.config, tty, g.stderr, g.stdout)
}

// unregister stops corral scraping a collector: a registered one leaves the
// registry, a file_sd or static one is ignored while its file still lists it,
// until it is re-registered. tty is stdin when it is a terminal, else nil.
func unregister(ctx context.Context, o unregisterCmd, cfgFlag string, tty io.Reader, prompt, out io.Writer) error {
	if o.RetentionDays != 0 && (o.RetentionDays < 1 || o.RetentionDays > 3650) {
		return badFlag("retention-days", "%d: want 1 to 3650", o.RetentionDays)
	}
	if o.Delete && o.RetentionDays != 0 {
		return badFlag("retention-days", "applies to archived data; with --delete nothing is kept")
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	if !o.Yes {
		what := "archives its data"
		if o.RetentionDays > 0 {
			what += fmt.Sprintf(" for %d days", o.RetentionDays)
		}
		if o.Delete {
			what = "DELETES its history, buckets and logs now"
		}
		ok, err := confirm(tty, prompt, fmt.Sprintf("Unregister %s? corral stops scraping it and %s.", o.ID, what))
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(out, "not unregistered")
			return nil
		}
	}
	body := map[string]any{"reason": o.Reason, "delete_audit": o.DeleteAudit}
	if o.Delete {
		body["archive_metrics"] = false
	}
	if o.RetentionDays > 0 {
		body["retention_days"] = o.RetentionDays
	}
	var res wire.Unregistered
	if printed, err := c.fetch(ctx, http.MethodDelete, "/api/v1/collectors/"+url.PathEscape(o.ID), nil, body, &res, o.Output == "json", out); err != nil || printed {
		return err
	}
	fmt.Fprintf(out, "%s: %s (archive %s; corralctl reregister %s brings it back)\n", o.ID, res.Message, res.Archive.ID, res.Archive.ID)
	return nil
}

type archivedCmd struct {
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

func (o archivedCmd) Run(ctx context.Context, g *globals) error {
	return archived(ctx, o, g.config, g.stdout)
}

// archived lists the unregistered collectors, newest first.
func archived(ctx context.Context, o archivedCmd, cfgFlag string, out io.Writer) error {
	arcs, printed, err := list[wire.Archive](ctx, cfgFlag, "/api/v1/collectors/archived", nil, o.Output == "json", out)
	if err != nil || printed {
		return err
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ARCHIVE\tCOLLECTOR\tPROVIDER\tARCHIVED AT\tBY\tRECORDS\tRETAIN UNTIL\tSTILL DISCOVERED\tREASON")
	for _, a := range arcs.Data {
		records, until := fmt.Sprint(a.MetricsCount), localTime(a.RetainUntil)
		if !a.MetricsArchived {
			records = "deleted"
		}
		if a.PurgedAt != nil {
			until = "purged " + localTime(a.PurgedAt)
		}
		discovered := "no"
		if a.StillDiscovered {
			discovered = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Collector, a.Provider, localTime(&a.ArchivedAt), a.ArchivedBy,
			records, until, discovered, a.Reason)
	}
	return tw.Flush()
}

type reregisterCmd struct {
	ArchiveID   string `arg:"" name:"archive-id" help:"The archive (arc-…), from corralctl archived."`
	KeepToken   bool   `name:"keep-token" help:"Keep the archived scrape token instead of a new one (not recommended: whoever held it can scrape the agent again); the agent's config stays as it is."`
	Fresh       bool   `help:"Start with an empty history instead of restoring the archived one."`
	AgentConfig string `name:"agent-config" placeholder:"FILE" help:"Write the new agent config (registered collectors with a new token) to FILE (mode 0600) instead of printing it."`
	Force       bool   `help:"Overwrite --agent-config FILE."`
	Output      string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

func (o reregisterCmd) Run(ctx context.Context, g *globals) error {
	return reregister(ctx, o, g.config, g.stdout)
}

// reregister brings an archived collector back: it is scraped again from the
// next discovery update, with its history unless --fresh.
func reregister(ctx context.Context, o reregisterCmd, cfgFlag string, out io.Writer) error {
	if o.KeepToken && o.AgentConfig != "" {
		return badFlag("agent-config", "with --keep-token the server makes no agent config: the agent keeps the one it has")
	}
	if err := checkWritable("agent-config", o.AgentConfig, o.Force); err != nil {
		return err
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	newToken, restore := !o.KeepToken, !o.Fresh
	body := wire.ReregisterRequest{ArchiveID: o.ArchiveID, GenerateNewToken: &newToken, RestoreMetrics: &restore}
	var res wire.Reregistered
	b, err := c.call(ctx, http.MethodPost, "/api/v1/collectors/re-register", nil, body, &res)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return showRegistration(out, res.Registration, o.AgentConfig, o.Force, b)
	}
	history := "its history restored"
	switch {
	case o.Fresh:
		history = "an empty history"
	case res.Archive.PurgedAt != nil:
		history = "an empty history (the archived data was deleted)"
	}
	fmt.Fprintf(out, "re-registered %s from %s with %s; it is scraped again from the next discovery update\n", res.Archive.Collector, res.Archive.ID, history)
	return showRegistration(out, res.Registration, o.AgentConfig, o.Force, nil)
}
