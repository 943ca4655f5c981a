package store

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/fleet"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, dialect, target string
		err                  string
	}{
		{url: "postgres://u:p@db:5432/corral?sslmode=disable", dialect: "postgres", target: "postgres://u:p@db:5432/corral?sslmode=disable"},
		{url: "postgresql://db/corral", dialect: "postgres", target: "postgresql://db/corral"},
		{url: "host=db dbname=corral user=corral", dialect: "postgres", target: "host=db dbname=corral user=corral"},
		{url: "sqlite:./data/corral.db", dialect: "sqlite", target: "./data/corral.db"},
		{url: "sqlite:///var/lib/corral/corral.db", dialect: "sqlite", target: "/var/lib/corral/corral.db"},
		{url: "sqlite::memory:", dialect: "sqlite", target: ":memory:"},
		{url: "file:/tmp/c.db?_pragma=cache_size(-2000)", dialect: "sqlite", target: "/tmp/c.db?_pragma=cache_size(-2000)"},
		{url: "data/corral.db", dialect: "sqlite", target: "data/corral.db"},
		{url: "/abs/with space/c.db", dialect: "sqlite", target: "/abs/with space/c.db"},
		{url: "./odd://dir/c.db", dialect: "sqlite", target: "./odd://dir/c.db"},
		{url: "mysql://db/corral", err: `unsupported scheme "mysql"`},
		{url: "sqlite:", err: "no SQLite file path"},
	} {
		dialect, target, err := parseURL(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseURL(%q) error = %v, want %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || dialect != tc.dialect || target != tc.target {
			t.Errorf("parseURL(%q) = %q, %q, %v; want %q, %q", tc.url, dialect, target, err, tc.dialect, tc.target)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, "mysql://db/corral", nil)
	if err == nil || !strings.Contains(err.Error(), "open store mysql://db/corral: unsupported scheme") || !strings.Contains(err.Error(), "check --storage.url") {
		t.Errorf("mysql URL: %v", err)
	}

	// A PostgreSQL server that is not there: a clear error without the password.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := "postgres://corral:s3cr3t@127.0.0.1:" + strconv.Itoa(port) + "/corral?connect_timeout=2"
	_, err = Open(ctx, url, nil)
	if err == nil {
		t.Fatal("Open of an unreachable PostgreSQL succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, "open store postgres://corral:xxxxx@127.0.0.1") || !strings.Contains(msg, "check --storage.url") {
		t.Errorf("unreachable PostgreSQL: %v", err)
	}

	// An SQLite file whose directory cannot be made.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, "sqlite:"+filepath.Join(file, "sub", "corral.db"), nil)
	if err == nil || !strings.Contains(err.Error(), "check --storage.url") {
		t.Errorf("SQLite under a file: %v", err)
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "dir with space")
	for _, url := range []string{
		"sqlite:" + filepath.Join(dir, "a.db"),
		"file:" + filepath.Join(dir, "b.db"),
		filepath.Join(dir, "c.db"),
		"sqlite::memory:",
	} {
		s := openStore(t, url)
		if s.Dialect() != DialectSQLite {
			t.Fatalf("%s: dialect %q", url, s.Dialect())
		}
		for pragma, want := range map[string]string{"foreign_keys": "1", "busy_timeout": "10000", "synchronous": "1"} {
			var got string
			if err := s.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
				t.Errorf("%s: PRAGMA %s = %q, %v; want %q", url, pragma, got, err, want)
			}
		}
		if url == "sqlite::memory:" {
			continue
		}
		var mode string
		if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal_mode %q, %v; want wal", url, mode, err)
		}
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "file:")
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
}

// TestReopen checks that data survives Close and Open, and that a second Open
// applies no migration twice.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			at := time.Date(2025, 6, 1, 12, 0, 0, 123_000_000, time.UTC)
			var first logBuffer
			s, err := Open(ctx, url, slogTo(&first))
			if err != nil {
				t.Fatal(err)
			}
			versions := migrationVersions(t, s)
			if len(versions) == 0 {
				t.Fatal("no migration recorded")
			}
			if l := first.lines("store schema migrated"); len(l) != len(versions) {
				t.Fatalf("first Open logged %d migrations, applied %v: %v", len(l), versions, l)
			}
			err = s.UpsertCollectors(ctx, []fleet.CollectorState{{ID: "c1", Status: "online", LastSeen: at, Labels: map[string]string{"k": "välue"}}})
			if err == nil {
				err = s.AppendStatusChanges(ctx, []fleet.StatusChange{{Collector: "c1", From: "unknown", To: "online", At: at}})
			}
			if err == nil {
				err = s.UpsertBuckets(ctx, []fleet.Bucket{{Collector: "c1", Window: "1h", Start: at.Truncate(time.Hour), ActualItems: 7}})
			}
			if err == nil {
				err = s.Register(ctx, RegisteredCollector{ID: "r1", Name: "c1", URL: "http://h:1/metrics"})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			var logs logBuffer
			s = openStoreLogged(t, url, &logs)
			if got := migrationVersions(t, s); strings.Join(got, ",") != strings.Join(versions, ",") {
				t.Fatalf("migrations after reopen %v, before %v", got, versions)
			}
			if l := logs.lines("migrated"); len(l) != 0 {
				t.Fatalf("second Open migrated again: %v", l)
			}
			c, err := s.Collector(ctx, "c1")
			if err != nil || !c.LastSeen.Equal(at) || c.Labels["k"] != "välue" {
				t.Fatalf("collector after reopen: %+v, %v", c, err)
			}
			h, err := s.StatusHistory(ctx, "c1", time.Time{}, time.Time{}, 0)
			if err != nil || len(h) != 1 || h[0].To != "online" {
				t.Fatalf("history after reopen: %+v, %v", h, err)
			}
			bs, err := s.Buckets(ctx, "c1", "1h", time.Time{}, time.Time{})
			if err != nil || len(bs) != 1 || bs[0].ActualItems != 7 {
				t.Fatalf("buckets after reopen: %+v, %v", bs, err)
			}
			rs, err := s.ListRegistered(ctx)
			if err != nil || len(rs) != 1 {
				t.Fatalf("registry after reopen: %+v, %v", rs, err)
			}
		})
	}
}

func openStoreLogged(t *testing.T, url string, logs *logBuffer) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, slogTo(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migrationVersions lists the applied migrations goose recorded.
func migrationVersions(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), "SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, strconv.FormatInt(v, 10))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
