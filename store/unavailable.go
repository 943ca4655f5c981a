package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// SQLite result codes (the primary code is the low byte of an extended one).
const (
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

// Unavailable tells whether err means the store cannot be used right now —
// the database is unreachable, shutting down or starting, or its disk is full —
// rather than that the request was wrong. why says which, in words for an
// operator ("the database is unreachable", "the store's disk is full"). Such a
// failure passes: the Writer keeps its writes and retries, and an API write
// may be retried once the store is back.
func Unavailable(err error) (why string, ok bool) {
	if err == nil {
		return "", false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteFull:
			return "the store's disk is full", true
		case sqliteIOErr, sqliteCantOpen:
			return "the store's file cannot be read or written", true
		}
		return "", false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return "the store's disk is full", true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return "the database's disk is full", true
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutting down, starting
			return "the database is unreachable", true
		}
		return "", false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ce) || errors.As(err, &oe) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return "the database is unreachable", true
	}
	return "", false
}
