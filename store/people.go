package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The administration of people: changing and deleting users, orgs and teams,
// listing every binding, ending a user's sessions, and the rule that the last
// enabled super admin stays.

// ErrLastSuperAdmin is wrapped by the errors of the changes that would leave no
// enabled user with the super_admin role: deleting, disabling or unbinding the
// last one.
var ErrLastSuperAdmin = errors.New("the last enabled super admin cannot be removed, disabled or unbound; make another user super_admin first")

// keepSuperAdmin returns an error wrapping ErrLastSuperAdmin if user userID is
// an enabled super admin and no other enabled user is one. It runs in tx and
// serialises with the other checks of its kind, so that two requests removing
// the last two super admins at once cannot both pass: SQLite's transactions
// take the write lock when they begin (_txlock=immediate), and on PostgreSQL
// an advisory lock held until tx ends does the same.
func (s *Store) keepSuperAdmin(ctx context.Context, tx *sql.Tx, userID string) error {
	if s.dialect == DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, superAdminLock); err != nil {
			return fmt.Errorf("lock the super admins: %w", err)
		}
	}
	var self, others int
	err := tx.QueryRowContext(ctx, `SELECT
	count(*) FILTER (WHERE u.id = $1),
	count(*) FILTER (WHERE u.id <> $1)
FROM role_bindings b JOIN users u ON u.id = b.user_id
WHERE b.role = 'super_admin' AND u.disabled_at IS NULL`, text(userID)).Scan(&self, &others)
	if err != nil {
		return fmt.Errorf("count the super admins: %w", err)
	}
	if self > 0 && others == 0 {
		return ErrLastSuperAdmin
	}
	return nil
}

// superAdminLock is the PostgreSQL advisory lock key of keepSuperAdmin.
const superAdminLock int64 = 0x636f7272616c01 // "corral" 1

// UserChange is a change of a user's profile; nil fields stay as they are.
type UserChange struct {
	DisplayName, Email *string
}

// UpdateUser applies c to user id and returns it as stored; an error wrapping
// ErrNotFound for an unknown user.
func (s *Store) UpdateUser(ctx context.Context, id string, c UserChange) (User, error) {
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, text(id))); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if c.DisplayName != nil {
			u.DisplayName = text(*c.DisplayName)
		}
		if c.Email != nil {
			u.Email = text(*c.Email)
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET display_name = $2, email = $3 WHERE id = $1`, text(id), u.DisplayName, u.Email)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	return u, nil
}

// DeleteUser deletes user id with its bindings, sessions and tokens, and
// returns the IDs of the sessions it ended, so that the caller can close what
// was opened with them. An error wraps ErrNotFound for an unknown user,
// ErrLastSuperAdmin for the last enabled super admin.
func (s *Store) DeleteUser(ctx context.Context, id string) (sessions []string, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.keepSuperAdmin(ctx, tx, id); err != nil {
			return err
		}
		if sessions, err = sessionIDs(ctx, tx, id); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, text(id)))
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delete user %q: %w", id, err)
	}
	return sessions, nil
}

// EndSessions deletes every session of user userID and returns their IDs.
func (s *Store) EndSessions(ctx context.Context, userID string) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if ids, err = sessionIDs(ctx, tx, userID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, text(userID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("end the sessions of user %q: %w", userID, err)
	}
	return ids, nil
}

func sessionIDs(ctx context.Context, tx *sql.Tx, userID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM sessions WHERE user_id = $1`, text(userID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// UserBinding is a role binding with its user.
type UserBinding struct {
	UserID string
	RoleBinding
}

// AllBindings returns every role binding, ordered by user, role, org, team.
func (s *Store) AllBindings(ctx context.Context) ([]UserBinding, error) {
	return queryAll(ctx, s, "list role bindings",
		`SELECT user_id, role, org, team FROM role_bindings ORDER BY user_id, role, org, team`, nil,
		func(sc scanner) (UserBinding, error) {
			var b UserBinding
			err := sc.Scan(&b.UserID, &b.Role, &b.Org, &b.Team)
			return b, err
		})
}

// Org returns org id, or an error wrapping ErrNotFound.
func (s *Store) Org(ctx context.Context, id string) (Org, error) {
	var (
		o       Org
		created int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM orgs WHERE id = $1`, text(id)).Scan(&o.ID, &o.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Org{}, fmt.Errorf("org %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Org{}, fmt.Errorf("read org %q: %w", id, err)
	}
	o.CreatedAt = time.UnixMilli(created).UTC()
	return o, nil
}

// RenameOrg sets the display name of org id; an error wrapping ErrNotFound for
// an unknown org.
func (s *Store) RenameOrg(ctx context.Context, id, name string) error {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE orgs SET name = $2 WHERE id = $1`, text(id), text(name)))
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("rename org %q: %w", id, err)
	}
	return nil
}

// DeleteOrg deletes org id with its teams and every role binding in it; an
// error wrapping ErrNotFound for an unknown org. Its collectors keep their
// labels: they are the discovery's, not the store's.
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_bindings WHERE org = $1`, text(id)); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `DELETE FROM orgs WHERE id = $1`, text(id)))
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete org %q: %w", id, err)
	}
	return nil
}

// Team returns team id of org, or an error wrapping ErrNotFound.
func (s *Store) Team(ctx context.Context, org, id string) (Team, error) {
	var (
		t       Team
		created int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT org, id, name, created_at FROM teams WHERE org = $1 AND id = $2`,
		text(org), text(id)).Scan(&t.Org, &t.ID, &t.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Team{}, fmt.Errorf("team %q of org %q: %w", id, org, ErrNotFound)
	}
	if err != nil {
		return Team{}, fmt.Errorf("read team %q of org %q: %w", id, org, err)
	}
	t.CreatedAt = time.UnixMilli(created).UTC()
	return t, nil
}

// RenameTeam sets the display name of team id of org; an error wrapping
// ErrNotFound for an unknown team.
func (s *Store) RenameTeam(ctx context.Context, org, id, name string) error {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE teams SET name = $3 WHERE org = $1 AND id = $2`, text(org), text(id), text(name)))
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("rename team %q of org %q: %w", id, org, err)
	}
	return nil
}

// DeleteTeam deletes team id of org and the role bindings in it; an error
// wrapping ErrNotFound for an unknown team.
func (s *Store) DeleteTeam(ctx context.Context, org, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_bindings WHERE org = $1 AND team = $2`, text(org), text(id)); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `DELETE FROM teams WHERE org = $1 AND id = $2`, text(org), text(id)))
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete team %q of org %q: %w", id, org, err)
	}
	return nil
}
