package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const mariaInstallHint = "install the Debian package mariadb-server (.ci/install-deps does it), " +
	"or set " + EnvMySQLDSN + " to a server whose user may create databases"

// MariaDB returns a go-sql-driver/mysql DSN of a fresh database for t, dropped when t
// ends. The database is on the server CORRAL_TEST_MYSQL_DSN names or, without it, on
// the test binary's throwaway MariaDB server: user root with an empty password over
// TCP, performance_schema on, and the slow query log written to the mysql.slow_log
// table with long_query_time=0, so that every statement is a slow one.
func MariaDB(t testing.TB) string {
	t.Helper()
	if admin := os.Getenv(EnvMySQLDSN); admin != "" {
		return createMariaDatabase(t, admin, nil)
	}
	s, err := sharedMariaDB()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return s.DSN(t)
}

var mariaStart sync.Mutex // serialises the start of the shared server

func sharedMariaDB() (*MariaServer, error) {
	mariaStart.Lock()
	defer mariaStart.Unlock()
	registry.mu.Lock()
	s, err := registry.maria, registry.mariaErr
	registry.mu.Unlock()
	if s != nil || err != nil {
		return s, err
	}
	s, err = startMariaDB(nil)
	registry.mu.Lock()
	registry.maria, registry.mariaErr = s, err
	registry.mu.Unlock()
	if s != nil {
		register(s)
	}
	return s, err
}

// MariaServer is a throwaway MariaDB server of one test, which it may configure with
// its own options and stop and start again. Like PGServer it is never the shared
// server nor the one CORRAL_TEST_MYSQL_DSN names.
type MariaServer struct {
	mu        sync.Mutex
	bins      mariaBinaries
	user      *runAs
	userFlag  []string
	base      string
	port      int
	args      []string
	proc      *proc
	destroyed bool
}

// MariaDBServer starts a throwaway MariaDB server for t alone, removed when t ends.
// args are extra mariadbd options, applied after the defaults (the last one wins):
// "--performance-schema=OFF" starts one without performance_schema.
func MariaDBServer(t testing.TB, args ...string) *MariaServer {
	t.Helper()
	s, err := startMariaDB(args)
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

// DSN returns the DSN of a fresh database on the server, dropped when t ends (if the
// server is running then).
func (s *MariaServer) DSN(t testing.TB) string {
	t.Helper()
	return createMariaDatabase(t, s.AdminDSN(), s)
}

// AdminDSN is the DSN of the server as root, without a database.
func (s *MariaServer) AdminDSN() string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/", s.port)
}

// Port is the TCP port the server listens on (127.0.0.1), the same across restarts.
func (s *MariaServer) Port() int { return s.port }

// Stop shuts the server down.
func (s *MariaServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(syscall.SIGTERM, 30*time.Second)
	s.proc = nil
	if err != nil {
		return fmt.Errorf("stop mariadbd: %w", err)
	}
	return nil
}

// Start starts the server again on the same port and waits until it accepts
// connections. It does nothing if the server is running.
func (s *MariaServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return errors.New("start mariadbd: the server was removed at the end of its test")
	}
	if s.proc != nil && s.proc.running() {
		return nil
	}
	args := []string{
		"--no-defaults", // must come first
		"--datadir=" + filepath.Join(s.base, "data"),
		"--socket=" + filepath.Join(s.base, "mysqld.sock"),
		"--pid-file=" + filepath.Join(s.base, "mysqld.pid"),
		"--tmpdir=" + s.base,
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--performance-schema=ON",
		"--slow-query-log=ON",
		"--log-output=TABLE",
		"--long-query-time=0",
		"--innodb-buffer-pool-size=32M",
		"--innodb-flush-log-at-trx-commit=0",
		"--max-connections=300",
	}
	args = append(args, s.userFlag...)
	args = append(args, s.args...)
	logPath := filepath.Join(s.base, "mysqld.log")
	p, err := startProc(s.bins.mariadbd, args, s.base, logPath, s.user, syscall.SIGKILL)
	if err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	err = waitReady(p, logPath, func() error {
		return mariaPing(s.AdminDSN())
	})
	if err != nil {
		_ = p.stop(syscall.SIGKILL, 5*time.Second)
		return fmt.Errorf("start mariadbd (%s) on port %d: %w", s.bins.mariadbd, s.port, err)
	}
	s.proc = p
	return nil
}

func (s *MariaServer) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && s.proc.running()
}

func (s *MariaServer) destroy() error {
	err := s.Stop()
	s.mu.Lock()
	s.destroyed = true
	s.mu.Unlock()
	if rmErr := os.RemoveAll(s.base); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", s.base, rmErr))
	}
	return err
}

type mariaBinaries struct{ mariadbd, installDB string }

// findMariaDB looks on PATH, then in /usr/sbin and /usr/bin (off a non-root PATH).
func findMariaDB() (mariaBinaries, error) {
	find := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
				if p := filepath.Join(dir, n); isExecutable(p) {
					return p
				}
			}
		}
		return ""
	}
	b := mariaBinaries{mariadbd: find("mariadbd", "mysqld"), installDB: find("mariadb-install-db", "mysql_install_db")}
	if b.mariadbd == "" || b.installDB == "" {
		return b, errors.New("MariaDB server binaries (mariadbd, mariadb-install-db) not found on PATH nor in /usr/sbin, /usr/bin: " + mariaInstallHint)
	}
	return b, nil
}

func startMariaDB(args []string) (*MariaServer, error) {
	bins, err := findMariaDB()
	if err != nil {
		return nil, err
	}
	s := &MariaServer{bins: bins, args: args}
	if os.Geteuid() == 0 {
		if s.user, err = serverUser("mysql"); err != nil {
			// No mysql user: mariadbd runs as root only when told so.
			s.user, s.userFlag = nil, []string{"--user=root"}
		}
	}
	if s.base, err = newBaseDir("mariadb", s.user); err != nil {
		return nil, fmt.Errorf("start mariadbd: %w", err)
	}
	if err := s.installDB(); err != nil {
		_ = os.RemoveAll(s.base)
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			err = s.Start()
		}
		if err == nil {
			return s, nil
		}
		if attempt < 3 && strings.Contains(err.Error(), "already in use") {
			continue
		}
		_ = os.RemoveAll(s.base)
		return nil, fmt.Errorf("%w\n(%s)", err, mariaInstallHint)
	}
}

func (s *MariaServer) installDB() error {
	args := []string{
		"--no-defaults",
		"--auth-root-authentication-method=normal", // root with an empty password, also over TCP
		"--datadir=" + filepath.Join(s.base, "data"),
		"--skip-test-db",
	}
	args = append(args, s.userFlag...)
	cmd := exec.Command(s.bins.installDB, args...)
	cmd.Dir = s.base
	cmd.Env = serverEnv(cmd.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.user.credential()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w; its output:\n%s", s.bins.installDB, s.base, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func mariaOpen(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 2 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

func mariaPing(dsn string) error {
	db, err := mariaOpen(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func mariaExec(dsn, query string) error {
	db, err := mariaOpen(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, query)
	return err
}

// createMariaDatabase creates a fresh database through the server at admin, drops it
// when t ends, and returns a DSN for it. s, if not nil, is the throwaway server of
// admin: the drop is skipped while it is stopped.
func createMariaDatabase(t testing.TB, admin string, s *MariaServer) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		// The driver's DSN errors do not repeat the DSN, but be safe: it has the password.
		t.Fatalf("testdb: %s is not a valid go-sql-driver/mysql DSN (user:password@tcp(host:port)/)", EnvMySQLDSN)
	}
	cfg.DBName = ""
	admin = cfg.FormatDSN()
	name := dbName()
	if err := mariaExec(admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if s != nil && !s.running() {
			return
		}
		if err := mariaExec(admin, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
