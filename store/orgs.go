package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Org is an organisation: the outer scope of collectors and roles.
type Org struct {
	ID   string // short stable identifier, e.g. "default"
	Name string // display name
	// CreatedAt is when it was created; CreateOrg uses the current time when zero.
	CreatedAt time.Time
}

// Team belongs to one org; its ID is unique within the org.
type Team struct {
	Org  string
	ID   string
	Name string
	// CreatedAt is when it was created; CreateTeam uses the current time when zero.
	CreatedAt time.Time
}

// CreateOrg adds o; an error wrapping ErrExists if its ID is taken.
func (s *Store) CreateOrg(ctx context.Context, o Org) error {
	if o.ID == "" {
		return errors.New("create org: empty ID")
	}
	n, err := affected(s.db.ExecContext(ctx,
		`INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		text(o.ID), text(o.Name), nowOr(o.CreatedAt)))
	if err != nil {
		return fmt.Errorf("create org %q: %w", o.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create org %q: %w", o.ID, ErrExists)
	}
	return nil
}

// Orgs returns every org, ordered by ID.
func (s *Store) Orgs(ctx context.Context) ([]Org, error) {
	return queryAll(ctx, s, "list orgs", `SELECT id, name, created_at FROM orgs ORDER BY id`, nil,
		func(sc scanner) (Org, error) {
			var (
				o       Org
				created int64
			)
			err := sc.Scan(&o.ID, &o.Name, &created)
			o.CreatedAt = time.UnixMilli(created).UTC()
			return o, err
		})
}

// CreateTeam adds t to its org; an error wrapping ErrNotFound if the org does not
// exist, ErrExists if the org has a team with t's ID.
func (s *Store) CreateTeam(ctx context.Context, t Team) error {
	if t.Org == "" || t.ID == "" {
		return errors.New("create team: empty org or ID")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE id = $1`, text(t.Org)); err != nil {
			return fmt.Errorf("org %q: %w", t.Org, err)
		}
		n, err := affected(tx.ExecContext(ctx,
			`INSERT INTO teams (org, id, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			text(t.Org), text(t.ID), text(t.Name), nowOr(t.CreatedAt)))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create team %q of org %q: %w", t.ID, t.Org, err)
	}
	return nil
}

// Teams returns the teams of org, ordered by ID.
func (s *Store) Teams(ctx context.Context, org string) ([]Team, error) {
	return queryAll(ctx, s, "list teams of org "+org,
		`SELECT org, id, name, created_at FROM teams WHERE org = $1 ORDER BY id`, []any{text(org)},
		func(sc scanner) (Team, error) {
			var (
				t       Team
				created int64
			)
			err := sc.Scan(&t.Org, &t.ID, &t.Name, &created)
			t.CreatedAt = time.UnixMilli(created).UTC()
			return t, err
		})
}
