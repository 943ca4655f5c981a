// Command corralctl is corral's admin CLI: the collectors, their history and
// agent logs, real-time events, the control plane (actions, commands,
// registration, bulk operations, the audit trail, key rotation), direct
// signed commands to agents, and offline checks.
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

// cli is corralctl's commands and flags; each command's Run does its work.
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

	Users  usersCmd  `cmd:"" group:"People" help:"Users: list, add, show, set, disable, enable, delete, reset-password."`
	Orgs   orgsCmd   `cmd:"" group:"People" help:"Orgs: list, add, show, rename, delete."`
	Teams  teamsCmd  `cmd:"" group:"People" help:"Teams of an org: list, add, show, rename, delete."`
	Bind   bindCmd   `cmd:"" group:"People" help:"Grant a user a role: super_admin, org_admin --org ORG, team_lead or viewer --org ORG [--team TEAM]. Nobody grants a role above their own or to themselves."`
	Unbind unbindCmd `cmd:"" group:"People" help:"Take a role back from a user. The last super admin keeps its role."`
	Passwd passwdCmd `cmd:"" group:"People" help:"Change your own password: prompts for the old and the new one, or reads them from stdin with --password-stdin."`
	Logout logoutCmd `cmd:"" help:"Log out: revoke the API token login saved, on the server, and remove the local config."`

	Check   checkCmd   `cmd:"" help:"Offline checks: file_sd files, corral.yml, an agent's /metrics."`
	Keys    keysCmd    `cmd:"" help:"Control keys: generate a key pair; the server's signing key and its rotation."`
	Control controlCmd `cmd:"" help:"Send one signed command straight to an agent's /control (break-glass and demos; the server is the usual sender)."`
	Version versionCmd `cmd:"" help:"Print the version."`
}

// options are kong's for cli, for main and the tests.
func options() []kong.Option {
	return []kong.Option{kong.Name("corralctl"), kong.Description("corralctl administers corral."), kong.UsageOnError(),
		kong.Vars{"time_help": timeHelp}}
}

func main() {
	var c cli
	kctx := kong.Parse(&c, append(options(),
		kong.Exit(func(code int) { // bad flags are bad input, as everywhere in corralctl
			if code != 0 {
				code = 2
			}
			os.Exit(code)
		}))...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	kctx.BindTo(ctx, (*context.Context)(nil))
	err := kctx.Run(&globals{config: c.Config, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	if err != nil && !errors.Is(err, errNotOK) { // a failed check printed its problems
		fmt.Fprintln(os.Stderr, "corralctl:", err)
	}
	os.Exit(exitCode(err))
}
