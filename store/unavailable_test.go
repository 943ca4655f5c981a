package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

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
