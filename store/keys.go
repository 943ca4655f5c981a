package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// States of a server key.
const (
	KeyActive  = "active"  // signs every control request
	KeyNext    = "next"    // being rolled out to the agents; signs nothing yet
	KeyRetired = "retired" // no longer used
)

// ServerKey is one of the server's Ed25519 keys for signing control requests.
// The private key is a secret: it never leaves the server.
type ServerKey struct {
	KID           string // control.KeyID of the public key
	PrivateKeyPEM string // PKCS#8 PEM
	PublicKey     string // "ed25519:…"
	State         string
	// CreatedAt is when it was made; the current time when zero.
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
}

const keyColumns = `kid, private_key, public_key, state, created_at, activated_at, retired_at`

// ServerKeys returns every key, oldest first.
func (s *Store) ServerKeys(ctx context.Context) ([]ServerKey, error) {
	return queryAll(ctx, s, "read server keys", `SELECT `+keyColumns+` FROM server_keys ORDER BY created_at, kid`, nil,
		func(sc scanner) (ServerKey, error) {
			var (
				k                  ServerKey
				created            int64
				activated, retired sql.NullInt64
			)
			if err := sc.Scan(&k.KID, &k.PrivateKeyPEM, &k.PublicKey, &k.State, &created, &activated, &retired); err != nil {
				return ServerKey{}, err
			}
			k.CreatedAt, k.ActivatedAt, k.RetiredAt = time.UnixMilli(created).UTC(), fromMillis(activated), fromMillis(retired)
			return k, nil
		})
}

// AddServerKey adds k unless a key of its state (active or next) or its KID
// exists, and reports whether it did; two servers starting at once on one
// PostgreSQL store make one key.
func (s *Store) AddServerKey(ctx context.Context, k ServerKey) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, `INSERT INTO server_keys (`+keyColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, text(k.KID), text(k.PrivateKeyPEM), text(k.PublicKey),
		text(k.State), nowOr(k.CreatedAt), millis(k.ActivatedAt), millis(k.RetiredAt)))
	if err != nil {
		return false, fmt.Errorf("add server key %s: %w", k.KID, err)
	}
	return n == 1, nil
}

// PromoteServerKey retires the active key and activates the next key kid.
func (s *Store) PromoteServerKey(ctx context.Context, kid string, at time.Time) error {
	when := nowOr(at)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE server_keys SET state = 'retired', retired_at = $1 WHERE state = 'active'`, when); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE server_keys SET state = 'active', activated_at = $2 WHERE kid = $1 AND state = 'next'`, text(kid), when))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: no next key %s", ErrNotFound, kid)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("promote server key %s: %w", kid, err)
	}
	return nil
}

// RetireServerKey retires key kid (an abandoned next key, say).
func (s *Store) RetireServerKey(ctx context.Context, kid string, at time.Time) error {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE server_keys SET state = 'retired', retired_at = $2 WHERE kid = $1 AND state <> 'retired'`, text(kid), nowOr(at)))
	if err != nil {
		return fmt.Errorf("retire server key %s: %w", kid, err)
	}
	if n == 0 {
		return fmt.Errorf("retire server key %s: %w", kid, ErrNotFound)
	}
	return nil
}
