// Package store keeps what the corral server must remember across restarts: the
// latest state of every collector, their status history, hourly and daily
// completeness buckets, the collectors registered through the API, and the
// control plane: desired states, commands, the audit trail, archived
// (unregistered) collectors, bulk operations and the server's signing keys.
//
// There is one implementation, [Store], over database/sql, used with two drivers:
// SQLite (modernc.org/sqlite, pure Go; the embedded default) and PostgreSQL (pgx v5).
// The SQL is shared: placeholders are $1, $2 …, times are BIGINT unix milliseconds
// (NULL for the zero time), labels are JSON text. Only the migrations differ per
// dialect; [Open] applies them. Time-series samples never go into the store.
//
// Consumers declare the small interfaces they need, with only the methods they
// call (api.HistoryReader, dispatch.Store …), and *Store satisfies them; the
// package declares none for them. Its one exported interface, [WriterTarget], is
// what its own [Writer] writes to: the scrape path writes through a Writer, which
// batches, never blocks and keeps writes while the database is unreachable.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialects, as returned by [Store.Dialect].
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Sentinel errors, to be checked with errors.Is.
var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when a row to be created already exists.
	ErrExists = errors.New("already exists")
)

// Store is the SQL store. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect string
	log     *slog.Logger
	// bulk holds the multi-row statements of full batches, built once.
	bulk bulkStatements
}

// Open opens the store at url and brings its schema up to date.
//
// url selects the backend:
//   - "postgres://…" or "postgresql://…" (or a libpq key=value string such as
//     "host=db dbname=corral"): PostgreSQL through pgx;
//   - "sqlite:PATH", "sqlite://PATH", "file:PATH" or a plain PATH: an SQLite file,
//     its parent directory created if missing. The server's default is
//     configs.DefaultStorageURL.
//
// SQLite runs in WAL mode with a busy timeout, foreign keys on and write
// transactions that take the write lock at BEGIN. log receives the migration
// messages; nil discards them.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if url == "" {
		return nil, errors.New("no store URL: give postgres://…, sqlite:PATH or a file path")
	}
	dialect, target, err := parseURL(url)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w; check --storage.url", redact(url), err)
	}
	s := &Store{dialect: dialect, log: log}
	switch dialect {
	case DialectPostgres:
		s.db, err = openPostgres(target)
	default:
		s.db, err = openSQLite(target, log)
	}
	if err == nil {
		err = s.db.PingContext(ctx)
		if err == nil {
			err = s.migrate(ctx)
		}
		if err != nil {
			_ = s.db.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w; check --storage.url", redact(url), err)
	}
	s.bulk = newBulkStatements(dialect)
	return s, nil
}

// Close closes the database connections.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.dialect, err)
	}
	return nil
}

// parseURL tells the dialect of a storage URL and what its driver needs: the
// PostgreSQL connection string as given, or the SQLite file path (with any
// ?query kept for the driver).
func parseURL(raw string) (dialect, target string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return DialectPostgres, raw, nil
	case isKeyValueDSN(raw):
		return DialectPostgres, raw, nil
	}
	path := raw
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(raw, prefix); ok {
			path = rest
			break
		}
	}
	if path == raw {
		if scheme, _, ok := strings.Cut(raw, "://"); ok && !strings.ContainsAny(scheme, `/\.`) {
			return "", "", fmt.Errorf("unsupported scheme %q: use postgres://…, sqlite:PATH or a file path", scheme)
		}
	}
	if p, _, _ := strings.Cut(path, "?"); p == "" {
		return "", "", errors.New("no SQLite file path given: use sqlite:PATH, e.g. sqlite:/var/lib/corral/corral.db")
	}
	return DialectSQLite, path, nil
}

// libpqKey matches the start of a libpq key=value connection string.
var libpqKey = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service|connect_timeout|application_name)\s*=`)

func isKeyValueDSN(s string) bool { return libpqKey.MatchString(s) }

func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err // pgconn's message already hides the password
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return db, nil
}

// sqlitePragmas are applied to every SQLite connection.
const sqlitePragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

func openSQLite(target string, log *slog.Logger) (*sql.DB, error) {
	path, query, _ := strings.Cut(target, "?")
	memory := path == ":memory:"
	var dsn string
	if memory {
		dsn = "file::memory:"
	} else {
		if err := createPrivate(path, log); err != nil {
			return nil, err
		}
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath()
	}
	dsn += "?" + sqlitePragmas
	if query != "" {
		dsn += "&" + query
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if memory {
		// Every connection to :memory: is a database of its own: keep one.
		db.SetMaxOpenConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	} else {
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(4)
	}
	return db, nil
}

// createPrivate makes the SQLite file at path, if missing, 0600 in a directory
// created 0700: the file holds the server's private key and the scrape tokens,
// and SQLite creates the -wal and -shm files with the main file's mode. The
// modes are set with Chmod, past the umask. An existing file or directory keeps
// its mode (an operator may share it with a backup group on purpose), with a
// warning when others than the owner may read it.
func createPrivate(path string, log *slog.Logger) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create the directory of the SQLite file: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("create the directory of the SQLite file: %w", err)
		}
	} else {
		warnOpen(log, dir, 0o700, "the directory of the SQLite store is open to other users")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("create the SQLite file: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			warnOpen(log, p, 0o600, "the SQLite store is readable by other users; it holds the server's private key and scrape tokens")
		}
	default:
		return fmt.Errorf("create the SQLite file: %w", err)
	}
	return nil
}

// warnOpen logs msg when path exists with permission bits beyond want.
func warnOpen(log *slog.Logger, path string, want fs.FileMode, msg string) {
	if runtime.GOOS == "windows" {
		return // no Unix permission bits
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&^want == 0 {
		return
	}
	fix := fmt.Sprintf("chmod %o %s", want, path)
	log.Warn(msg, "path", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()), "fix", fix)
}

// redact hides the password of a storage URL or key=value string.
func redact(raw string) string {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		if u, err := url.Parse(raw); err == nil {
			return u.Redacted()
		}
		return "(unparsable postgres URL)"
	}
	if isKeyValueDSN(raw) {
		return kvPassword.ReplaceAllString(raw, "password=xxxxx")
	}
	return raw
}

var kvPassword = regexp.MustCompile(`password\s*=\s*('(\\.|[^'])*'|\S*)`)
