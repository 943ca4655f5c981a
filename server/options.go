// Package server is one corral server: it wires discovery, scraping, health,
// the store, the control plane, the API and the publishers together and runs
// them until its context ends, as Alertmanager's app package does. cmd/corral
// only parses flags, builds the logger, maps signals and calls Run.
//
// The wiring, by file: run.go starts and stops everything; reload.go applies a
// config (at start and on reload); registry.go feeds the collectors registered
// through the API to discovery; record.go hands every evaluation to the
// command dispatcher and the real-time hub; restore.go reads what the store
// remembers at start; logs.go pulls agent logs into the store; control.go
// builds the control plane; routes.go serves HTTP.
package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/corral-dev/corral/configs"
)

// Options of one server run; the tests start the server with them in-process.
type Options struct {
	ConfigFile    string // corral.yml; "" runs the defaults (configs.Default)
	ListenAddress string
	StorageURL    string // overrides the config's storage.url when set
	Logger        *slog.Logger
	Version       string
	// Reload receives a value per SIGHUP.
	Reload <-chan struct{}
	// Listening, when set, gets the bound address once the server listens.
	Listening func(net.Addr)
	// EnableLifecycle serves POST /-/reload (--web.enable-lifecycle), to a
	// super_admin only; without it only the Reload channel (SIGHUP) reloads.
	EnableLifecycle bool
	// EnablePprof serves /debug/pprof/ (--web.enable-pprof): to the
	// basic_auth_users of the web config file when it has some, else to a
	// super_admin only.
	EnablePprof bool
	// WebConfigFile is Prometheus's web configuration file
	// (--web.config.file, exporter-toolkit's format): TLS for the listener,
	// basic auth and a rate limit for /metrics, /federate and /debug/pprof.
	WebConfigFile string
	// Stderr gets what is printed once on the terminal, never through the log
	// (the first admin's generated password); default os.Stderr.
	Stderr io.Writer
	// SessionTTL is how long a login session lasts; default 12h (auth's default).
	SessionTTL time.Duration
	// WSRecheckInterval is how often the credential of a WebSocket client is
	// checked again; default 30s. Logout and token revocation close its sockets
	// at once regardless.
	WSRecheckInterval time.Duration
	// DNSResolver answers the lookups of dns_sd_configs; nil is the system's
	// (/etc/resolv.conf), as in Prometheus. The tests point it at a DNS
	// server of their own on loopback.
	DNSResolver *net.Resolver
}

// ConfigError is an invalid config file; cmd/corral exits 2 on it.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func loadConfig(path string) (*configs.Config, error) {
	if path == "" {
		return configs.Default(), nil
	}
	return configs.Load(path)
}

// CheckConfig loads and checks a config file, prints a summary to stdout and
// returns the exit code: 0 valid, 2 invalid.
func CheckConfig(path string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintln(stderr, "corral: --config.check needs --config.file")
		return 2
	}
	cfg, err := configs.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: OK\n", path)
	for _, sc := range cfg.ScrapeConfigs {
		fmt.Fprintf(stdout, "job %s: every %s (timeout %s), %d static group(s), %d file_sd config(s), registry %v\n",
			sc.JobName, sc.ScrapeInterval, sc.ScrapeTimeout, len(sc.StaticConfigs), len(sc.FileSDConfigs), sc.Registry)
	}
	fmt.Fprintf(stdout, "storage: %s\n", redactURL(cfg.Storage.URL))
	if c := cfg.Cluster; c.Enabled {
		fmt.Fprintf(stdout, "cluster: replica %s, lease renewed every %s, expires after %s\n", replicaName(c, ""), c.LeaseInterval, c.LeaseExpiry)
	}
	if a := cfg.Alerting; a.Active() {
		var urls []string
		for _, am := range a.Alertmanagers {
			urls = append(urls, am.URLs()...)
		}
		fmt.Fprintf(stdout, "alerting: every %s to %d Alertmanager(s) %v\n", a.EvaluationInterval, len(urls), urls)
	}
	return 0
}

// redactURL hides a password in a store URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// storeURL makes a relative sqlite path explicit for the store.
func storeURL(u string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") || strings.HasPrefix(u, "sqlite:") || strings.HasPrefix(u, "file:") {
		return u
	}
	return "sqlite:" + u
}
