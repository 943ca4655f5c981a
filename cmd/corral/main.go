// Command corral is the central server: it discovers collectors, scrapes them,
// derives their health and publishes it.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/server"
)

var version = "dev"

type cli struct {
	Serve serveCmd `cmd:"" default:"withargs" help:"Run the server (the default command)."`
	Keys  struct {
		Show keysShowCmd `cmd:"" help:"Print the public key agents must trust (control.trusted_keys), making the key on first use."`
	} `cmd:"" help:"The server's Ed25519 key that signs control requests."`
}

type keysShowCmd struct {
	ConfigFile string `name:"config.file" placeholder:"FILE" help:"corral.yml, for its storage.url."`
	StorageURL string `name:"storage.url" placeholder:"URL" help:"Store: sqlite:PATH or postgres://…; overrides the config (default ${default_storage})."`
}

type serveCmd struct {
	ConfigFile      string `name:"config.file" placeholder:"FILE" help:"corral.yml; without one corral starts with an empty fleet on the embedded store (collectors registered through the API are still scraped)."`
	ConfigCheck     bool   `name:"config.check" help:"Load and check the config file, print a summary and exit (0 valid, 2 invalid)."`
	ListenAddress   string `name:"web.listen-address" default:":9480" help:"Address of the HTTP server (/metrics, /federate, /-/healthy, /-/ready, /api/v1)."`
	EnableLifecycle bool   `name:"web.enable-lifecycle" help:"Serve POST /-/reload, to a super_admin only (SIGHUP reloads either way)."`
	EnablePprof     bool   `name:"web.enable-pprof" help:"Serve /debug/pprof/ (off by default): to the web config's basic_auth_users when it has some, else to a super_admin only."`
	WebConfigFile   string `name:"web.config.file" placeholder:"FILE" help:"Prometheus's web configuration file (exporter-toolkit format): tls_server_config for the listener, basic_auth_users and rate_limit for /metrics, /federate and /debug/pprof (the API keeps its own auth)."`
	StorageURL      string `name:"storage.url" placeholder:"URL" help:"Store: sqlite:PATH or postgres://…; overrides storage.url of the config (default ${default_storage})."`
	LogLevel        string `name:"log.level" default:"info" enum:"debug,info,warn,error" help:"Log level (${enum})."`
	LogFormat       string `name:"log.format" default:"logfmt" enum:"logfmt,json" help:"Log format (${enum})."`
	Version         bool   `help:"Print the version and exit."`
}

func main() {
	var cl cli
	kctx := kong.Parse(&cl, kong.Name("corral"),
		kong.Description("corral discovers data collectors (static, file_sd, registry), scrapes their /metrics, derives status, freshness and completeness, publishes them on /metrics and /federate, and steers the agents with signed commands."),
		kong.UsageOnError(), kong.Vars{"default_storage": configs.DefaultStorageURL})
	if kctx.Command() == "keys show" {
		os.Exit(server.ShowKeys(cl.Keys.Show.ConfigFile, cl.Keys.Show.StorageURL, os.Stdout, os.Stderr))
	}
	c := cl.Serve
	if c.Version {
		fmt.Println("corral", version)
		return
	}
	if os.Getenv("GOGC") == "" {
		// Trade a little CPU for memory, as VictoriaMetrics does: the heap of a
		// scraper is mostly short-lived buffers. GOGC in the environment wins.
		debug.SetGCPercent(50)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	}
	log := slog.New(h)

	if c.ConfigCheck {
		os.Exit(server.CheckConfig(c.ConfigFile, os.Stdout, os.Stderr))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	err := server.Run(ctx, server.Options{
		ConfigFile: c.ConfigFile, ListenAddress: c.ListenAddress, StorageURL: c.StorageURL,
		Logger: log, Version: version, Reload: reload,
		EnableLifecycle: c.EnableLifecycle, EnablePprof: c.EnablePprof, WebConfigFile: c.WebConfigFile,
	})
	var cfgErr *server.ConfigError
	switch {
	case err == nil:
	case errors.As(err, &cfgErr):
		fmt.Fprintln(os.Stderr, "corral:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "corral:", err)
		os.Exit(1)
	}
}
