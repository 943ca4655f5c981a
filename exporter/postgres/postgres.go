// Package postgres is the corral collector for PostgreSQL: it reads the top
// statements of pg_stat_statements and exposes them with the metric names of
// postgres_exporter (pg_up, pg_stat_statements_calls_total, …).
//
// One collection run reads the top Config.Limit statements by total execution time,
// summed over (user, database, queryid). Each statement read is one item; since the
// view has no event time, the newest item is the time of the run.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/exporter"
)

// ErrNoPgStatStatements is wrapped by the errors of Collect when the
// pg_stat_statements extension is not usable in the database.
var ErrNoPgStatStatements = errors.New("pg_stat_statements is not available")

const enableHint = "to enable it add pg_stat_statements to shared_preload_libraries in postgresql.conf, " +
	"restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database"

// Collector collects pg_stat_statements. It implements exporter.Collector,
// ConnectionTester, Configurable, CredentialReloader and MetricsProvider.
type Collector struct {
	logger  *slog.Logger
	cfg     Config // DSN and password sources; fixed after New
	metrics *metrics

	setMu    sync.Mutex // guards the run-time settings
	limit    int
	withText bool

	connMu   sync.Mutex // guards the connection and the password; serialises its use
	password string
	secrets  []string // every password seen, for redact
	conn     *pgx.Conn
	version  string // server_version of conn
	verNum   int    // server_version_num of conn
}

var (
	_ exporter.Collector          = (*Collector)(nil)
	_ exporter.ConnectionTester   = (*Collector)(nil)
	_ exporter.Configurable       = (*Collector)(nil)
	_ exporter.CredentialReloader = (*Collector)(nil)
	_ exporter.MetricsProvider    = (*Collector)(nil)
)

// New returns a collector for cfg, which must have been validated. It reads the
// password but does not connect: the first collection does, so the agent starts
// while the database is down.
func New(cfg Config, logger *slog.Logger) (*Collector, error) {
	cfg.Defaults()
	if err := checkLimit(cfg.Limit); err != nil {
		return nil, fmt.Errorf("postgres.limit: %w", err)
	}
	pw, err := cfg.readPassword()
	if err != nil {
		return nil, err
	}
	return &Collector{
		logger:   logger,
		cfg:      cfg,
		metrics:  newMetrics(),
		limit:    cfg.Limit,
		withText: cfg.IncludeQueryText,
		password: pw,
		secrets:  append(dsnSecrets(cfg.DSN), pw),
	}, nil
}

// Metrics implements exporter.MetricsProvider.
func (c *Collector) Metrics() []prometheus.Collector { return []prometheus.Collector{c.metrics} }

// Collect implements exporter.Collector.
func (c *Collector) Collect(ctx context.Context) (exporter.Result, error) {
	c.setMu.Lock()
	limit, withText := c.limit, c.withText
	c.setMu.Unlock()

	c.connMu.Lock()
	defer c.connMu.Unlock()
	stmts, err := c.statements(ctx, limit, withText)
	if err != nil {
		// Up when connected: an error of the query (no extension) still is "up",
		// a refused connection or password is not.
		c.metrics.fail(c.conn != nil)
		return exporter.Result{}, err
	}
	c.metrics.set(stmts, withText)
	return exporter.Result{Items: len(stmts), Newest: time.Now()}, nil
}

// TestConnection implements exporter.ConnectionTester: it connects and reports the
// server version and whether pg_stat_statements can be read.
func (c *Collector) TestConnection(ctx context.Context) (map[string]any, error) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	// A fresh connection, so that the test checks the current credentials.
	c.closeConn()
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"server_version": c.version,
		"database":       conn.Config().Database,
		"user":           conn.Config().User,
	}
	_, err = c.statements(ctx, 1, false)
	switch {
	case err == nil:
		out["pg_stat_statements"] = true
	case errors.Is(err, ErrNoPgStatStatements):
		out["pg_stat_statements"] = false
		out["pg_stat_statements_error"] = err.Error()
	default:
		return nil, err
	}
	return out, nil
}

// ApplyConfig implements exporter.Configurable. It accepts the keys limit and
// include_query_text, checks all of them, then applies them together.
func (c *Collector) ApplyConfig(_ context.Context, raw json.RawMessage) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return fmt.Errorf("postgres config: want a JSON object with limit and/or include_query_text: %w", err)
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	limit, withText := c.limit, c.withText
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v := keys[k]
		switch k {
		case "limit":
			if err := json.Unmarshal(v, &limit); err != nil {
				return fmt.Errorf("limit: want an integer between 1 and %d, got %s", MaxLimit, v)
			}
			if err := checkLimit(limit); err != nil {
				return fmt.Errorf("limit: %w", err)
			}
		case "include_query_text":
			if err := json.Unmarshal(v, &withText); err != nil {
				return fmt.Errorf("include_query_text: want true or false, got %s", v)
			}
		default:
			return fmt.Errorf("%s: unknown key; the postgres collector accepts limit and include_query_text", k)
		}
	}
	c.limit, c.withText = limit, withText
	return nil
}

// CurrentConfig implements exporter.ConfigReporter.
func (c *Collector) CurrentConfig() []exporter.ConfigKey {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return []exporter.ConfigKey{
		{Key: "limit", Value: c.limit, Doc: fmt.Sprintf("statements per collection, 1–%d (corral's query_limit)", MaxLimit)},
		{Key: "include_query_text", Value: c.withText, Doc: "expose each statement's text as a label"},
	}
}

// ReloadCredentials implements exporter.CredentialReloader: it re-reads the password
// from password_file or password_env and reconnects with it.
func (c *Collector) ReloadCredentials(ctx context.Context) error {
	pw, err := c.cfg.readPassword()
	if err != nil {
		return err
	}
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.password = pw
	if !slices.Contains(c.secrets, pw) {
		c.secrets = append(c.secrets, pw)
	}
	c.closeConn()
	if _, err := c.connect(ctx); err != nil {
		return err
	}
	return nil
}

// Close closes the connection to the server.
func (c *Collector) Close() error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.closeConn()
	return nil
}

// connect returns the open connection or opens one. c.connMu must be held.
func (c *Collector) connect(ctx context.Context) (*pgx.Conn, error) {
	if c.conn != nil && !c.conn.IsClosed() {
		return c.conn, nil
	}
	c.conn = nil
	cc, err := pgx.ParseConfig(c.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres.dsn: %w", redact(err, c.secrets))
	}
	if c.password != "" {
		cc.Password = c.password
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "corral-agent"
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres (check that it runs and that the dsn and password are right): %w", redact(err, c.secrets))
	}
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").Scan(&c.version, &c.verNum); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("read the postgres server version: %w", redact(err, c.secrets))
	}
	c.conn = conn
	c.logger.Info("connected to postgres", "server_version", c.version, "database", cc.Database, "user", cc.User)
	return conn, nil
}

func (c *Collector) closeConn() {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}

// statement is one row of the summed pg_stat_statements.
type statement struct {
	user, datname, queryid, query string
	calls, seconds, rows          float64
	readSeconds, writeSeconds     float64
}

// statements reads the top limit statements. When a connection that was open before
// turns out broken (the server restarted), it tries once more on a new one.
// c.connMu must be held.
func (c *Collector) statements(ctx context.Context, limit int, withText bool) ([]statement, error) {
	for attempt := 1; ; attempt++ {
		reused := c.conn != nil
		conn, err := c.connect(ctx)
		if err != nil {
			return nil, err
		}
		stmts, err := c.query(ctx, conn, limit, withText)
		if err == nil {
			return stmts, nil
		}
		if !conn.IsClosed() {
			return nil, err // an error of the server or of the query: the connection is fine
		}
		c.conn = nil
		if !reused || attempt > 1 || ctx.Err() != nil {
			return nil, err
		}
	}
}

func (c *Collector) query(ctx context.Context, conn *pgx.Conn, limit int, withText bool) ([]statement, error) {
	total := "total_exec_time"
	if c.verNum < 130000 {
		total = "total_time"
	}
	read, write := "blk_read_time", "blk_write_time"
	if c.verNum >= 170000 {
		read, write = "shared_blk_read_time", "shared_blk_write_time"
	}
	text := "''"
	if withText {
		text = "left(min(s.query), 200)"
	}
	// Summed over toplevel (PostgreSQL 14+) so that the labels are unique. Statements
	// whose queryid the user may not see (no pg_read_all_stats) are left out.
	sql := fmt.Sprintf(`SELECT coalesce(r.rolname, s.userid::text),
	coalesce(d.datname, s.dbid::text),
	s.queryid::text,
	%[4]s,
	sum(s.calls)::float8,
	sum(s.%[1]s)::float8 / 1000,
	sum(s.rows)::float8,
	sum(s.%[2]s)::float8 / 1000,
	sum(s.%[3]s)::float8 / 1000
FROM pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY sum(s.%[1]s) DESC
LIMIT $1`, total, read, write, text)
	rows, err := conn.Query(ctx, sql, limit)
	if err != nil {
		return nil, c.queryError(conn, err)
	}
	defer rows.Close()
	stmts := make([]statement, 0, limit)
	for rows.Next() {
		var s statement
		if err := rows.Scan(&s.user, &s.datname, &s.queryid, &s.query, &s.calls, &s.seconds, &s.rows, &s.readSeconds, &s.writeSeconds); err != nil {
			return nil, fmt.Errorf("read pg_stat_statements: %w", err)
		}
		// Label values must be UTF-8 (a SQL_ASCII database may hold anything).
		s.user = strings.ToValidUTF8(s.user, "\uFFFD")
		s.datname = strings.ToValidUTF8(s.datname, "\uFFFD")
		s.query = strings.ToValidUTF8(s.query, "\uFFFD")
		stmts = append(stmts, s)
	}
	if err := rows.Err(); err != nil {
		return nil, c.queryError(conn, err)
	}
	return stmts, nil
}

func (c *Collector) queryError(conn *pgx.Conn, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "pg_stat_statements") &&
		(pgErr.Code == "42P01" || pgErr.Code == "55000") { // undefined_table, object_not_in_prerequisite_state
		return fmt.Errorf("%w in database %q (%w): %s", ErrNoPgStatStatements, conn.Config().Database, err, enableHint)
	}
	return fmt.Errorf("query pg_stat_statements: %w", redact(err, c.secrets))
}
