package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/corral-dev/corral/exporter/secret"
)

// Limits of Config.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Config of the postgres collector, decoded strictly from YAML (the `postgres:` block
// of the agent's config) after Defaults.
type Config struct {
	// DSN is a postgres:// URL or key=value connection string. It may carry the
	// password, but password_file or password_env are better places for it.
	DSN string `yaml:"dsn" json:"dsn"`
	// PasswordFile is a file whose content (less a trailing newline) is the password;
	// relative to the config file. It takes precedence over a password in the DSN.
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// PasswordEnv is the name of an environment variable holding the password.
	PasswordEnv string `yaml:"password_env" json:"password_env"`
	// Limit is how many statements, the top by total execution time, each collection
	// reads and exposes (default 100).
	Limit int `yaml:"limit" json:"limit"`
	// IncludeQueryText exposes the normalised text of each statement as
	// pg_stat_statements_query_id{queryid,query}. Off by default: the text can be
	// long, and with track_utility it may hold literals.
	IncludeQueryText bool `yaml:"include_query_text" json:"include_query_text"`
}

// Defaults fills unset fields; call it before decoding.
func (c *Config) Defaults() {
	if c.Limit == 0 {
		c.Limit = DefaultLimit
	}
}

// Validate checks the config and makes password_file absolute, relative to baseDir
// (the directory of the config file). Errors name the field.
func (c *Config) Validate(baseDir string) error {
	if strings.TrimSpace(c.DSN) == "" {
		return errors.New("postgres.dsn: required, e.g. postgres://monitor@db.example:5432/postgres")
	}
	if _, err := pgx.ParseConfig(c.DSN); err != nil {
		return fmt.Errorf("postgres.dsn: %w", redact(err, dsnSecrets(c.DSN)))
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		return errors.New("postgres.password_file, postgres.password_env: set at most one of them")
	}
	if c.PasswordFile != "" && !filepath.IsAbs(c.PasswordFile) {
		c.PasswordFile = filepath.Join(baseDir, c.PasswordFile)
	}
	if err := checkLimit(c.Limit); err != nil {
		return fmt.Errorf("postgres.limit: %w", err)
	}
	return nil
}

func checkLimit(n int) error {
	if n < 1 || n > MaxLimit {
		return fmt.Errorf("must be between 1 and %d, got %d", MaxLimit, n)
	}
	return nil
}

// readPassword returns the password from password_file or password_env; "" when
// neither is set (the DSN's own password, if any, is used then).
func (c *Config) readPassword() (string, error) {
	return secret.Read("postgres", c.PasswordFile, c.PasswordEnv)
}

var kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// dsnSecrets returns the password written in a DSN, in every spelling an error
// message might repeat it, so that redact can take it out.
func dsnSecrets(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		pw := strings.Trim(m[1], "'")
		if pw != "" {
			out = append(out, m[1], pw)
		}
	}
	// A URL that does not parse may still hold user:password@.
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				out = append(out, pw)
			}
		}
	}
	return out
}

// redact returns err with every secret in its text replaced by xxxxx.
func redact(err error, secrets []string) error { return secret.Redact(err, secrets) }
