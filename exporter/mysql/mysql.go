// Package mysql is the corral collector for MySQL 8 and MariaDB. It has two sources
// of statements:
//
//   - statement digests, the top Config.DigestLimit rows of
//     performance_schema.events_statements_summary_by_digest by total time, exposed
//     with the metric names of mysqld_exporter (mysql_perf_schema_events_statements_*);
//     each digest read is one item;
//   - the slow query log, when it is written to the mysql.slow_log table: every row
//     newer than the last one seen is one item. The first collection only notes
//     where the table ends (its newest start_time) and counts nothing, so that an
//     agent start does not count the table's history.
//
// The newest item is the newest of the digests' LAST_SEEN and the slow-log rows'
// start_time. A collection fails only when neither source is available; a source
// that is not is logged once (and again when the reason changes) and reported by
// TestConnection. The collector's own session sets a long long_query_time, so its
// queries stay out of the slow log it reads.
package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/exporter"
)

// Names of the sources, in logs, errors and TestConnection.
const (
	sourceDigests = "statement_digests"
	sourceSlowLog = "slow_log"
)

// digestTextLimit is the length of the digest_text label (as mysqld_exporter's
// default).
const digestTextLimit = 120

// Collector collects statement digests and slow-log rows. It implements
// exporter.Collector, ConnectionTester, Configurable, CredentialReloader and
// MetricsProvider.
type Collector struct {
	logger  *slog.Logger
	cfg     Config // DSN and password sources; fixed after New
	metrics *metrics

	setMu       sync.Mutex // guards the run-time settings
	digestLimit int
	slowLog     bool
	slowBatch   int

	connMu   sync.Mutex // guards everything below; serialises collections
	password string
	secrets  []string
	db       *sql.DB
	primed   bool      // the slow-log mark has been taken
	mark     time.Time // start_time of the newest slow-log row counted
	reasons  map[string]string
}

var (
	_ exporter.Collector          = (*Collector)(nil)
	_ exporter.ConnectionTester   = (*Collector)(nil)
	_ exporter.Configurable       = (*Collector)(nil)
	_ exporter.CredentialReloader = (*Collector)(nil)
	_ exporter.MetricsProvider    = (*Collector)(nil)
)

// New returns a collector for cfg, which must have been validated (Defaults, then
// decoding, then Validate). It reads the password but does not connect.
func New(cfg Config, logger *slog.Logger) (*Collector, error) {
	if err := checkRange(cfg.DigestLimit, MaxDigestLimit); err != nil {
		return nil, fmt.Errorf("mysql.digest_limit: %w", err)
	}
	if err := checkRange(cfg.SlowLogBatch, MaxSlowLogBatch); err != nil {
		return nil, fmt.Errorf("mysql.slow_log_batch: %w", err)
	}
	pw, err := cfg.readPassword()
	if err != nil {
		return nil, err
	}
	return &Collector{
		logger:      logger,
		cfg:         cfg,
		metrics:     newMetrics(),
		digestLimit: cfg.DigestLimit,
		slowLog:     cfg.SlowLog,
		slowBatch:   cfg.SlowLogBatch,
		password:    pw,
		secrets:     append(dsnSecrets(cfg.DSN), pw),
		reasons:     make(map[string]string),
	}, nil
}

// Metrics implements exporter.MetricsProvider.
func (c *Collector) Metrics() []prometheus.Collector { return []prometheus.Collector{c.metrics} }

// Collect implements exporter.Collector.
func (c *Collector) Collect(ctx context.Context) (exporter.Result, error) {
	c.setMu.Lock()
	limit, slowLog, batch := c.digestLimit, c.slowLog, c.slowBatch
	c.setMu.Unlock()

	c.connMu.Lock()
	defer c.connMu.Unlock()
	db, err := c.open()
	if err != nil {
		c.metrics.fail(false)
		return exporter.Result{}, err
	}
	src, err := c.probe(ctx, db, slowLog)
	if err != nil {
		c.metrics.fail(false)
		return exporter.Result{}, err
	}
	var (
		res     exporter.Result
		digests []digest
	)
	if src.digests == "" {
		digests, err = c.readDigests(ctx, db, limit)
		switch {
		case isAccessDenied(err):
			src.digests = "cannot read performance_schema.events_statements_summary_by_digest (" + err.Error() + "): GRANT SELECT ON performance_schema.* TO the collector's user"
		case err != nil:
			c.metrics.fail(true)
			return exporter.Result{}, err
		}
		res.Items += len(digests)
		for _, d := range digests {
			if d.lastSeen.After(res.Newest) {
				res.Newest = d.lastSeen
			}
		}
	}
	var slowRows int
	if src.slowLog == "" {
		n, newest, err := c.readSlowLog(ctx, db, batch)
		switch {
		case isAccessDenied(err):
			src.slowLog = "cannot read mysql.slow_log (" + err.Error() + "): GRANT SELECT ON mysql.slow_log TO the collector's user"
		case err != nil:
			c.metrics.fail(true)
			return exporter.Result{}, err
		}
		slowRows = n
		res.Items += n
		if newest.After(res.Newest) {
			res.Newest = newest
		}
	}
	if src.digests != "" && src.slowLog != "" {
		c.metrics.fail(true)
		return exporter.Result{}, fmt.Errorf("no statement source is available on %s: %s: %s; %s: %s",
			src.version, sourceDigests, src.digests, sourceSlowLog, src.slowLog)
	}
	c.noteReasons(src)
	c.metrics.set(digests, slowRows)
	return res, nil
}

// TestConnection implements exporter.ConnectionTester: it connects afresh and reports
// the server version and which sources are available, and why not.
func (c *Collector) TestConnection(ctx context.Context) (map[string]any, error) {
	c.setMu.Lock()
	slowLog := c.slowLog
	c.setMu.Unlock()
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.closeDB() // check the current credentials, not a pooled connection
	db, err := c.open()
	if err != nil {
		return nil, err
	}
	src, err := c.probe(ctx, db, slowLog)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"server_version": src.version}
	for _, s := range []struct{ name, reason string }{{sourceDigests, src.digests}, {sourceSlowLog, src.slowLog}} {
		out[s.name] = s.reason == ""
		if s.reason != "" {
			out[s.name+"_reason"] = s.reason
		}
	}
	return out, nil
}

// ApplyConfig implements exporter.Configurable. It accepts the keys digest_limit,
// slow_log and slow_log_batch, checks all of them, then applies them together.
func (c *Collector) ApplyConfig(_ context.Context, raw json.RawMessage) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return fmt.Errorf("mysql config: want a JSON object with digest_limit, slow_log and/or slow_log_batch: %w", err)
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	limit, slowLog, batch := c.digestLimit, c.slowLog, c.slowBatch
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v := keys[k]
		switch k {
		case "digest_limit":
			if err := json.Unmarshal(v, &limit); err != nil {
				return fmt.Errorf("digest_limit: want an integer between 1 and %d, got %s", MaxDigestLimit, v)
			}
			if err := checkRange(limit, MaxDigestLimit); err != nil {
				return fmt.Errorf("digest_limit: %w", err)
			}
		case "slow_log":
			if err := json.Unmarshal(v, &slowLog); err != nil {
				return fmt.Errorf("slow_log: want true or false, got %s", v)
			}
		case "slow_log_batch":
			if err := json.Unmarshal(v, &batch); err != nil {
				return fmt.Errorf("slow_log_batch: want an integer between 1 and %d, got %s", MaxSlowLogBatch, v)
			}
			if err := checkRange(batch, MaxSlowLogBatch); err != nil {
				return fmt.Errorf("slow_log_batch: %w", err)
			}
		default:
			return fmt.Errorf("%s: unknown key; the mysql collector accepts digest_limit, slow_log and slow_log_batch", k)
		}
	}
	c.digestLimit, c.slowLog, c.slowBatch = limit, slowLog, batch
	return nil
}

// CurrentConfig implements exporter.ConfigReporter.
func (c *Collector) CurrentConfig() []exporter.ConfigKey {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return []exporter.ConfigKey{
		{Key: "digest_limit", Value: c.digestLimit, Doc: fmt.Sprintf("statement digests per collection, 1–%d (corral's query_limit)", MaxDigestLimit)},
		{Key: "slow_log", Value: c.slowLog, Doc: "read the slow query log"},
		{Key: "slow_log_batch", Value: c.slowBatch, Doc: fmt.Sprintf("slow log rows per collection, 1–%d", MaxSlowLogBatch)},
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
	c.closeDB()
	db, err := c.open()
	if err != nil {
		return err
	}
	if err := db.PingContext(ctx); err != nil {
		return c.connectError(err)
	}
	return nil
}

// Close closes the connections to the server.
func (c *Collector) Close() error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.closeDB()
	return nil
}

// open returns the connection pool, making it if needed (without connecting).
// c.connMu must be held.
func (c *Collector) open() (*sql.DB, error) {
	if c.db != nil {
		return c.db, nil
	}
	cfg, err := mysqldrv.ParseDSN(c.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("mysql.dsn: %w", redact(err, c.secrets))
	}
	if c.password != "" {
		cfg.Passwd = c.password
	}
	cfg.ParseTime, cfg.Loc = true, time.UTC
	if cfg.Params == nil {
		cfg.Params = make(map[string]string)
	}
	// Session settings (one SET on connect): times in UTC on both sides, and our own
	// queries kept out of the slow log we read.
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["long_query_time"] = "31536000"
	conn, err := mysqldrv.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql.dsn: %w", redact(err, c.secrets))
	}
	c.db = sql.OpenDB(conn)
	c.db.SetMaxOpenConns(1)
	c.db.SetConnMaxLifetime(10 * time.Minute)
	return c.db, nil
}

func (c *Collector) closeDB() {
	if c.db != nil {
		_ = c.db.Close()
		c.db = nil
	}
}

func (c *Collector) connectError(err error) error {
	return fmt.Errorf("connect to mysql (check that it runs and that the dsn and password are right): %w", redact(err, c.secrets))
}

// sources says, per source, why it is not available ("" when it is).
type sources struct {
	version          string
	digests, slowLog string
}

// probe reads the server version and the settings the sources depend on.
func (c *Collector) probe(ctx context.Context, db *sql.DB, slowLog bool) (sources, error) {
	var (
		src       sources
		perf      int
		logOutput string
		slowOn    int
	)
	err := db.QueryRowContext(ctx, "SELECT VERSION(), @@global.performance_schema, @@global.log_output, @@global.slow_query_log").
		Scan(&src.version, &perf, &logOutput, &slowOn)
	if err != nil {
		return src, c.connectError(err)
	}
	if perf == 0 {
		src.digests = "performance_schema is disabled: start mysqld with --performance-schema=ON"
	} else {
		var enabled int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM performance_schema.setup_consumers
			WHERE NAME IN ('global_instrumentation', 'statements_digest') AND ENABLED = 'YES'`).Scan(&enabled)
		switch {
		case isAccessDenied(err):
			src.digests = "cannot read performance_schema (" + err.Error() + "): GRANT SELECT ON performance_schema.* TO the collector's user"
		case err != nil:
			return src, fmt.Errorf("read performance_schema.setup_consumers: %w", redact(err, c.secrets))
		case enabled < 2:
			src.digests = "the performance_schema consumers global_instrumentation and statements_digest are not both enabled: " +
				"UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME IN ('global_instrumentation', 'statements_digest')"
		}
	}
	switch {
	case !slowLog:
		src.slowLog = "turned off by slow_log: false in the config"
	case slowOn == 0:
		src.slowLog = "slow_query_log is OFF: SET GLOBAL slow_query_log = ON (and long_query_time to the threshold wanted)"
	case !slices.Contains(strings.Split(strings.ToUpper(logOutput), ","), "TABLE"):
		src.slowLog = fmt.Sprintf("log_output is %s, not TABLE: SET GLOBAL log_output = 'TABLE' (or 'FILE,TABLE')", logOutput)
	}
	return src, nil
}

// noteReasons logs a source that became unavailable, or available again, once.
func (c *Collector) noteReasons(src sources) {
	for _, s := range []struct{ name, reason string }{{sourceDigests, src.digests}, {sourceSlowLog, src.slowLog}} {
		if c.reasons[s.name] == s.reason {
			continue
		}
		if s.reason == "" {
			c.logger.Info("statement source available again", "source", s.name)
		} else {
			c.logger.Warn("statement source unavailable, collecting without it", "source", s.name, "reason", s.reason)
		}
		c.reasons[s.name] = s.reason
	}
}

func isAccessDenied(err error) bool {
	var me *mysqldrv.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1044, 1142, 1143, 1227: // db, table, column access denied; needs a privilege
		return true
	}
	return false
}

// digest is one row of events_statements_summary_by_digest; timers in seconds.
type digest struct {
	schema, digest, text string
	count, seconds       float64
	errors, warnings     float64
	rowsAffected         float64
	rowsSent             float64
	rowsExamined         float64
	tmpTables            float64
	tmpDiskTables        float64
	sortMergePasses      float64
	sortRows             float64
	noIndexUsed          float64
	lastSeen             time.Time
}

// readDigests reads the top digests by total time. The columns are those MySQL 8
// and MariaDB have in common.
func (c *Collector) readDigests(ctx context.Context, db *sql.DB, limit int) ([]digest, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT IFNULL(SCHEMA_NAME, 'NONE'), IFNULL(DIGEST, ''), IFNULL(LEFT(DIGEST_TEXT, %d), ''),
	COUNT_STAR, SUM_TIMER_WAIT, SUM_ERRORS, SUM_WARNINGS,
	SUM_ROWS_AFFECTED, SUM_ROWS_SENT, SUM_ROWS_EXAMINED,
	SUM_CREATED_TMP_TABLES, SUM_CREATED_TMP_DISK_TABLES,
	SUM_SORT_MERGE_PASSES, SUM_SORT_ROWS, SUM_NO_INDEX_USED, LAST_SEEN
FROM performance_schema.events_statements_summary_by_digest
WHERE SCHEMA_NAME IS NULL OR SCHEMA_NAME NOT IN ('mysql', 'performance_schema', 'information_schema')
ORDER BY SUM_TIMER_WAIT DESC
LIMIT ?`, digestTextLimit), limit)
	if err != nil {
		return nil, c.digestError(err)
	}
	defer rows.Close()
	var out []digest
	for rows.Next() {
		var (
			d        digest
			lastSeen sql.NullTime
		)
		if err := rows.Scan(&d.schema, &d.digest, &d.text, &d.count, &d.seconds, &d.errors, &d.warnings,
			&d.rowsAffected, &d.rowsSent, &d.rowsExamined, &d.tmpTables, &d.tmpDiskTables,
			&d.sortMergePasses, &d.sortRows, &d.noIndexUsed, &lastSeen); err != nil {
			return nil, c.digestError(err)
		}
		d.seconds /= 1e12 // timers are in picoseconds
		d.lastSeen = lastSeen.Time
		d.text = strings.ToValidUTF8(d.text, "\uFFFD")
		d.schema = strings.ToValidUTF8(d.schema, "\uFFFD")
		out = append(out, d)
	}
	return out, c.digestError(rows.Err())
}

func (c *Collector) digestError(err error) error {
	if err == nil || isAccessDenied(err) {
		return err
	}
	return fmt.Errorf("read performance_schema.events_statements_summary_by_digest: %w", redact(err, c.secrets))
}

// readSlowLog counts the slow-log rows newer than the mark, at most batch of them,
// and moves the mark to the newest one counted. The first call only takes the mark.
func (c *Collector) readSlowLog(ctx context.Context, db *sql.DB, batch int) (int, time.Time, error) {
	if !c.primed {
		var mark sql.NullTime
		if err := db.QueryRowContext(ctx, "SELECT MAX(start_time) FROM mysql.slow_log").Scan(&mark); err != nil {
			return 0, time.Time{}, c.slowLogError(err)
		}
		c.mark, c.primed = mark.Time, true // an empty table: every row to come is new
		return 0, time.Time{}, nil
	}
	var (
		rows *sql.Rows
		err  error
	)
	if c.mark.IsZero() {
		rows, err = db.QueryContext(ctx, "SELECT start_time FROM mysql.slow_log ORDER BY start_time LIMIT ?", batch+1)
	} else {
		rows, err = db.QueryContext(ctx, "SELECT start_time FROM mysql.slow_log WHERE start_time > ? ORDER BY start_time LIMIT ?", c.mark, batch+1)
	}
	if err != nil {
		return 0, time.Time{}, c.slowLogError(err)
	}
	defer rows.Close()
	var times []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			return 0, time.Time{}, c.slowLogError(err)
		}
		times = append(times, t)
	}
	if err := rows.Err(); err != nil {
		return 0, time.Time{}, c.slowLogError(err)
	}
	// One row more than the batch was asked for, to see whether the batch would cut
	// the rows of its last start_time in two: if so, leave those for the next
	// collection. Should the whole batch share one start_time, count all the rows
	// of that time now, past the batch, rather than lose some.
	if len(times) > batch {
		next := times[batch]
		keep := batch
		for keep > 0 && times[keep-1].Equal(next) {
			keep--
		}
		if keep == 0 {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.slow_log WHERE start_time = ?", next).Scan(&n); err != nil {
				return 0, time.Time{}, c.slowLogError(err)
			}
			c.mark = next
			return n, next, nil
		}
		times = times[:keep]
	}
	if len(times) == 0 {
		return 0, time.Time{}, nil
	}
	c.mark = times[len(times)-1]
	return len(times), c.mark, nil
}

func (c *Collector) slowLogError(err error) error {
	if isAccessDenied(err) {
		return err
	}
	return fmt.Errorf("read mysql.slow_log: %w", redact(err, c.secrets))
}
