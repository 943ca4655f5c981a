// Command corral-agent runs one collector as an exporter that corral scrapes and steers.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // active schedules name IANA zones; do not depend on the host's zoneinfo

	"github.com/alecthomas/kong"

	"github.com/corral-dev/corral/exporter/agent"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type cli struct {
	Run      runCmd      `cmd:"" help:"Run the collector of a config file and serve /metrics, /healthz, /control and /logs."`
	Check    checkCmd    `cmd:"" help:"Check files offline."`
	Simulate simulateCmd `cmd:"" help:"Run N agents with the synthetic collector in one process, on consecutive loopback ports, and write a file_sd file listing them."`
	Version  struct{}    `cmd:"" help:"Print the version."`
}

type runCmd struct {
	Config string `short:"c" required:"" type:"existingfile" help:"Agent config file (see configs/agent.*.example.yml)."`
}

type checkCmd struct {
	Config checkConfigCmd `cmd:"" name:"config" help:"Load a config file as 'run' would and print what it configures (no secret is printed)."`
}

type checkConfigCmd struct {
	File string `arg:"" type:"existingfile" help:"Agent config file."`
}

type simulateCmd struct {
	Count          int           `short:"n" default:"10" help:"Number of agents."`
	Address        string        `default:"127.0.0.1" help:"IP address to listen on."`
	BasePort       int           `default:"19100" help:"Port of the first agent; agent i listens on base-port+i."`
	Interval       time.Duration `default:"5s" help:"Collection interval."`
	Series         int           `default:"150" help:"synthetic_value series per agent (150 gives about 200 samples per scrape)."`
	Rate           float64       `default:"2" help:"Items per second of a healthy agent."`
	Mix            string        `default:"online=1" help:"Behaviour weights: online, slow, stale, incomplete, error, waiting, paused (e.g. online=80,slow=5,stale=5,error=5,waiting=5)."`
	SDFile         string        `name:"sd-file" help:"Write a Prometheus file_sd YAML file listing the agents here."`
	Job            string        `default:"simulate" help:"job label in the file_sd file."`
	TrustedKey     []string      `name:"trusted-key" help:"Public key (ed25519:… or PEM) whose signed commands the agents accept; repeatable."`
	TrustedKeyFile []string      `name:"trusted-key-file" type:"existingfile" help:"File holding such a public key; repeatable."`
	Seed           uint64        `default:"1" help:"Seed for the behaviour assignment."`
	FirstIndex     int           `name:"first-index" default:"0" help:"Number the agents from here (sim-<n>), to build one fleet from several processes."`
	StateDir       string        `name:"state-dir" placeholder:"DIR" help:"Keep each agent's state file (paused, applied config, command answers) in DIR, so it outlives this process (default: a temporary folder removed on exit)."`
	PrintURLs      bool          `name:"print-urls" help:"Print each agent's URL and behaviour once all listen."`
	LogLevel       string        `name:"log.level" default:"info" enum:"debug,info,warn,error" help:"Log level (${enum})."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("corral-agent"),
		kong.Description("corral-agent runs one data collector (postgres, mysql, synthetic) as an exporter: corral discovers and scrapes it, and steers it with signed commands on /control."),
		kong.UsageOnError(),
	)
	os.Exit(run(ctx.Command(), &c))
}

func run(cmd string, c *cli) int {
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "run":
		err := agent.Run(sigCtx, agent.Options{ConfigPath: c.Run.Config, Version: version})
		return exitCode(err)
	case "check config <file>":
		cfg, err := agent.LoadConfig(c.Check.Config.File)
		if err != nil {
			return exitCode(err)
		}
		fmt.Printf("%s: OK\n%s", c.Check.Config.File, cfg.Summary())
		return 0
	case "simulate":
		keys := append([]string(nil), c.Simulate.TrustedKey...)
		for _, f := range c.Simulate.TrustedKeyFile {
			b, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "corral-agent:", err)
				return 2
			}
			keys = append(keys, strings.TrimSpace(string(b)))
		}
		var level slog.Level
		_ = level.UnmarshalText([]byte(c.Simulate.LogLevel))
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		err := agent.Simulate(sigCtx, agent.SimulateOptions{
			Count: c.Simulate.Count, Address: c.Simulate.Address, BasePort: c.Simulate.BasePort,
			Interval: c.Simulate.Interval, Series: c.Simulate.Series, Rate: c.Simulate.Rate,
			Mix: c.Simulate.Mix, SDFile: c.Simulate.SDFile, Job: c.Simulate.Job,
			TrustedKeys: keys, Seed: c.Simulate.Seed, FirstIndex: c.Simulate.FirstIndex, StateDir: c.Simulate.StateDir, Logger: log,
			Ready: func(agents []agent.SimAgent) {
				if c.Simulate.PrintURLs {
					printAgents(agents)
				}
			},
		})
		return exitCode(err)
	case "version":
		fmt.Println("corral-agent", version)
		return 0
	}
	fmt.Fprintln(os.Stderr, "corral-agent: unknown command", cmd)
	return 2
}

func exitCode(err error) int {
	var ce *agent.ConfigError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, agent.ErrRestart):
		if rerr := agent.Respawn(); rerr != nil {
			fmt.Fprintln(os.Stderr, "corral-agent:", rerr)
			return 1
		}
		return 0
	case errors.As(err, &ce):
		fmt.Fprintln(os.Stderr, "corral-agent:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "corral-agent:", err)
		return 1
	}
}

func printAgents(agents []agent.SimAgent) {
	fmt.Printf("%-10s  %-11s  %s\n", "COLLECTOR", "BEHAVIOUR", "URL")
	for _, a := range agents {
		fmt.Printf("%-10s  %-11s  http://%s/metrics\n", a.Name, a.Behaviour, a.Address)
	}
	fmt.Println("Try: curl -s http://" + agents[0].Address + "/metrics | grep ^corral_collector_state")
	fmt.Println("     bin/corralctl control --url http://" + agents[0].Address + " --collector " + agents[0].Name + " --key data/demo/control.key pause")
	fmt.Println("Stop with Ctrl-C.")
}
