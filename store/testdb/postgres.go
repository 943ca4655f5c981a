package testdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgInstallHint = "install the Debian packages postgresql-15 and postgresql-contrib-15 " +
	"(or postgresql and postgresql-contrib; .ci/install-deps does it), " +
	"or set " + EnvPostgresURL + " to a server whose user may create databases"

// Postgres returns the URL of a fresh database for t, dropped when t ends. The
// database is on the server CORRAL_TEST_PG_URL names or, without it, on the test
// binary's throwaway cluster (pg_stat_statements preloaded and tracking all
// statements, so `CREATE EXTENSION pg_stat_statements` works in the database).
func Postgres(t testing.TB) string {
	t.Helper()
	if admin := os.Getenv(EnvPostgresURL); admin != "" {
		return createPGDatabase(t, admin, nil)
	}
	s, err := sharedPostgres()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return s.URL(t)
}

var pgStart sync.Mutex // serialises the start of the shared cluster

func sharedPostgres() (*PGServer, error) {
	pgStart.Lock()
	defer pgStart.Unlock()
	registry.mu.Lock()
	s, err := registry.pg, registry.pgErr
	registry.mu.Unlock()
	if s != nil || err != nil {
		return s, err
	}
	s, err = startPostgres(nil)
	registry.mu.Lock()
	registry.pg, registry.pgErr = s, err
	registry.mu.Unlock()
	if s != nil {
		register(s)
	}
	return s, err
}

// PGServer is a throwaway PostgreSQL cluster that a test may stop and start again,
// to see what its code does while the database is down. It is always a cluster of
// its own, never the shared one nor the server CORRAL_TEST_PG_URL names, so stopping
// it disturbs no other test.
type PGServer struct {
	mu        sync.Mutex
	bins      pgBinaries
	user      *runAs
	base      string
	port      int
	settings  []string
	proc      *proc
	destroyed bool
}

// PostgresServer starts a throwaway PostgreSQL cluster for t alone, removed when t
// ends. settings are extra server settings as name=value (passed as -c), applied
// after the defaults: "shared_preload_libraries=" starts one without
// pg_stat_statements. It needs the PostgreSQL binaries even when CORRAL_TEST_PG_URL
// is set.
func PostgresServer(t testing.TB, settings ...string) *PGServer {
	t.Helper()
	s, err := startPostgres(settings)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	register(s)
	t.Cleanup(func() {
		unregister(s)
		if err := s.destroy(); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})
	return s
}

// URL returns the URL of a fresh database on the server, dropped when t ends (if the
// server is running then).
func (s *PGServer) URL(t testing.TB) string {
	t.Helper()
	return createPGDatabase(t, s.AdminURL(), s)
}

// AdminURL is the URL of the server's postgres database as the superuser postgres
// (trust authentication, no password).
func (s *PGServer) AdminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the TCP port the server listens on (127.0.0.1), the same across restarts.
func (s *PGServer) Port() int { return s.port }

// Stop shuts the server down (fast shutdown: open connections are closed).
func (s *PGServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(syscall.SIGINT, 30*time.Second)
	s.proc = nil
	if err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

// Start starts the server again on the same port and waits until it accepts
// connections. It does nothing if the server is running.
func (s *PGServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return errors.New("start postgres: the server was removed at the end of its test")
	}
	if s.proc != nil && s.proc.running() {
		return nil
	}
	data := filepath.Join(s.base, "data")
	args := []string{
		"-D", data,
		"-p", strconv.Itoa(s.port),
		"-k", s.base,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=200",
		"-c", "shared_preload_libraries=pg_stat_statements",
		"-c", "pg_stat_statements.track=all",
	}
	for _, kv := range s.settings {
		args = append(args, "-c", kv)
	}
	logPath := filepath.Join(s.base, "postgres.log")
	p, err := startProc(s.bins.postgres, args, s.base, logPath, s.user, syscall.SIGQUIT)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	err = waitReady(p, logPath, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.AdminURL())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		_ = p.stop(syscall.SIGQUIT, 5*time.Second)
		return fmt.Errorf("start postgres (%s) on port %d: %w", s.bins.postgres, s.port, err)
	}
	s.proc = p
	return nil
}

// SetHBA replaces the server's pg_hba.conf with lines and reloads the configuration,
// e.g. "host all all 127.0.0.1/32 scram-sha-256" to make other users give passwords.
// A first line that lets postgres in over 127.0.0.1 without a password is kept, so
// that AdminURL and the database clean-up go on working.
func (s *PGServer) SetHBA(lines string) error {
	content := "host all postgres 127.0.0.1/32 trust\n" + strings.TrimSpace(lines) + "\n"
	path := filepath.Join(s.base, "data", "pg_hba.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	if err := s.user.chown(path); err != nil {
		return fmt.Errorf("hand pg_hba.conf to user %s: %w", s.user.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.AdminURL())
	if err != nil {
		return fmt.Errorf("reload pg_hba.conf: %w", err)
	}
	defer conn.Close(context.Background())
	var bad *string
	if err := conn.QueryRow(ctx, "SELECT string_agg(line_number || ': ' || error, '; ') FROM pg_hba_file_rules WHERE error IS NOT NULL").Scan(&bad); err != nil {
		return fmt.Errorf("check pg_hba.conf: %w", err)
	}
	if bad != nil {
		return fmt.Errorf("pg_hba.conf has errors, not reloaded: %s", *bad)
	}
	var before time.Time
	if err := conn.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before); err != nil {
		return fmt.Errorf("reload pg_hba.conf: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload pg_hba.conf: %w", err)
	}
	// The reload is asynchronous: wait until new connections see it.
	for {
		var now time.Time
		if err := pgQueryRow(ctx, s.AdminURL(), "SELECT pg_conf_load_time()", &now); err != nil {
			return fmt.Errorf("reload pg_hba.conf: %w", err)
		}
		if now.After(before) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reload pg_hba.conf: the server did not reload within 10s: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func pgQueryRow(ctx context.Context, url, sql string, dest any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dest)
}

func (s *PGServer) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && s.proc.running()
}

// destroy stops the server for good and removes its directory.
func (s *PGServer) destroy() error {
	err := s.Stop()
	s.mu.Lock()
	s.destroyed = true
	s.mu.Unlock()
	if rmErr := os.RemoveAll(s.base); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", s.base, rmErr))
	}
	return err
}

type pgBinaries struct{ postgres, initdb string }

// findPostgres looks for postgres and initdb on PATH, then in the highest version
// of /usr/lib/postgresql/*/bin (where Debian puts them, off PATH).
func findPostgres() (pgBinaries, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		dir := filepath.Dir(p)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir = filepath.Dir(real)
		}
		if initdb := filepath.Join(dir, "initdb"); isExecutable(initdb) {
			return pgBinaries{postgres: p, initdb: initdb}, nil
		}
		if initdb, err := exec.LookPath("initdb"); err == nil {
			return pgBinaries{postgres: p, initdb: initdb}, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, vb := version(a), version(b)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, dir := range dirs {
		b := pgBinaries{postgres: filepath.Join(dir, "postgres"), initdb: filepath.Join(dir, "initdb")}
		if isExecutable(b.postgres) && isExecutable(b.initdb) {
			return b, nil
		}
	}
	return pgBinaries{}, errors.New("PostgreSQL server binaries (postgres, initdb) not found on PATH nor in /usr/lib/postgresql/*/bin: " + pgInstallHint)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func startPostgres(settings []string) (*PGServer, error) {
	bins, err := findPostgres()
	if err != nil {
		return nil, err
	}
	u, err := serverUser("postgres", "nobody")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	base, err := newBaseDir("pg", u)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &PGServer{bins: bins, user: u, base: base, settings: settings}
	if err := s.initdb(); err != nil {
		_ = os.RemoveAll(base)
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			err = s.Start()
		}
		if err == nil {
			return s, nil
		}
		// Another process may have taken the port between freePort and the start.
		if attempt < 3 && strings.Contains(err.Error(), "already in use") {
			continue
		}
		_ = os.RemoveAll(base)
		return nil, fmt.Errorf("%w\n(%s)", err, pgInstallHint)
	}
}

func (s *PGServer) initdb() error {
	cmd := exec.Command(s.bins.initdb,
		"-D", filepath.Join(s.base, "data"),
		"-U", "postgres",
		"-A", "trust",
		"-E", "UTF8",
		"--locale=C",
		"-N", // no fsync: the cluster lives for one test binary
	)
	cmd.Dir = s.base
	cmd.Env = serverEnv(cmd.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.user.credential()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb (%s) in %s: %w; its output:\n%s", s.bins.initdb, s.base, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// createPGDatabase creates a fresh database through the server at admin, drops it
// when t ends, and returns a URL (or DSN, in admin's form) for it. s, if not nil, is
// the throwaway server of admin: the drop is skipped while it is stopped.
func createPGDatabase(t testing.TB, admin string, s *PGServer) string {
	t.Helper()
	name := dbName()
	if err := pgExec(admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if s != nil && !s.running() {
			return // stopped by the test; the server's directory goes anyway
		}
		if err := pgExec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	dsn, err := withPGDatabase(admin, name)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return dsn
}

func pgExec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withPGDatabase returns dsn (a URL or key=value DSN) pointing at database name.
func withPGDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Error quotes the URL, password and all: leave it out.
			return "", fmt.Errorf("%s is not a valid URL; use postgres://user@host:port/db or key=value form", EnvPostgresURL)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil // the last dbname wins
}
