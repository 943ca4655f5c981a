package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// APIToken is a personal API token.
type APIToken struct {
	// ID is the token's public identifier; CreateToken makes a random one when
	// empty.
	ID     string
	UserID string
	Name   string
	// SecretSHA256 is the hex SHA-256 of the token; the token itself is never
	// stored.
	SecretSHA256 string
	// CreatedAt is when the token was created; CreateToken uses the current time
	// when zero.
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
	LastUsed  time.Time // zero: never used
	RevokedAt time.Time // zero: not revoked
}

const tokenColumns = `id, user_id, name, secret_sha256, created_at, expires_at, last_used_at, revoked_at`

func scanToken(sc scanner) (APIToken, error) {
	var (
		t                      APIToken
		created                int64
		expires, used, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.SecretSHA256, &created, &expires, &used, &revoked); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt = time.UnixMilli(created).UTC()
	t.ExpiresAt, t.LastUsed, t.RevokedAt = fromMillis(expires), fromMillis(used), fromMillis(revoked)
	return t, nil
}

// CreateToken adds t and returns it as stored (its ID made up when empty, times in
// UTC milliseconds). An error wraps ErrExists if its ID or secret hash is taken,
// ErrNotFound if its user does not exist.
func (s *Store) CreateToken(ctx context.Context, t APIToken) (APIToken, error) {
	if t.UserID == "" || t.SecretSHA256 == "" {
		return APIToken{}, errors.New("create token: user and secret hash are required")
	}
	if t.ID == "" {
		t.ID = newID()
	}
	t.Name = text(t.Name)
	t.CreatedAt = time.UnixMilli(nowOr(t.CreatedAt)).UTC()
	t.ExpiresAt, t.LastUsed, t.RevokedAt = toMillis(t.ExpiresAt), toMillis(t.LastUsed), toMillis(t.RevokedAt)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = $1`, text(t.UserID)); err != nil {
			return fmt.Errorf("user %q: %w", t.UserID, err)
		}
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			text(t.ID), text(t.UserID), t.Name, text(t.SecretSHA256), t.CreatedAt.UnixMilli(),
			millis(t.ExpiresAt), millis(t.LastUsed), millis(t.RevokedAt)))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return APIToken{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return t, nil
}

// TokenBySecretHash returns the token whose SecretSHA256 is sha, revoked, expired
// or not, or an error wrapping ErrNotFound.
func (s *Store) TokenBySecretHash(ctx context.Context, sha string) (APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE secret_sha256 = $1`, text(sha)))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// Tokens returns the tokens of user userID, revoked and expired ones included,
// newest first.
func (s *Store) Tokens(ctx context.Context, userID string) ([]APIToken, error) {
	return queryAll(ctx, s, "list tokens of user "+userID,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id`,
		[]any{text(userID)}, scanToken)
}

// RevokeToken revokes token id of user userID at at (the current time when
// zero). Revoking a revoked token keeps its first revocation time. An error
// wraps ErrNotFound if user userID has no token id.
func (s *Store) RevokeToken(ctx context.Context, userID, id string, at time.Time) error {
	n, err := affected(s.db.ExecContext(ctx,
		`UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		text(id), text(userID), nowOr(at)))
	if err == nil && n == 0 {
		err = exists(ctx, s.db, `SELECT 1 FROM api_tokens WHERE id = $1 AND user_id = $2`, text(id), text(userID))
	}
	if err != nil {
		return fmt.Errorf("revoke token %q of user %q: %w", id, userID, err)
	}
	return nil
}

// TouchToken moves the last-used time of token id forward to at; an unknown
// token is not an error.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`,
		text(id), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("touch token %q: %w", id, err)
	}
	return nil
}
