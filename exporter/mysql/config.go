package mysql

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/corral-dev/corral/exporter/secret"
)

// Defaults and limits of the config.
const (
	DefaultDigestLimit  = 100
	MaxDigestLimit      = 10000
	DefaultSlowLogBatch = 1000
	MaxSlowLogBatch     = 100000
)

// Config of the mysql collector (MySQL 8 and MariaDB), decoded strictly from YAML
// (the `mysql:` block of the agent's config) after Defaults.
type Config struct {
	// DSN is a go-sql-driver/mysql DSN: user[:password]@tcp(host:port)/[db]. The
	// password is better kept in password_file or password_env.
	DSN string `yaml:"dsn" json:"dsn"`
	// PasswordFile is a file whose content (less a trailing newline) is the password;
	// relative to the config file. It takes precedence over a password in the DSN.
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// PasswordEnv is the name of an environment variable holding the password.
	PasswordEnv string `yaml:"password_env" json:"password_env"`
	// DigestLimit is how many statement digests of
	// performance_schema.events_statements_summary_by_digest, the top by total time,
	// each collection reads and exposes (default 100).
	DigestLimit int `yaml:"digest_limit" json:"digest_limit"`
	// SlowLog reads new rows of the mysql.slow_log table as items (default true). It
	// needs log_output to include TABLE and slow_query_log ON.
	SlowLog bool `yaml:"slow_log" json:"slow_log"`
	// SlowLogBatch is the most slow-log rows one collection reads (default 1000); the
	// rest wait for the next collection.
	SlowLogBatch int `yaml:"slow_log_batch" json:"slow_log_batch"`
}

// Defaults fills unset fields. Call it on a zero Config before decoding: it turns
// slow_log on, which the YAML may then turn off.
func (c *Config) Defaults() {
	if c.DigestLimit == 0 {
		c.DigestLimit = DefaultDigestLimit
	}
	if c.SlowLogBatch == 0 {
		c.SlowLogBatch = DefaultSlowLogBatch
	}
	c.SlowLog = true
}

// Validate checks the config and makes password_file absolute, relative to baseDir
// (the directory of the config file). Errors name the field.
func (c *Config) Validate(baseDir string) error {
	if strings.TrimSpace(c.DSN) == "" {
		return errors.New("mysql.dsn: required, e.g. monitor@tcp(db.example:3306)/")
	}
	if _, err := mysqldrv.ParseDSN(c.DSN); err != nil {
		return fmt.Errorf("mysql.dsn: %w (the form is user@tcp(host:port)/db)", redact(err, dsnSecrets(c.DSN)))
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		return errors.New("mysql.password_file, mysql.password_env: set at most one of them")
	}
	if c.PasswordFile != "" && !filepath.IsAbs(c.PasswordFile) {
		c.PasswordFile = filepath.Join(baseDir, c.PasswordFile)
	}
	if err := checkRange(c.DigestLimit, MaxDigestLimit); err != nil {
		return fmt.Errorf("mysql.digest_limit: %w", err)
	}
	if err := checkRange(c.SlowLogBatch, MaxSlowLogBatch); err != nil {
		return fmt.Errorf("mysql.slow_log_batch: %w", err)
	}
	return nil
}

func checkRange(n, max int) error {
	if n < 1 || n > max {
		return fmt.Errorf("must be between 1 and %d, got %d", max, n)
	}
	return nil
}

// readPassword returns the password from password_file or password_env; "" when
// neither is set (the DSN's own password, if any, is used then).
func (c *Config) readPassword() (string, error) {
	return secret.Read("mysql", c.PasswordFile, c.PasswordEnv)
}

// dsnSecrets returns the password written in a DSN (user:password@...), so that
// redact can take it out of error texts.
func dsnSecrets(dsn string) []string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return nil
	}
	if _, pw, ok := strings.Cut(dsn[:at], ":"); ok && pw != "" {
		return []string{pw}
	}
	return nil
}

// redact returns err with every secret in its text replaced by xxxxx.
func redact(err error, secrets []string) error { return secret.Redact(err, secrets) }
