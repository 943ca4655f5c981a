// Command corralctl is corral's admin CLI: the collectors, their history and
// agent logs, real-time events, keys, direct signed commands to agents, and
// offline checks.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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

	Check   checkCmd   `cmd:"" help:"Offline checks: file_sd files, corral.yml, an agent's /metrics."`
	Keys    keysCmd    `cmd:"" help:"Manage Ed25519 control keys."`
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

	case "check sd <files>":
		err = checkSD(c.Check.SD.Files, out)
	case "check config <file>":
		err = checkConfig(c.Check.Config.File, out)
	case "check metrics <url>":
		err = checkMetrics(ctx, c.Check.Metrics.URL, c.Check.Metrics.Token, out)
	case "keys generate":
		err = generateKeys(c.Keys.Generate, out)
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
// 3 not found; 4 not allowed (401/403).
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
		case ae.Status == 404:
			return 3
		case ae.Status == 401 || ae.Status == 403:
			return 4
		case ae.Status == 400:
			return 2
		}
	}
	return 1
}
