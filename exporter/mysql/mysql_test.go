package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/corral-dev/corral/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newCollector(t *testing.T, cfg Config, apply ...func(*Config)) *Collector {
	t.Helper()
	cfg.Defaults()
	for _, f := range apply {
		f(&cfg)
	}
	if err := cfg.Validate(t.TempDir()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := New(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openDB opens dsn for the test's own statements.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysqldrv.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.DBName
}

func gather(t *testing.T, c *Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Metrics()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	out := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: want one sample, got %v", name, mf)
	}
	m := mf.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string)
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func TestCollect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.MariaDB(t)
	db := openDB(t, dsn)
	schema := dbName(t, dsn)
	execAll(t, db,
		"CREATE TABLE widgets (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO widgets VALUES (1, 'a'), (2, 'b'), (3, 'c')",
		"SELECT COUNT(*) FROM widgets WHERE id > 1",
		"SELECT COUNT(*) FROM widgets WHERE id > 2",
	)

	c := newCollector(t, Config{DSN: dsn}, func(c *Config) { c.DigestLimit = MaxDigestLimit })
	start := time.Now()
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if res.Items <= 0 {
		t.Errorf("first Collect: Items = %d, want the digests", res.Items)
	}
	mfs := gather(t, c)
	if up := value(t, mfs, "mysql_up"); up != 1 {
		t.Errorf("mysql_up = %v, want 1", up)
	}
	if n := value(t, mfs, "mysql_slow_queries_collected_total"); n != 0 {
		t.Errorf("mysql_slow_queries_collected_total = %v after the first collection, want 0 (it only takes the mark)", n)
	}
	digests := len(mfs["mysql_perf_schema_events_statements_total"].GetMetric())
	if digests != res.Items {
		t.Errorf("first Collect: Items = %d, want the %d digests exposed", res.Items, digests)
	}
	for _, name := range []string{
		"mysql_perf_schema_events_statements_total", "mysql_perf_schema_events_statements_seconds_total",
		"mysql_perf_schema_events_statements_rows_sent_total", "mysql_perf_schema_events_statements_rows_examined_total",
		"mysql_perf_schema_events_statements_rows_affected_total", "mysql_perf_schema_events_statements_errors_total",
		"mysql_perf_schema_events_statements_warnings_total", "mysql_perf_schema_events_statements_tmp_tables_total",
		"mysql_perf_schema_events_statements_tmp_disk_tables_total", "mysql_perf_schema_events_statements_sort_merge_passes_total",
		"mysql_perf_schema_events_statements_sort_rows_total", "mysql_perf_schema_events_statements_no_index_used_total",
	} {
		mf := mfs[name]
		if mf.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s: type %v, want counter", name, mf.GetType())
		}
		found := false
		for _, m := range mf.GetMetric() {
			l := labelsOf(m)
			if len(l) != 3 || l["digest"] == "" {
				t.Errorf("%s: labels %v, want schema, digest, digest_text", name, l)
			}
			if l["schema"] == schema && strings.Contains(l["digest_text"], "widgets") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no series for schema %s and the widgets statements", name, schema)
		}
	}

	// Every statement is slow on the test server: the next collection counts the
	// slow-log rows since the first one.
	execAll(t, db, "SELECT name FROM widgets WHERE id = 1", "SELECT name FROM widgets WHERE id = 2")
	waitSlowLog(t, db, "SELECT name FROM widgets WHERE id = %", 2)
	res, err = c.Collect(ctx)
	if err != nil {
		t.Fatalf("second Collect: %v", err)
	}
	mfs = gather(t, c)
	slow := value(t, mfs, "mysql_slow_queries_collected_total")
	if slow < 2 {
		t.Errorf("mysql_slow_queries_collected_total = %v, want at least the 2 statements run", slow)
	}
	if want := len(mfs["mysql_perf_schema_events_statements_total"].GetMetric()) + int(slow); res.Items != want {
		t.Errorf("second Collect: Items = %d, want digests + slow-log rows = %d", res.Items, want)
	}
	if res.Newest.Before(start.Add(-2*time.Second)) || res.Newest.After(time.Now().Add(2*time.Second)) {
		t.Errorf("Newest = %v, want about now (%v)", res.Newest, start)
	}

	// A smaller limit drops the digests that fell out of the top.
	if err := c.ApplyConfig(ctx, json.RawMessage(`{"digest_limit": 1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(gather(t, c)["mysql_perf_schema_events_statements_total"].GetMetric()); n != 1 {
		t.Errorf("%d digest series with digest_limit 1, want 1", n)
	}
}

// TestSlowLog counts slow-log rows exactly, on a server of its own.
func TestSlowLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.MariaDBServer(t)
	dsn := s.DSN(t)
	db := openDB(t, dsn)
	execAll(t, db, "CREATE TABLE t (id INT)")
	c := newCollector(t, Config{DSN: dsn}, func(c *Config) { c.SlowLogBatch = 2 })
	slowCount := func() float64 { return value(t, gather(t, c), "mysql_slow_queries_collected_total") }

	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if n := slowCount(); n != 0 {
		t.Fatalf("first collection counted %v slow-log rows, want 0", n)
	}
	// The collector's own queries stay out of the slow log.
	if _, err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := slowCount(); n != 0 {
		t.Fatalf("collections without other statements counted %v slow-log rows, want 0", n)
	}

	before := time.Now().Add(-time.Second)
	for i := range 5 {
		execAll(t, db, fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
		time.Sleep(2 * time.Millisecond) // distinct start_time, so batches cut cleanly
	}
	waitSlowLog(t, db, "INSERT INTO t VALUES %", 5)
	// Batches of 2: 2, 2, 1, 0.
	for i, want := range []float64{2, 4, 5, 5} {
		res, err := c.Collect(ctx)
		if err != nil {
			t.Fatalf("collection %d: %v", i, err)
		}
		if n := slowCount(); n != want {
			t.Errorf("after collection %d: %v slow-log rows counted, want %v", i, n, want)
		}
		if want != 5 && res.Newest.Before(before) {
			t.Errorf("collection %d: Newest = %v, want a start_time of this test", i, res.Newest)
		}
	}

	// Rows that share a start_time are never split between collections, and a batch
	// of one start_time is counted whole. SET timestamp fixes the start_time that
	// the slow log records for the session's statements, the SET itself included:
	// two rows per offset.
	admin, err := openDB(t, dsn).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, off := range []int64{1, 2, 2, 3} { // seconds after base
		for _, q := range []string{fmt.Sprintf("SET timestamp = %d", base.Unix()+off), fmt.Sprintf("SELECT %d", off)} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	// Rows at 1 1 2 2 2 2 3 3; batches of 2 read 3 rows: [1 1] (the next row is
	// a 2), [2 2 2 …] (one start_time: all 4 counted), [3 3], nothing.
	for i, want := range []float64{7, 11, 13, 13} {
		res, err := c.Collect(ctx)
		if err != nil {
			t.Fatalf("collection %d: %v", i, err)
		}
		if n := slowCount(); n != want {
			t.Errorf("after collection %d: %v slow-log rows counted, want %v", i, n, want)
		}
		if i < 3 && !res.Newest.After(base) {
			t.Errorf("collection %d: Newest = %v, want after %v", i, res.Newest, base)
		}
	}

	// The slow log written to a file only: the digests go on alone, and
	// TestConnection says why the slow log is not read.
	execAll(t, openDB(t, s.AdminDSN()), "SET GLOBAL log_output = 'FILE'")
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect with log_output=FILE: %v", err)
	}
	info, err := c.TestConnection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info[sourceDigests] != true || info[sourceSlowLog] != false || !strings.Contains(fmt.Sprint(info["slow_log_reason"]), "log_output is FILE, not TABLE") {
		t.Errorf("TestConnection = %v, want digests available and the slow log not, because of log_output", info)
	}
}

// TestPerformanceSchemaOff runs on a server started without performance_schema.
func TestPerformanceSchemaOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.MariaDBServer(t, "--performance-schema=OFF")
	dsn := s.DSN(t)
	db := openDB(t, dsn)
	const hint = "performance_schema is disabled: start mysqld with --performance-schema=ON"

	c := newCollector(t, Config{DSN: dsn})
	info, err := c.TestConnection(ctx)
	if err != nil {
		t.Fatalf("TestConnection: %v", err)
	}
	if info[sourceDigests] != false || info["statement_digests_reason"] != hint || info[sourceSlowLog] != true ||
		!strings.Contains(fmt.Sprint(info["server_version"]), "MariaDB") {
		t.Errorf("TestConnection = %v, want digests unavailable (%q), the slow log available, a MariaDB version", info, hint)
	}
	// The slow log alone is enough.
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	execAll(t, db, "SELECT 1 AS corral_psoff", "SELECT 2 AS corral_psoff")
	waitSlowLog(t, db, "%corral_psoff%", 2)
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if res.Items < 2 {
		t.Errorf("Items = %d, want the slow-log rows of the 2 statements", res.Items)
	}
	if _, ok := gather(t, c)["mysql_perf_schema_events_statements_total"]; ok {
		t.Error("digest series exposed without performance_schema")
	}

	// Without the slow log as well, nothing is left: an error that says both whys.
	if err := c.ApplyConfig(ctx, json.RawMessage(`{"slow_log": false}`)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Collect(ctx)
	if err == nil || !strings.Contains(err.Error(), hint) || !strings.Contains(err.Error(), "slow_log: false") {
		t.Errorf("Collect with no source = %v, want an error naming both reasons", err)
	}
	if up := value(t, gather(t, c), "mysql_up"); up != 1 {
		t.Errorf("mysql_up = %v, want 1: the server answered", up)
	}
}

// TestServerDown stops the server under the collector.
func TestServerDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.MariaDBServer(t)
	c := newCollector(t, Config{DSN: s.DSN(t) + "?timeout=2s"})
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(ctx); err == nil {
		t.Fatal("Collect succeeded with the server stopped")
	}
	mfs := gather(t, c)
	if up := value(t, mfs, "mysql_up"); up != 0 {
		t.Errorf("mysql_up = %v with the server stopped, want 0", up)
	}
	if _, ok := mfs["mysql_perf_schema_events_statements_total"]; ok {
		t.Error("digest series still exposed with the server stopped")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Collect(ctx); err != nil || res.Items == 0 {
		t.Errorf("Collect after the restart = %+v, %v; want digests", res, err)
	}
	if up := value(t, gather(t, c), "mysql_up"); up != 1 {
		t.Errorf("mysql_up = %v after the restart, want 1", up)
	}
}

// TestPasswordRotation logs in as a user with a password read from a file.
func TestPasswordRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.MariaDB(t)
	schema := dbName(t, dsn)
	user := "mon_" + schema[len(schema)-8:]
	admin := openDB(t, dsn)
	execAll(t, admin,
		"CREATE USER '"+user+"'@'127.0.0.1' IDENTIFIED BY 'first-pw'",
		"GRANT SELECT ON performance_schema.* TO '"+user+"'@'127.0.0.1'",
		"GRANT SELECT ON mysql.slow_log TO '"+user+"'@'127.0.0.1'",
		"GRANT SELECT ON "+schema+".* TO '"+user+"'@'127.0.0.1'",
	)
	t.Cleanup(func() { execAll(t, admin, "DROP USER '"+user+"'@'127.0.0.1'") })
	cfg, _ := mysqldrv.ParseDSN(dsn)
	cfg.User, cfg.Passwd = user, ""
	pwFile := filepath.Join(t.TempDir(), "pw")
	writePW := func(pw string) {
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePW("first-pw")
	c := newCollector(t, Config{DSN: cfg.FormatDSN(), PasswordFile: pwFile})
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect with the first password: %v", err)
	}

	execAll(t, admin, "ALTER USER '"+user+"'@'127.0.0.1' IDENTIFIED BY 'second-pw'")
	writePW("second-pw")
	if err := c.ReloadCredentials(ctx); err != nil {
		t.Fatalf("ReloadCredentials: %v", err)
	}
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect after the rotation: %v", err)
	}

	writePW("wrong-pw")
	err := c.ReloadCredentials(ctx)
	if err == nil || !strings.Contains(err.Error(), "Access denied") || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("ReloadCredentials with a wrong password = %v, want access denied without the password", err)
	}
	if up := func() float64 { _, _ = c.Collect(ctx); return value(t, gather(t, c), "mysql_up") }(); up != 0 {
		t.Errorf("mysql_up = %v with a wrong password, want 0", up)
	}
}

func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fromDSN, fromFile, fromEnv = "dsnSECRET42", "fileSECRET42", "envSECRET42"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(fromFile), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Setenv("CORRAL_TEST_MYSQL_PASSWORD", fromEnv) // a variable of this test alone
	t.Cleanup(func() { os.Unsetenv("CORRAL_TEST_MYSQL_PASSWORD") })
	unreachable := "monitor:" + fromDSN + "@tcp(127.0.0.1:1)/app?timeout=2s"
	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, s := range []string{fromDSN, fromFile, fromEnv} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q shows the password", what, err)
			}
		}
	}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"dsn", Config{DSN: unreachable}},
		{"password_file", Config{DSN: unreachable, PasswordFile: pwFile}},
		{"password_env", Config{DSN: unreachable, PasswordEnv: "CORRAL_TEST_MYSQL_PASSWORD"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.cfg)
			_, err := c.Collect(ctx)
			check(t, "Collect", err)
			_, err = c.TestConnection(ctx)
			check(t, "TestConnection", err)
			check(t, "ReloadCredentials", c.ReloadCredentials(ctx))
		})
	}
	for _, dsn := range []string{
		"monitor:" + fromDSN + "@tcp(db:3306)",
		"monitor:" + fromDSN + "@tcp(db:3306)/app?timeout=forever",
		"monitor:" + fromDSN + "@tcp(db:3306/app",
	} {
		cfg := Config{DSN: dsn}
		cfg.Defaults()
		check(t, "Validate", cfg.Validate("/"))
	}
}

func TestApplyConfig(t *testing.T) {
	t.Parallel()
	type settings struct {
		limit, batch int
		slowLog      bool
	}
	def := settings{100, 1000, true}
	tests := []struct {
		raw     string
		wantErr string
		want    settings
	}{
		{`{"digest_limit": 5}`, "", settings{5, 1000, true}},
		{`{"slow_log": false}`, "", settings{100, 1000, false}},
		{`{"slow_log_batch": 10, "digest_limit": 10000}`, "", settings{10000, 10, true}},
		{`{}`, "", def},
		{`{"digest_limit": 0}`, "digest_limit: must be between 1 and 10000", def},
		{`{"digest_limit": "many"}`, "digest_limit: want an integer", def},
		{`{"slow_log": 1}`, "slow_log: want true or false", def},
		{`{"slow_log_batch": 100001}`, "slow_log_batch: must be between 1 and 100000", def},
		{`{"limit": 5}`, "limit: unknown key", def},
		{`{"digest_limit": 5, "slow_log": false, "other": true}`, "other: unknown key", def},
		{`"x"`, "want a JSON object", def},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			c := newCollector(t, Config{DSN: "root@tcp(127.0.0.1:1)/"})
			err := c.ApplyConfig(context.Background(), json.RawMessage(tt.raw))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ApplyConfig: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ApplyConfig error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := (settings{c.digestLimit, c.slowBatch, c.slowLog}); got != tt.want {
				t.Errorf("after ApplyConfig: %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{DSN: "monitor@tcp(db:3306)/"}, ""},
		{"no dsn", Config{}, "mysql.dsn: required"},
		{"bad dsn", Config{DSN: "monitor@db:3306"}, "mysql.dsn:"},
		{"digest_limit", Config{DSN: "monitor@tcp(db:3306)/", DigestLimit: -5}, "mysql.digest_limit: must be between 1 and 10000"},
		{"slow_log_batch", Config{DSN: "monitor@tcp(db:3306)/", SlowLogBatch: 1 << 20}, "mysql.slow_log_batch: must be between 1 and 100000"},
		{"two password sources", Config{DSN: "monitor@tcp(db:3306)/", PasswordFile: "f", PasswordEnv: "E"}, "mysql.password_file, mysql.password_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}
			cfg.Defaults()
			if tt.cfg.DigestLimit != 0 {
				cfg.DigestLimit = tt.cfg.DigestLimit
			}
			if tt.cfg.SlowLogBatch != 0 {
				cfg.SlowLogBatch = tt.cfg.SlowLogBatch
			}
			cfg.DSN, cfg.PasswordFile, cfg.PasswordEnv = tt.cfg.DSN, tt.cfg.PasswordFile, tt.cfg.PasswordEnv
			err := cfg.Validate("/etc/corral")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if !cfg.SlowLog || cfg.DigestLimit != DefaultDigestLimit || cfg.SlowLogBatch != DefaultSlowLogBatch {
					t.Errorf("defaults: %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("password_file relative to the config", func(t *testing.T) {
		cfg := Config{}
		cfg.Defaults()
		cfg.DSN, cfg.PasswordFile = "monitor@tcp(db:3306)/", "pw"
		if err := cfg.Validate("/etc/corral"); err != nil {
			t.Fatal(err)
		}
		if cfg.PasswordFile != "/etc/corral/pw" {
			t.Errorf("PasswordFile = %q, want /etc/corral/pw", cfg.PasswordFile)
		}
	})
}

// TestConcurrentUse runs collections, config changes, connection tests and scrapes
// at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCollector(t, Config{DSN: testdb.MariaDB(t)})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Metrics()...)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 4 {
		wg.Go(func() {
			for j := range 5 {
				switch i {
				case 0:
					_, err := c.Collect(ctx)
					errs <- err
				case 1:
					errs <- c.ApplyConfig(ctx, json.RawMessage(fmt.Sprintf(`{"digest_limit": %d, "slow_log": %v}`, j+1, j%2 == 0)))
				case 2:
					_, err := c.TestConnection(ctx)
					errs <- err
				case 3:
					_, err := reg.Gather()
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// waitSlowLog waits until mysql.slow_log holds n rows whose sql_text is LIKE
// pattern: the server writes a row just after it has answered the statement, so
// a collection right after the statement may not see it yet.
func waitSlowLog(t *testing.T, db *sql.DB, pattern string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// This session's own queries stay out of the slow log it is counting.
	if _, err := conn.ExecContext(ctx, "SET SESSION long_query_time = 31536000"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.slow_log WHERE CONVERT(sql_text USING utf8mb4) LIKE ?", pattern).Scan(&got); err != nil {
			t.Fatalf("read mysql.slow_log: %v", err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mysql.slow_log has %d rows like %q after 10s, want %d", got, pattern, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
