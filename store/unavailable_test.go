package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/fleet"

	"github.com/corral-dev/corral/store/testdb"
)

func TestUnavailable(t *testing.T) {
	for _, x := range []struct {
		name string
		err  error
		why  string
	}{
		{"nil", nil, ""},
		{"not found", ErrNotFound, ""},
		{"constraint", &pgconn.PgError{Code: "23505"}, ""},
		{"refused", fmt.Errorf("read token: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "the database is unreachable"},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, "the database is unreachable"},
		{"starting", &pgconn.PgError{Code: "57P03"}, "the database is unreachable"},
		{"connection failure", &pgconn.PgError{Code: "08006"}, "the database is unreachable"},
		{"disk full", &pgconn.PgError{Code: "53100"}, "the database's disk is full"},
		{"ENOSPC", fmt.Errorf("write: %w", syscall.ENOSPC), "the store's disk is full"},
		{"canceled", context.Canceled, ""},
		{"other", errors.New("boom"), ""},
	} {
		why, ok := Unavailable(x.err)
		if why != x.why || ok != (x.why != "") {
			t.Errorf("%s: Unavailable(%v) = %q, %v; want %q", x.name, x.err, why, ok, x.why)
		}
	}
}

// TestUnavailablePostgresStopped: what the store returns once its PostgreSQL
// is stopped is recognised, whichever call meets it first.
func TestUnavailablePostgresStopped(t *testing.T) {
	srv := testdb.PostgresServer(t)
	s := openStore(t, srv.URL(t))
	ctx := context.Background()
	if _, err := s.Collectors(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the pooled connection, then new ones
		_, err := s.TokenBySecretHash(ctx, "x")
		if why, ok := Unavailable(err); !ok {
			t.Fatalf("call %d with the database stopped: %v is not recognised (%q)", i, err, why)
		}
	}
}

// TestWriterDiskFull: an SQLite store that cannot grow (max_page_count, as a
// full disk) is reported as such by Unavailable and by the Writer's log, not
// as an unreachable store.
func TestWriterDiskFull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "corral.db")
	var pages int
	if err := openStore(t, "sqlite:"+path).db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, fmt.Sprintf("sqlite:%s?_pragma=max_page_count(%d)", path, pages+8))
	var logs logBuffer
	w := NewWriter(s, WriterOptions{FlushInterval: 20 * time.Millisecond, MinBackoff: 20 * time.Millisecond, Logger: slogTo(&logs), Registerer: prometheus.NewRegistry()})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	var lastErr error
	for i := 0; i < 200 && lastErr == nil; i++ {
		for j := range 100 {
			w.StatusChanges(fleet.StatusChange{Collector: fmt.Sprintf("c%d", j), From: "a", To: "b", Reason: strings.Repeat("x", 200), At: time.UnixMilli(int64(i*100 + j))})
		}
		lastErr = w.Flush(ctx)
	}
	if why, ok := Unavailable(lastErr); !ok || why != "the store's disk is full" {
		t.Fatalf("a full SQLite store: %v, Unavailable = %q, %v", lastErr, why, ok)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(logs.lines("store unavailable: the store's disk is full")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the writer's log does not say the disk is full: %q", logs.lines("level=WARN"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
}
