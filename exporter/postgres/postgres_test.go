package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/corral-dev/corral/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	cfg.Defaults()
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

// execAll runs statements on the database at url.
func execAll(t *testing.T, url string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func dbOf(t *testing.T, url string) string {
	t.Helper()
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cc.Database
}

// gather returns the metric families of c by name, after checking them with promlint.
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

func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string)
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func gaugeValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: want one sample, got %v", name, mf)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

func TestCollect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.Postgres(t)
	stmts := []string{
		"CREATE EXTENSION pg_stat_statements",
		"CREATE TABLE widgets (id int primary key, name text)",
		"INSERT INTO widgets SELECT g, 'w' || g FROM generate_series(1, 100) g",
	}
	for i := range 5 {
		stmts = append(stmts, fmt.Sprintf("SELECT count(*) FROM widgets WHERE id > %d", i))
	}
	execAll(t, url, stmts...)
	db := dbOf(t, url)

	c := newCollector(t, Config{DSN: url, Limit: MaxLimit})
	if got := gather(t, c); len(got) != 0 {
		t.Errorf("metrics before the first collection: %v, want none", got)
	}
	before := time.Now()
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if res.Items <= 0 {
		t.Errorf("Items = %d, want > 0", res.Items)
	}
	if res.Newest.Before(before) || res.Newest.After(time.Now()) {
		t.Errorf("Newest = %v, want the time of the run", res.Newest)
	}

	mfs := gather(t, c)
	if up := gaugeValue(t, mfs, "pg_up"); up != 1 {
		t.Errorf("pg_up = %v, want 1", up)
	}
	for _, name := range []string{
		"pg_stat_statements_calls_total", "pg_stat_statements_seconds_total", "pg_stat_statements_rows_total",
		"pg_stat_statements_block_read_seconds_total", "pg_stat_statements_block_write_seconds_total",
	} {
		mf := mfs[name]
		if mf.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s: type %v, want counter", name, mf.GetType())
		}
		var ours int
		for _, m := range mf.GetMetric() {
			l := labelsOf(m)
			if len(l) != 3 || l["user"] == "" || l["queryid"] == "" {
				t.Errorf("%s: labels %v, want user, datname, queryid", name, l)
			}
			if l["datname"] == db && l["user"] == "postgres" {
				ours++
			}
		}
		if ours == 0 {
			t.Errorf("%s: no series for datname=%s user=postgres", name, db)
		}
	}
	if _, ok := mfs["pg_stat_statements_query_id"]; ok {
		t.Error("pg_stat_statements_query_id exposed without include_query_text")
	}

	// A smaller limit drops the statements that fell out of the top from /metrics,
	// and the query text appears when asked for.
	if err := c.ApplyConfig(ctx, json.RawMessage(`{"limit": 2, "include_query_text": true}`)); err != nil {
		t.Fatalf("ApplyConfig: %v", err)
	}
	if res, err = c.Collect(ctx); err != nil || res.Items != 2 {
		t.Fatalf("Collect with limit 2 = %+v, %v; want 2 items", res, err)
	}
	mfs = gather(t, c)
	if n := len(mfs["pg_stat_statements_calls_total"].GetMetric()); n != 2 {
		t.Errorf("pg_stat_statements_calls_total has %d series with limit 2, want 2", n)
	}
	texts := mfs["pg_stat_statements_query_id"].GetMetric()
	if len(texts) == 0 {
		t.Fatal("pg_stat_statements_query_id missing with include_query_text")
	}
	for _, m := range texts {
		if l := labelsOf(m); l["query"] == "" || l["queryid"] == "" {
			t.Errorf("pg_stat_statements_query_id labels %v, want queryid and query", l)
		}
	}
}

func TestCollectWithoutExtension(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	notPreloaded := testdb.PostgresServer(t, "shared_preload_libraries=")
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"extension not created", func(t *testing.T) string { return testdb.Postgres(t) }},
		{"library not preloaded", func(t *testing.T) string {
			url := notPreloaded.URL(t)
			execAll(t, url, "CREATE EXTENSION pg_stat_statements")
			return url
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := tt.url(t)
			c := newCollector(t, Config{DSN: url})
			_, err := c.Collect(ctx)
			t.Logf("Collect: %v", err)
			if !errors.Is(err, ErrNoPgStatStatements) {
				t.Fatalf("Collect error = %v, want ErrNoPgStatStatements", err)
			}
			for _, want := range []string{"shared_preload_libraries", "restart", "CREATE EXTENSION pg_stat_statements;", dbOf(t, url)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if up := gaugeValue(t, gather(t, c), "pg_up"); up != 1 {
				t.Errorf("pg_up = %v, want 1: the server answered", up)
			}
			info, err := c.TestConnection(ctx)
			if err != nil {
				t.Fatalf("TestConnection: %v", err)
			}
			if info["pg_stat_statements"] != false || !strings.Contains(fmt.Sprint(info["pg_stat_statements_error"]), "CREATE EXTENSION") {
				t.Errorf("TestConnection = %v, want pg_stat_statements false with the way to enable it", info)
			}
		})
	}
}

func TestTestConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.Postgres(t)
	execAll(t, url, "CREATE EXTENSION pg_stat_statements")
	var want string
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&want); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	info, err := newCollector(t, Config{DSN: url}).TestConnection(ctx)
	if err != nil {
		t.Fatalf("TestConnection: %v", err)
	}
	if info["server_version"] != want || info["pg_stat_statements"] != true || info["database"] != dbOf(t, url) {
		t.Errorf("TestConnection = %v, want server_version %q, pg_stat_statements true, database %s", info, want, dbOf(t, url))
	}

	// An unreachable server is an error, not a report.
	down := newCollector(t, Config{DSN: "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2"})
	if _, err := down.TestConnection(ctx); err == nil {
		t.Error("TestConnection of an unreachable server succeeded")
	}
}

func TestApplyConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw       string
		wantErr   string // "" = applies
		wantLimit int
		wantText  bool
	}{
		{`{"limit": 5}`, "", 5, false},
		{`{"include_query_text": true}`, "", 100, true},
		{`{"limit": 10000, "include_query_text": false}`, "", 10000, false},
		{`{}`, "", 100, false},
		{`{"limit": 0}`, "limit: must be between 1 and 10000", 100, false},
		{`{"limit": 10001}`, "limit: must be between 1 and 10000", 100, false},
		{`{"limit": "5"}`, "limit: want an integer", 100, false},
		{`{"limit": 1.5}`, "limit: want an integer", 100, false},
		{`{"include_query_text": "yes"}`, "include_query_text: want true or false", 100, false},
		{`{"colour": "red"}`, "colour: unknown key", 100, false},
		// Nothing is applied when one key is wrong.
		{`{"limit": 7, "include_query_text": true, "zzz": 1}`, "zzz: unknown key", 100, false},
		{`{"limit": 7, "include_query_text": 3}`, "include_query_text", 100, false},
		{`[1]`, "want a JSON object", 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			c := newCollector(t, Config{DSN: "postgres://postgres@127.0.0.1:1/x"})
			err := c.ApplyConfig(context.Background(), json.RawMessage(tt.raw))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ApplyConfig: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ApplyConfig error = %v, want one containing %q", err, tt.wantErr)
			}
			if c.limit != tt.wantLimit || c.withText != tt.wantText {
				t.Errorf("after ApplyConfig: limit %d, include_query_text %v; want %d, %v", c.limit, c.withText, tt.wantLimit, tt.wantText)
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
		{"minimal", Config{DSN: "postgres://monitor@db:5432/app"}, ""},
		{"key value dsn", Config{DSN: "host=db user=monitor dbname=app"}, ""},
		{"no dsn", Config{}, "postgres.dsn: required"},
		{"bad dsn", Config{DSN: "postgres://monitor@db:notaport/app"}, "postgres.dsn:"},
		{"limit too big", Config{DSN: "postgres://db/app", Limit: 20000}, "postgres.limit: must be between 1 and 10000"},
		{"negative limit", Config{DSN: "postgres://db/app", Limit: -1}, "postgres.limit: must be between 1 and 10000"},
		{"two password sources", Config{DSN: "postgres://db/app", PasswordFile: "pw", PasswordEnv: "PW"}, "postgres.password_file, postgres.password_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Defaults()
			err := cfg.Validate("/etc/corral")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if cfg.Limit != DefaultLimit {
					t.Errorf("Limit = %d after Defaults, want %d", cfg.Limit, DefaultLimit)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	t.Run("password_file relative to the config", func(t *testing.T) {
		cfg := Config{DSN: "postgres://db/app", PasswordFile: "secrets/pg"}
		cfg.Defaults()
		if err := cfg.Validate("/etc/corral"); err != nil {
			t.Fatal(err)
		}
		if cfg.PasswordFile != "/etc/corral/secrets/pg" {
			t.Errorf("PasswordFile = %q, want /etc/corral/secrets/pg", cfg.PasswordFile)
		}
	})
}

// TestSecretsStayOut checks that no error text carries a password, wherever it was
// given.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fromDSN, fromFile, fromEnv = "dsnSECRET42", "fileSECRET42", "envSECRET42"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A variable of this test alone (t.Setenv does not go with t.Parallel).
	os.Setenv("CORRAL_TEST_PG_PASSWORD", fromEnv)
	t.Cleanup(func() { os.Unsetenv("CORRAL_TEST_PG_PASSWORD") })
	unreachable := "postgres://monitor:" + fromDSN + "@127.0.0.1:1/app?connect_timeout=2"
	tests := []struct {
		name string
		cfg  Config
	}{
		{"dsn url", Config{DSN: unreachable}},
		{"dsn key value", Config{DSN: "host=127.0.0.1 port=1 user=monitor password=" + fromDSN + " connect_timeout=2"}},
		{"password_file", Config{DSN: unreachable, PasswordFile: pwFile}},
		{"password_env", Config{DSN: unreachable, PasswordEnv: "CORRAL_TEST_PG_PASSWORD"}},
	}
	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error against an unreachable server", what)
		}
		for _, s := range []string{fromDSN, fromFile, fromEnv} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q shows the password", what, err)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.cfg)
			_, err := c.Collect(ctx)
			check(t, "Collect", err)
			_, err = c.TestConnection(ctx)
			check(t, "TestConnection", err)
			check(t, "ReloadCredentials", c.ReloadCredentials(ctx))
		})
	}
	t.Run("invalid dsn", func(t *testing.T) {
		for _, dsn := range []string{
			"postgres://monitor:" + fromDSN + "@db:notaport/app",
			"host=db password=" + fromDSN + " port=notaport",
			"postgres://monitor:" + fromDSN + "@db/app?sslmode=bogus",
		} {
			cfg := Config{DSN: dsn}
			cfg.Defaults()
			check(t, "Validate "+strings.ReplaceAll(dsn, fromDSN, "…"), cfg.Validate("/"))
		}
	})
}

// TestPasswordRotation runs against a server that wants passwords: the collector
// reads the password from a file and picks up a new one on ReloadCredentials.
func TestPasswordRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.PostgresServer(t)
	url := s.URL(t)
	execAll(t, url,
		"CREATE EXTENSION pg_stat_statements",
		"CREATE ROLE monitor LOGIN PASSWORD 'first-pw' IN ROLE pg_read_all_stats",
	)
	if err := s.SetHBA("host all all 127.0.0.1/32 scram-sha-256"); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	writePW := func(pw string) {
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePW("first-pw")
	dsn := fmt.Sprintf("postgres://monitor@127.0.0.1:%d/%s?sslmode=disable", s.Port(), dbOf(t, url))
	c := newCollector(t, Config{DSN: dsn, PasswordFile: pwFile})
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect with the first password: %v", err)
	}

	execAll(t, url, "ALTER ROLE monitor PASSWORD 'second-pw'")
	writePW("second-pw")
	if err := c.ReloadCredentials(ctx); err != nil {
		t.Fatalf("ReloadCredentials with the new password: %v", err)
	}
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect after the rotation: %v", err)
	}

	writePW("wrong-pw")
	err := c.ReloadCredentials(ctx)
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("ReloadCredentials with a wrong password = %v, want the authentication failure", err)
	}
	if _, err := c.Collect(ctx); err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("Collect with a wrong password = %v, want an error without the password", err)
	}
	if up := gaugeValue(t, gather(t, c), "pg_up"); up != 0 {
		t.Errorf("pg_up = %v with a wrong password, want 0", up)
	}

	os.Remove(pwFile)
	if err := c.ReloadCredentials(ctx); err == nil || !strings.Contains(err.Error(), "postgres.password_file") {
		t.Errorf("ReloadCredentials without the file = %v, want an error naming password_file", err)
	}
}

// TestServerDown stops the server under the collector: pg_up drops to 0, the
// statement series go, and everything comes back when the server does.
func TestServerDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.PostgresServer(t)
	url := s.URL(t)
	execAll(t, url, "CREATE EXTENSION pg_stat_statements", "SELECT 1")
	c := newCollector(t, Config{DSN: url + "&connect_timeout=2"})
	if _, err := c.Collect(ctx); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if up := gaugeValue(t, gather(t, c), "pg_up"); up != 1 {
		t.Fatalf("pg_up = %v, want 1", up)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(ctx); err == nil {
		t.Fatal("Collect succeeded with the server stopped")
	}
	mfs := gather(t, c)
	if up := gaugeValue(t, mfs, "pg_up"); up != 0 {
		t.Errorf("pg_up = %v with the server stopped, want 0", up)
	}
	if _, ok := mfs["pg_stat_statements_calls_total"]; ok {
		t.Error("statement series still exposed with the server stopped")
	}

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Collect(ctx); err != nil || res.Items == 0 {
		t.Fatalf("Collect after the restart = %+v, %v; want items", res, err)
	}
	if up := gaugeValue(t, gather(t, c), "pg_up"); up != 1 {
		t.Errorf("pg_up = %v after the restart, want 1", up)
	}
}

// TestNewDoesNotConnect starts a collector for a server that is not there.
func TestNewDoesNotConnect(t *testing.T) {
	t.Parallel()
	c := newCollector(t, Config{DSN: "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=1"})
	if _, err := c.Collect(context.Background()); err == nil {
		t.Fatal("Collect against nothing succeeded")
	}
	if up := gaugeValue(t, gather(t, c), "pg_up"); up != 0 {
		t.Errorf("pg_up = %v, want 0", up)
	}
}

// TestConcurrentUse runs collections, config changes, connection tests and scrapes
// at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.Postgres(t)
	execAll(t, url, "CREATE EXTENSION pg_stat_statements")
	c := newCollector(t, Config{DSN: url})
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
					errs <- c.ApplyConfig(ctx, json.RawMessage(fmt.Sprintf(`{"limit": %d, "include_query_text": %v}`, j+1, j%2 == 0)))
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
