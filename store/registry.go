package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RegisteredCollector is a collector registered through the API (as opposed to one
// found by file_sd or the static config). The registry discovery provider turns
// the active ones into targets.
type RegisteredCollector struct {
	ID         string            // registry ID
	Name       string            // becomes the collector label
	URL        string            // the agent's /metrics URL
	Labels     map[string]string // extra target labels; read back as a non-nil map
	Org, Team  string            // ownership, for RBAC
	Thresholds map[string]string // per-collector threshold overrides; read back as a non-nil map
	// Token is the collector's scrape token: corral sends it as a bearer token to
	// the agent's /metrics and /logs, whose config holds its SHA-256. It is kept
	// in the store for that, and never returned by the API after registration.
	Token string
	// TokenSHA256 is the hex SHA-256 of Token, its fingerprint.
	TokenSHA256 string
	// NextToken is a token being rolled out (rotate-credentials): it replaces
	// Token once the agent acknowledged it; "" when none is.
	NextToken string
	// CreatedAt is when it was registered; Register uses the current time when it
	// is zero.
	CreatedAt time.Time
	// ArchivedAt is when it was archived (unregistered), nil while it is active.
	ArchivedAt *time.Time
}

const registeredColumns = `id, name, url, labels, org, team, thresholds, token_sha256, created_at, archived_at, scrape_token, next_token`

// Register adds r, active (r.ArchivedAt is ignored). Registering the ID of an
// archived collector registers it again: its row is replaced and no longer
// archived. An active collector with the same ID is an error wrapping ErrExists.
func (s *Store) Register(ctx context.Context, r RegisteredCollector) error {
	if err := register(ctx, s.db, r); err != nil {
		return fmt.Errorf("register collector %q: %w", r.ID, err)
	}
	return nil
}

func register(ctx context.Context, q dbtx, r RegisteredCollector) error {
	if r.ID == "" {
		return errors.New("empty ID")
	}
	labels, err := encodeMap(r.Labels)
	if err != nil {
		return fmt.Errorf("encode labels: %w", err)
	}
	thresholds, err := encodeMap(r.Thresholds)
	if err != nil {
		return fmt.Errorf("encode thresholds: %w", err)
	}
	created := time.Now().UnixMilli()
	if !r.CreatedAt.IsZero() {
		created = r.CreatedAt.UnixMilli()
	}
	res, err := q.ExecContext(ctx, `INSERT INTO registered_collectors (`+registeredColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, '')
ON CONFLICT (id) DO UPDATE SET
	name = excluded.name, url = excluded.url, labels = excluded.labels, org = excluded.org,
	team = excluded.team, thresholds = excluded.thresholds, token_sha256 = excluded.token_sha256,
	created_at = excluded.created_at, archived_at = NULL, scrape_token = excluded.scrape_token, next_token = ''

WHERE registered_collectors.archived_at IS NOT NULL`,
		text(r.ID), text(r.Name), text(r.URL), text(labels), text(r.Org), text(r.Team), text(thresholds),
		text(r.TokenSHA256), created, text(r.Token))
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w; archive it first or pick another ID", ErrExists)
	}
	return nil
}

// Archive marks collector id archived at at (the current time when zero).
// Archiving an archived collector keeps its first archive time. An unknown id is
// an error wrapping ErrNotFound.
func (s *Store) Archive(ctx context.Context, id string, at time.Time) error {
	when := time.Now().UnixMilli()
	if !at.IsZero() {
		when = at.UnixMilli()
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE registered_collectors SET archived_at = $2 WHERE id = $1 AND archived_at IS NULL`, text(id), when)
	if err != nil {
		return fmt.Errorf("archive collector %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("archive collector %q: %w", id, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := s.Registered(ctx, id); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil // archived already
}

// ListRegistered returns the registered collectors that are not archived, ordered
// by ID.
func (s *Store) ListRegistered(ctx context.Context) ([]RegisteredCollector, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+registeredColumns+` FROM registered_collectors WHERE archived_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list registered collectors: %w", err)
	}
	defer rows.Close()
	var out []RegisteredCollector
	for rows.Next() {
		r, err := scanRegistered(rows)
		if err != nil {
			return nil, fmt.Errorf("list registered collectors: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list registered collectors: %w", err)
	}
	return out, nil
}

// Registered returns registered collector id, archived or not, or an error
// wrapping ErrNotFound.
func (s *Store) Registered(ctx context.Context, id string) (RegisteredCollector, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+registeredColumns+` FROM registered_collectors WHERE id = $1`, text(id))
	r, err := scanRegistered(row)
	if errors.Is(err, sql.ErrNoRows) {
		return RegisteredCollector{}, fmt.Errorf("registered collector %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return RegisteredCollector{}, fmt.Errorf("read registered collector %q: %w", id, err)
	}
	return r, nil
}

func scanRegistered(sc scanner) (RegisteredCollector, error) {
	var (
		r                  RegisteredCollector
		labels, thresholds string
		created            int64
		archived           sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.Name, &r.URL, &labels, &r.Org, &r.Team, &thresholds, &r.TokenSHA256, &created, &archived, &r.Token, &r.NextToken); err != nil {
		return RegisteredCollector{}, err
	}
	var err error
	if r.Labels, err = decodeMap(labels, "labels of registered collector "+r.ID); err != nil {
		return RegisteredCollector{}, err
	}
	if r.Thresholds, err = decodeMap(thresholds, "thresholds of registered collector "+r.ID); err != nil {
		return RegisteredCollector{}, err
	}
	r.CreatedAt = time.UnixMilli(created).UTC()
	if archived.Valid {
		t := time.UnixMilli(archived.Int64).UTC()
		r.ArchivedAt = &t
	}
	return r, nil
}

// RegisterAudited registers r (as Register does) and appends audit, in one
// transaction.
func (s *Store) RegisterAudited(ctx context.Context, r RegisteredCollector, audit AuditEntry) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := register(ctx, tx, r); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return fmt.Errorf("register collector %q: %w", r.ID, err)
	}
	return nil
}

// SetNextToken records the token being rolled out to collector id (active
// registry rows only); an unknown or archived id is an error wrapping ErrNotFound.
func (s *Store) SetNextToken(ctx context.Context, id, token string) error {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE registered_collectors SET next_token = $2 WHERE id = $1 AND archived_at IS NULL`,
		text(id), text(token)))
	if err != nil {
		return fmt.Errorf("set the next token of %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("registered collector %q: %w", id, ErrNotFound)
	}
	return nil
}

// PromoteNextToken makes the next token of collector id its token, if the next
// token is still token (another rotation may have replaced it); it reports
// whether it did. sha256 is the token's fingerprint.
func (s *Store) PromoteNextToken(ctx context.Context, id, token, sha256 string) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE registered_collectors SET scrape_token = next_token, token_sha256 = $3, next_token = ''
WHERE id = $1 AND next_token = $2 AND next_token <> ''`, text(id), text(token), text(sha256)))
	if err != nil {
		return false, fmt.Errorf("promote the next token of %q: %w", id, err)
	}
	return n == 1, nil
}

// DropNextToken forgets the next token of collector id if it is still token.
func (s *Store) DropNextToken(ctx context.Context, id, token string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE registered_collectors SET next_token = '' WHERE id = $1 AND next_token = $2`,
		text(id), text(token)); err != nil {
		return fmt.Errorf("drop the next token of %q: %w", id, err)
	}
	return nil
}
