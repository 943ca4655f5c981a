package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a browser session.
type Session struct {
	// ID is the hex SHA-256 of the session's cookie secret.
	ID     string
	UserID string
	// CSRFToken is the value unsafe requests of the session must send in the
	// X-CSRF-Token header; on its own it grants nothing.
	CSRFToken string
	// CreatedAt is when the session was created; CreateSession uses the current
	// time when zero.
	CreatedAt time.Time
	ExpiresAt time.Time
	LastSeen  time.Time // zero until the session is first touched
}

const sessionColumns = `id, user_id, csrf_token, created_at, expires_at, last_seen_at`

// CreateSession adds sess; an error wrapping ErrExists if its ID is taken,
// ErrNotFound if its user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	if sess.ID == "" || sess.UserID == "" || sess.ExpiresAt.IsZero() {
		return errors.New("create session: ID, user and expiry are required")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = $1`, text(sess.UserID)); err != nil {
			return fmt.Errorf("user %q: %w", sess.UserID, err)
		}
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING`, text(sess.ID), text(sess.UserID), text(sess.CSRFToken), nowOr(sess.CreatedAt),
			sess.ExpiresAt.UnixMilli(), millis(sess.LastSeen)))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err) // never the ID: it identifies a live session
	}
	return nil
}

// Session returns session id, expired or not, or an error wrapping ErrNotFound.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	var (
		sess             Session
		created, expires int64
		seen             sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, text(id)).
		Scan(&sess.ID, &sess.UserID, &sess.CSRFToken, &created, &expires, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
	sess.LastSeen = fromMillis(seen)
	return sess, nil
}

// TouchSession moves the last-seen time of session id forward to at; an
// unknown session is not an error.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)`,
		text(id), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes session id; an unknown session is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, text(id)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that expired at or before before
// and returns how many it removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error) {
	n, err := affected(s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, before.UnixMilli()))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}
