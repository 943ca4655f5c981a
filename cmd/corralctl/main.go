// Command corralctl is corral's admin CLI: the collectors, their history and
// agent logs, real-time events, the control plane (actions, commands,
// registration, bulk operations, the audit trail, key rotation), direct
// signed commands to agents, and offline checks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

var version = "dev"

type cli struct {
	Config   string      `name:"config" placeholder:"FILE" help:"Where login keeps the server and token (default: $$CORRALCTL_CONFIG or ~/.config/corral/corralctl.json)."`
	Login    loginCmd    `cmd:"" help:"Log in to a corral server and keep an API token for the other commands."`
	Get      getCmd      `cmd:"" help:"List resources."`
	Describe describeCmd `cmd:"" help:"Show one resource in full."`
	History  historyCmd  `cmd:"" help:"Show a collector's status history."`
	Logs     logsCmd     `cmd:"" help:"Print a collector's agent logs, oldest first; -f follows new ones (the WebSocket) until Ctrl-C."`
	Watch    watchCmd    `cmd:"" help:"Print real-time events (the WebSocket) as JSON lines until Ctrl-C."`

	Stop              stopCmd              `cmd:"" group:"Control" help:"Pause a collector: the agent stops collecting, and the server keeps it paused (re-sending pause if the agent comes back running) until resume."`
	Resume            actionFlags          `cmd:"" group:"Control" help:"Resume a paused collector; the server's desired state becomes running."`
	Restart           actionFlags          `cmd:"" group:"Control" help:"Restart the agent process; confirmed once a scrape shows a newer process start time."`
	Collect           actionFlags          `cmd:"" group:"Control" help:"Collect now, outside the schedule; confirmed once a scrape shows a newer collection."`
	Backfill          backfillCmd          `cmd:"" group:"Control" help:"Collect a past range again, in the background on the agent; the command shows its progress (corralctl command ID --watch) and is confirmed when it is complete."`
	TestConnection    actionFlags          `cmd:"" name:"test-connection" group:"Control" help:"Have the agent test the connection to its source; the answer carries the result."`
	UpdateConfig      updateConfigCmd      `cmd:"" name:"update-config" group:"Control" help:"Change a collector's config: interval, query limit and collector keys go to the agent (confirmed by its config generation); tags and group stay with the server."`
	RotateCredentials rotateCredentialsCmd `cmd:"" name:"rotate-credentials" group:"Control" help:"Have the agent read its source credentials again (e.g. after a password change); --scrape-token also rotates a registered collector's scrape token."`
	Scrape            scrapeCmd            `cmd:"" group:"Control" help:"Have the server scrape a collector now, outside its schedule, and print the result (up, duration, samples, agent state, error); a failed scrape is exit 1."`
	Command           commandCmd           `cmd:"" group:"Control" help:"Show one command: state, attempts, error, a backfill's progress; --watch follows it to its end."`
	Commands          commandsCmd          `cmd:"" group:"Control" help:"List commands, newest first."`

	Register   registerCmd   `cmd:"" group:"Lifecycle" help:"Register a collector with the server's registry: it is scraped by every scrape config with registry: true, with a scrape token of its own. Prints the token once and the agent config the server made."`
	Unregister unregisterCmd `cmd:"" group:"Lifecycle" help:"Unregister a collector: corral stops scraping it (a file_sd or static one is ignored while its file still lists it) and archives its data for a retention period, or deletes it with --delete. Asks first on a terminal."`
	Archived   archivedCmd   `cmd:"" group:"Lifecycle" help:"List the unregistered collectors, newest first."`
	Reregister reregisterCmd `cmd:"" group:"Lifecycle" help:"Bring an unregistered collector back from its archive, with its history unless --fresh, and (registered ones) a new scrape token unless --keep-token."`

	Bulk  bulkCmd  `cmd:"" group:"Control" help:"One action on many collectors, chosen by --ids or --selector: now, as a --dry-run, or scheduled with --at; and the operations made so far."`
	Audit auditCmd `cmd:"" group:"Control" help:"Print the audit trail: who did what to which collector, newest first (team_lead and above, in their scope)."`

	Check   checkCmd   `cmd:"" help:"Offline checks: file_sd files, corral.yml, an agent's /metrics."`
	Keys    keysCmd    `cmd:"" help:"Control keys: generate a key pair; the server's signing key and its rotation."`
	Control controlCmd `cmd:"" help:"Send one signed command straight to an agent's /control (break-glass and demos; the server is the usual sender)."`
	Version struct{}   `cmd:"" help:"Print the version."`
}

type loginCmd struct {
	Server        string `required:"" help:"corral's base URL, e.g. http://localhost:9480."`
	Username      string `required:"" help:"User name."`
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from stdin (else $$CORRAL_PASSWORD)."`
	ExpiresInDays int    `name:"expires-in-days" default:"90" help:"Lifetime of the API token."`
}

type getCmd struct {
	Collectors getCollectorsCmd `cmd:"" help:"List collectors."`
}

type getCollectorsCmd struct {
	Status []string `help:"Only these statuses (repeatable)."`
	Job    string   `help:"Only this job."`
	Org    string   `help:"Only this org."`
	Team   string   `help:"Only this team."`
	Label  []string `help:"Label matcher k=v, k!=v, k=~re, k!~re (repeatable)."`
	Query  string   `short:"q" help:"Free text."`
	Sort   string   `default:"id" help:"Column to sort by; - for descending (e.g. -freshness)."`
	Limit  int      `default:"100" help:"Rows per page (at most 1000)."`
	Page   int      `default:"1" help:"Page."`
	Output string   `short:"o" default:"table" enum:"table,wide,json,yaml" help:"Output: ${enum}."`
}

type describeCmd struct {
	Collector struct {
		ID     string `arg:"" help:"Collector id."`
		Output string `short:"o" default:"yaml" enum:"yaml,json" help:"Output: ${enum}."`
	} `cmd:"" help:"Show a collector."`
}

type historyCmd struct {
	ID     string `arg:"" help:"Collector id."`
	Limit  int    `default:"50" help:"Rows."`
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

type watchCmd struct {
	Collector []string `help:"Only these collectors (repeatable)."`
	Type      []string `help:"Only these event types, e.g. collector:status-changed (repeatable)."`
	Status    []string `help:"Only collectors in these statuses (repeatable)."`
}

type checkCmd struct {
	SD struct {
		Files []string `arg:"" type:"existingfile" help:"file_sd files (YAML or JSON)."`
	} `cmd:"" name:"sd" help:"Validate file_sd files as corral reads them."`
	Config struct {
		File string `arg:"" type:"existingfile" help:"corral.yml"`
	} `cmd:"" help:"Validate a corral.yml."`
	Metrics struct {
		URL   string `arg:"" help:"An agent's /metrics URL."`
		Token string `help:"Bearer token for /metrics (else $$CORRAL_METRICS_TOKEN)." env:"CORRAL_METRICS_TOKEN"`
	} `cmd:"" help:"Lint an agent's exposition against corral's metric contract."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("corralctl"), kong.Description("corralctl administers corral."), kong.UsageOnError(),
		kong.Vars{"time_help": timeHelp},
		kong.Exit(func(code int) { // bad flags are bad input, as everywhere in corralctl
			if code != 0 {
				code = 2
			}
			os.Exit(code)
		}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, cfg := os.Stdout, c.Config
	var err error
	switch cmd := kctx.Command(); cmd {
	case "login":
		err = login(ctx, c.Login, cfg, os.Stdin)
	case "get collectors":
		err = getCollectors(ctx, c.Get.Collectors, cfg, out)
	case "describe collector <id>":
		err = describeCollector(ctx, c.Describe.Collector.ID, c.Describe.Collector.Output, cfg, out)
	case "history <id>":
		err = history(ctx, c.History, cfg, out)
	case "logs <id>":
		err = logs(ctx, c.Logs, cfg, out)
	case "watch":
		err = watch(ctx, c.Watch, cfg, out)

	case "stop <id>":
		err = act(ctx, "stop", c.Stop.actionFlags, c.Stop.params, cfg, out)
	case "resume <id>":
		err = act(ctx, "resume", c.Resume, nil, cfg, out)
	case "restart <id>":
		err = act(ctx, "restart", c.Restart, nil, cfg, out)
	case "collect <id>":
		err = act(ctx, "collect", c.Collect, nil, cfg, out)
	case "backfill <id>":
		err = act(ctx, "backfill", c.Backfill.actionFlags, c.Backfill.params, cfg, out)
	case "test-connection <id>":
		err = act(ctx, "test-connection", c.TestConnection, nil, cfg, out)
	case "update-config <id>":
		err = act(ctx, "update-config", c.UpdateConfig.actionFlags, c.UpdateConfig.params, cfg, out)
	case "rotate-credentials <id>":
		err = act(ctx, "rotate-credentials", c.RotateCredentials.actionFlags, c.RotateCredentials.params, cfg, out)
	case "scrape <id>":
		err = scrapeNow(ctx, c.Scrape, cfg, out)
	case "command <id>":
		err = command(ctx, c.Command, cfg, out, time.Second)
	case "commands":
		err = commands(ctx, c.Commands, cfg, out)

	case "register <name>":
		err = register(ctx, c.Register, cfg, out)
	case "unregister <id>":
		var tty io.Reader // only a person at a terminal can confirm
		if isTerminal(os.Stdin) {
			tty = os.Stdin
		}
		err = unregister(ctx, c.Unregister, cfg, tty, os.Stderr, out)
	case "archived":
		err = archived(ctx, c.Archived, cfg, out)
	case "reregister <archive-id>":
		err = reregister(ctx, c.Reregister, cfg, out)

	case "bulk list":
		err = bulkList(ctx, c.Bulk.List, cfg, out)
	case "bulk show <id>":
		err = bulkShow(ctx, c.Bulk.Show, cfg, out)
	case "bulk cancel <id>":
		err = bulkCancel(ctx, c.Bulk.Cancel, cfg, out)
	case "bulk stop", "bulk resume", "bulk restart", "bulk collect", "bulk update-config", "bulk update-tags", "bulk update-group", "bulk unregister":
		b := c.Bulk
		action := kctx.Selected().Name
		flags := map[string]bulkActionCmd{"stop": b.Stop, "resume": b.Resume, "restart": b.Restart, "collect": b.Collect,
			"update-config": b.UpdateConfig, "update-tags": b.UpdateTags, "update-group": b.UpdateGroup, "unregister": b.Unregister}[action]
		err = bulkAction(ctx, action, flags, cfg, out)
	case "audit":
		err = audit(ctx, c.Audit, cfg, out)

	case "check sd <files>":
		err = checkSD(c.Check.SD.Files, out)
	case "check config <file>":
		err = checkConfig(c.Check.Config.File, out)
	case "check metrics <url>":
		err = checkMetrics(ctx, c.Check.Metrics.URL, c.Check.Metrics.Token, out)
	case "keys generate":
		err = generateKeys(c.Keys.Generate, out)
	case "keys status":
		err = keysStatus(ctx, c.Keys.Status, cfg, out)
	case "keys rotate":
		err = keysRotate(ctx, c.Keys.Rotate, cfg, out)
	case "control <command>", "control <command> <args>":
		err = sendControl(ctx, c.Control, out)
	case "version":
		fmt.Println("corralctl", version)
	default:
		err = fmt.Errorf("corralctl: %s is not wired; this is a bug", cmd)
	}
	os.Exit(exitCode(err))
}

// exitCode: 0 ok; 1 a check or command that failed; 2 bad input or not logged in;
// 3 not found (or unregistered: 410); 4 not allowed (401/403).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errNotOK) {
		return 1
	}
	fmt.Fprintln(os.Stderr, "corralctl:", err)
	var bad *badInput
	if errors.As(err, &bad) {
		return 2
	}
	var ae *apiError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 404 || ae.Status == 410:
			return 3
		case ae.Status == 401 || ae.Status == 403:
			return 4
		case ae.Status == 400:
			return 2
		}
	}
	return 1
}
