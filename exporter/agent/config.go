// Package agent is corral-agent: the configuration file, the built-in collectors
// wired to the exporter SDK, the listener, restart, and the simulate mode.
package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/mysql"
	"github.com/corral-dev/corral/exporter/postgres"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// Config is the agent's configuration file.
type Config struct {
	Collector CollectorConfig `yaml:"collector"`
	Listen    ListenConfig    `yaml:"listen"`
	Control   ControlConfig   `yaml:"control"`
	Log       LogConfig       `yaml:"log"`
	// StateFile keeps paused state, config generation and applied config changes
	// across restarts (default: next to the config file, <name>.state.json).
	StateFile string `yaml:"state_file"`
	// ShutdownTimeout bounds how long SIGTERM waits for an in-flight collection.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Restart says how the restart command restarts: "respawn" starts a new process
	// and exits (default), "exit" only exits with status 0 and leaves the restart to
	// a supervisor (systemd Restart=always, Kubernetes).
	Restart string `yaml:"restart"`

	// baseDir is the folder of the config file; relative paths resolve from it.
	baseDir string
	// metricsTokenSHA256 is the hex SHA-256 of the metrics token; the token itself
	// is dropped as soon as it is read.
	metricsTokenSHA256 string
	trustedKeys        []ed25519.PublicKey
}

// CollectorConfig says what the agent collects and how often.
type CollectorConfig struct {
	Name             string                   `yaml:"name"`
	Kind             string                   `yaml:"kind"`
	Interval         time.Duration            `yaml:"interval"`
	Jitter           time.Duration            `yaml:"jitter"`
	Timeout          time.Duration            `yaml:"timeout"`
	ExpectedItems    float64                  `yaml:"expected_items"`
	ExpectedInterval time.Duration            `yaml:"expected_interval"`
	ErrorAfter       int                      `yaml:"error_after"`
	Retry            RetryConfig              `yaml:"retry"`
	Active           *exporter.ScheduleConfig `yaml:"active"`
	Postgres         *postgres.Config         `yaml:"postgres"`
	MySQL            *mysql.Config            `yaml:"mysql"`
	Synthetic        *synthetic.Config        `yaml:"synthetic"`
}

// RetryConfig is exporter.RetryPolicy in YAML.
type RetryConfig struct {
	Attempts       int           `yaml:"attempts"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// ListenConfig is the one HTTP listener of the agent.
type ListenConfig struct {
	Address string    `yaml:"address"`
	TLS     TLSConfig `yaml:"tls"`
	// The bearer token /metrics and /logs require: from a file, an environment
	// variable, or given as its SHA-256 (hex). None: the endpoints are open.
	MetricsTokenFile   string `yaml:"metrics_token_file"`
	MetricsTokenEnv    string `yaml:"metrics_token_env"`
	MetricsTokenSHA256 string `yaml:"metrics_token_sha256"`
}

// TLSConfig turns on HTTPS when both files are set.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ControlConfig lists the keys whose signatures /control accepts.
type ControlConfig struct {
	TrustedKeys     []string `yaml:"trusted_keys"`
	TrustedKeyFiles []string `yaml:"trusted_key_files"`
}

// LogConfig sets the agent's logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // logfmt or json
	Buffer int    `yaml:"buffer"` // records kept for /logs
}

// Kinds lists the built-in collector kinds.
func Kinds() []string { return []string{"postgres", "mysql", "synthetic"} }

// ConfigError is a configuration that cannot be used; the program exits with 2.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads, strictly decodes, defaults and validates a config file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("read config: %w", err)}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &ConfigError{err}
	}
	cfg, err := ParseConfig(b, filepath.Dir(abs))
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("config %s: %w", path, err)}
	}
	if cfg.StateFile == "" {
		cfg.StateFile = strings.TrimSuffix(abs, filepath.Ext(abs)) + ".state.json"
	}
	return cfg, nil
}

// ParseConfig decodes a config; relative paths resolve from baseDir. Secrets named
// by the config are read here: a missing secret is a config error.
func ParseConfig(b []byte, baseDir string) (*Config, error) {
	cfg := &Config{baseDir: baseDir}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty; see configs/agent.*.example.yml")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; an agent config is one document")
	}
	if err := cfg.defaultsAndValidate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.baseDir, p)
}

func (c *Config) defaultsAndValidate() error {
	cc := &c.Collector
	if cc.Name == "" {
		return errors.New("collector.name: required (the collector's identity, e.g. pg-orders-primary)")
	}
	if len(cc.Name) > 128 || strings.ContainsAny(cc.Name, " \t\n\"'") {
		return fmt.Errorf("collector.name: %q must be at most 128 characters without spaces or quotes", cc.Name)
	}
	if cc.Interval == 0 {
		cc.Interval = time.Minute
	}
	if cc.Interval < time.Second {
		return fmt.Errorf("collector.interval: %s is below the minimum of 1s", cc.Interval)
	}
	if cc.Timeout == 0 {
		cc.Timeout = cc.Interval
	}
	if cc.Timeout < 0 || cc.Jitter < 0 || cc.ExpectedInterval < 0 {
		return errors.New("collector: timeout, jitter and expected_interval must not be negative")
	}
	if cc.Jitter >= cc.Interval {
		return fmt.Errorf("collector.jitter: %s must be below the interval %s", cc.Jitter, cc.Interval)
	}
	if cc.ExpectedItems < 0 {
		return errors.New("collector.expected_items: must not be negative")
	}
	if cc.ErrorAfter < 0 || cc.Retry.Attempts < 0 || cc.Retry.InitialBackoff < 0 || cc.Retry.MaxBackoff < 0 {
		return errors.New("collector: error_after and retry values must not be negative")
	}
	if cc.Active != nil {
		if _, err := cc.Active.Build("collector.active"); err != nil {
			return err
		}
	}
	sections := 0
	for _, set := range []bool{cc.Postgres != nil, cc.MySQL != nil, cc.Synthetic != nil} {
		if set {
			sections++
		}
	}
	if sections > 1 {
		return errors.New("collector: more than one of postgres, mysql, synthetic is set; an agent runs one collector")
	}
	switch cc.Kind {
	case "postgres":
		if cc.Postgres == nil {
			cc.Postgres = &postgres.Config{}
		}
		cc.Postgres.Defaults()
		if err := cc.Postgres.Validate(c.baseDir); err != nil {
			return fmt.Errorf("collector.%w", err)
		}
	case "mysql":
		if cc.MySQL == nil {
			cc.MySQL = &mysql.Config{}
		}
		cc.MySQL.Defaults()
		if err := cc.MySQL.Validate(c.baseDir); err != nil {
			return fmt.Errorf("collector.%w", err)
		}
	case "synthetic":
		if cc.Synthetic == nil {
			cc.Synthetic = &synthetic.Config{}
		}
		cc.Synthetic.Defaults()
		if err := cc.Synthetic.Validate(); err != nil {
			return fmt.Errorf("collector.synthetic.%w", err)
		}
		if cc.ExpectedItems == 0 && cc.Synthetic.Rate > 0 {
			iv := cc.ExpectedInterval
			if iv == 0 {
				iv = cc.Interval
			}
			cc.ExpectedItems = cc.Synthetic.Rate * iv.Seconds()
		}
	case "":
		return fmt.Errorf("collector.kind: required, one of %s", strings.Join(Kinds(), ", "))
	default:
		return fmt.Errorf("collector.kind: unknown kind %q, want one of %s", cc.Kind, strings.Join(Kinds(), ", "))
	}
	if (cc.Postgres != nil && cc.Kind != "postgres") || (cc.MySQL != nil && cc.Kind != "mysql") || (cc.Synthetic != nil && cc.Kind != "synthetic") {
		return fmt.Errorf("collector: kind is %s but a section for another kind is set", cc.Kind)
	}

	if c.Listen.Address == "" {
		c.Listen.Address = ":9470"
	}
	if (c.Listen.TLS.CertFile == "") != (c.Listen.TLS.KeyFile == "") {
		return errors.New("listen.tls: set both cert_file and key_file, or neither")
	}
	c.Listen.TLS.CertFile = c.path(c.Listen.TLS.CertFile)
	c.Listen.TLS.KeyFile = c.path(c.Listen.TLS.KeyFile)
	for field, f := range map[string]string{"listen.tls.cert_file": c.Listen.TLS.CertFile, "listen.tls.key_file": c.Listen.TLS.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
	}
	if err := c.loadMetricsToken(); err != nil {
		return err
	}
	for i, k := range c.Control.TrustedKeys {
		pub, err := control.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("control.trusted_keys[%d]: %w", i, err)
		}
		c.trustedKeys = append(c.trustedKeys, pub)
	}
	for i, f := range c.Control.TrustedKeyFiles {
		b, err := os.ReadFile(c.path(f))
		if err != nil {
			return fmt.Errorf("control.trusted_key_files[%d]: %w", i, err)
		}
		pub, err := control.ParsePublicKey(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("control.trusted_key_files[%d] (%s): %w", i, f, err)
		}
		c.trustedKeys = append(c.trustedKeys, pub)
	}

	switch strings.ToLower(c.Log.Level) {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q, want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "logfmt"
	case "logfmt", "json":
	default:
		return fmt.Errorf("log.format: %q, want logfmt or json", c.Log.Format)
	}
	if c.Log.Buffer == 0 {
		c.Log.Buffer = 1000
	}
	if c.Log.Buffer < 0 || c.Log.Buffer > 1_000_000 {
		return errors.New("log.buffer: must be between 1 and 1000000")
	}
	c.StateFile = c.path(c.StateFile)
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	switch c.Restart {
	case "":
		c.Restart = "respawn"
	case "respawn", "exit":
	default:
		return fmt.Errorf("restart: %q, want respawn or exit", c.Restart)
	}
	return nil
}

func (c *Config) loadMetricsToken() error {
	l := &c.Listen
	set := 0
	for _, s := range []string{l.MetricsTokenFile, l.MetricsTokenEnv, l.MetricsTokenSHA256} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("listen: set at most one of metrics_token_file, metrics_token_env, metrics_token_sha256")
	}
	var token string
	switch {
	case l.MetricsTokenFile != "":
		l.MetricsTokenFile = c.path(l.MetricsTokenFile)
		b, err := os.ReadFile(l.MetricsTokenFile)
		if err != nil {
			return fmt.Errorf("listen.metrics_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return fmt.Errorf("listen.metrics_token_file: %s is empty", l.MetricsTokenFile)
		}
	case l.MetricsTokenEnv != "":
		token = strings.TrimSpace(os.Getenv(l.MetricsTokenEnv))
		if token == "" {
			return fmt.Errorf("listen.metrics_token_env: environment variable %s is not set or empty", l.MetricsTokenEnv)
		}
	case l.MetricsTokenSHA256 != "":
		b, err := hex.DecodeString(l.MetricsTokenSHA256)
		if err != nil || len(b) != sha256.Size {
			return errors.New("listen.metrics_token_sha256: must be 64 hex characters (the output of sha256sum)")
		}
		c.metricsTokenSHA256 = strings.ToLower(l.MetricsTokenSHA256)
		return nil
	default:
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	c.metricsTokenSHA256 = hex.EncodeToString(sum[:])
	return nil
}

// Summary describes the config for `check config` without any secret.
func (c *Config) Summary() string {
	var b strings.Builder
	cc := c.Collector
	fmt.Fprintf(&b, "collector %s (kind %s): every %s", cc.Name, cc.Kind, cc.Interval)
	if cc.Jitter > 0 {
		fmt.Fprintf(&b, " + up to %s jitter", cc.Jitter)
	}
	fmt.Fprintf(&b, ", timeout %s\n", cc.Timeout)
	if cc.ExpectedItems > 0 {
		iv := cc.ExpectedInterval
		if iv == 0 {
			iv = cc.Interval
		}
		fmt.Fprintf(&b, "expects %g items per %s\n", cc.ExpectedItems, iv)
	}
	if cc.Active != nil {
		fmt.Fprintf(&b, "active %s-%s %s on %v\n", cc.Active.From, cc.Active.To, cc.Active.Timezone, cc.Active.Days)
	}
	scheme := "http"
	if c.Listen.TLS.CertFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(&b, "listens on %s (%s)", c.Listen.Address, scheme)
	if c.metricsTokenSHA256 != "" {
		b.WriteString(", /metrics and /logs need a bearer token")
	}
	b.WriteString("\n")
	if len(c.trustedKeys) == 0 {
		b.WriteString("control: disabled (no trusted keys)\n")
	} else {
		ids := make([]string, len(c.trustedKeys))
		for i, k := range c.trustedKeys {
			ids[i] = control.KeyID(k)
		}
		fmt.Fprintf(&b, "control: trusts keys %s\n", strings.Join(ids, ", "))
	}
	fmt.Fprintf(&b, "state file: %s\n", c.StateFile)
	return b.String()
}
