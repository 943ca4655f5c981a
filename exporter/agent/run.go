package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/mysql"
	"github.com/corral-dev/corral/exporter/postgres"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// ErrRestart tells main to start a fresh process (Respawn) and exit.
var ErrRestart = exporter.ErrRestart

// Options for Run.
type Options struct {
	ConfigPath string
	Version    string
	Stderr     io.Writer // logs go here (default os.Stderr)
	// Listening, when set, is called with the bound address once the listener is up.
	Listening func(net.Addr)
}

// NewLogger builds the agent's logger from its log config; every record also goes
// into buf for /logs.
func NewLogger(w io.Writer, cfg LogConfig, buf *exporter.LogBuffer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Level)))
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, hopts)
	} else {
		h = slog.NewTextHandler(w, hopts)
	}
	if buf != nil {
		h = buf.Handler(h, level)
	}
	return slog.New(h)
}

// NewCollector builds the configured collector.
func NewCollector(cfg CollectorConfig, log *slog.Logger) (exporter.Collector, error) {
	switch cfg.Kind {
	case "postgres":
		return postgres.New(*cfg.Postgres, log)
	case "mysql":
		return mysql.New(*cfg.MySQL, log)
	case "synthetic":
		return synthetic.New(*cfg.Synthetic, uint64(time.Now().UnixNano())), nil
	}
	return nil, fmt.Errorf("collector.kind: unknown kind %q", cfg.Kind)
}

// AgentOptions maps the config onto the SDK's options.
func (c *Config) AgentOptions(version string) (exporter.Options, error) {
	cc := c.Collector
	o := exporter.Options{
		Name:               cc.Name,
		Kind:               cc.Kind,
		Version:            version,
		Interval:           cc.Interval,
		Jitter:             cc.Jitter,
		Timeout:            cc.Timeout,
		ExpectedItems:      cc.ExpectedItems,
		ExpectedInterval:   cc.ExpectedInterval,
		ErrorAfter:         cc.ErrorAfter,
		Retry:              exporter.RetryPolicy{Attempts: cc.Retry.Attempts, InitialBackoff: cc.Retry.InitialBackoff, MaxBackoff: cc.Retry.MaxBackoff},
		StopTimeout:        c.ShutdownTimeout,
		StatePath:          c.StateFile,
		TrustedKeys:        c.trustedKeys,
		MetricsTokenSHA256: c.metricsTokenSHA256,
		RestartSupported:   true,
	}
	if cc.Active != nil {
		s, err := cc.Active.Build("collector.active")
		if err != nil {
			return o, err
		}
		o.Schedule = s
	}
	return o, nil
}

// Run runs the agent of the config file until ctx ends (nil) or a restart command
// arrives (ErrRestart). A config error is a *ConfigError.
func Run(ctx context.Context, o Options) error {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	cfg, err := LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	buf := exporter.NewLogBuffer(cfg.Log.Buffer)
	log := NewLogger(o.Stderr, cfg.Log, buf).With("collector", cfg.Collector.Name)
	col, err := NewCollector(cfg.Collector, log)
	if err != nil {
		return &ConfigError{err}
	}
	if cl, ok := col.(io.Closer); ok {
		defer cl.Close()
	}
	opts, err := cfg.AgentOptions(o.Version)
	if err != nil {
		return &ConfigError{err}
	}
	opts.Logger = log
	opts.Logs = buf
	a, err := exporter.New(col, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen.Address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another agent using the port? set listen.address)", cfg.Listen.Address, err)
	}
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	tlsOn := cfg.Listen.TLS.CertFile != ""
	if tlsOn {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, cfg.Listen.TLS.CertFile, cfg.Listen.TLS.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
			cancel()
		}
		close(serveErr)
	}()
	log.Info("agent listening", "address", ln.Addr().String(), "tls", tlsOn, "pid", os.Getpid())
	runErr := a.Run(ctx)
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdownCtx)
	if err := <-serveErr; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if errors.Is(runErr, exporter.ErrRestart) {
		if cfg.Restart == "exit" {
			log.Info("exiting for restart by the supervisor")
			return nil
		}
		log.Info("restarting: starting a new process")
		return ErrRestart
	}
	log.Info("agent shut down")
	return runErr
}

// Respawn starts the running program again with the same arguments and environment,
// as a new process (so process_start_time_seconds changes), and returns once it has
// started; the caller then exits.
func Respawn() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("respawn: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("respawn %s: %w", exe, err)
	}
	return cmd.Process.Release()
}
