package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Roles, as stored in a [RoleBinding].
const (
	RoleSuperAdmin = "super_admin" // everything; no org, no team
	RoleOrgAdmin   = "org_admin"   // one org; no team
	RoleTeamLead   = "team_lead"   // an org, or one team of it; may act
	RoleViewer     = "viewer"      // an org, or one team of it; read only
)

// RoleBinding grants a user a role in a scope. super_admin has no org and no
// team, org_admin an org only, team_lead and viewer an org and optionally one
// team of it (no team: the whole org).
type RoleBinding struct {
	Role string
	Org  string
	Team string
}

// ValidateBinding checks that b has a known role and the scope its role
// requires.
func ValidateBinding(b RoleBinding) error {
	switch b.Role {
	case RoleSuperAdmin:
		if b.Org != "" || b.Team != "" {
			return fmt.Errorf("role %s takes no org and no team", b.Role)
		}
	case RoleOrgAdmin:
		if b.Org == "" || b.Team != "" {
			return fmt.Errorf("role %s takes an org and no team", b.Role)
		}
	case RoleTeamLead, RoleViewer:
		if b.Org == "" {
			return fmt.Errorf("role %s takes an org (and optionally a team)", b.Role)
		}
	default:
		return fmt.Errorf("unknown role %q: use %s, %s, %s or %s", b.Role, RoleSuperAdmin, RoleOrgAdmin, RoleTeamLead, RoleViewer)
	}
	return nil
}

// Bindings returns the role bindings of user userID, ordered by role, org, team;
// none (and no error) for an unknown user.
func (s *Store) Bindings(ctx context.Context, userID string) ([]RoleBinding, error) {
	return queryAll(ctx, s, "list role bindings of user "+userID,
		`SELECT role, org, team FROM role_bindings WHERE user_id = $1 ORDER BY role, org, team`, []any{text(userID)},
		func(sc scanner) (RoleBinding, error) {
			var b RoleBinding
			err := sc.Scan(&b.Role, &b.Org, &b.Team)
			return b, err
		})
}

// AddBinding grants b to user userID. An error wraps ErrNotFound if the user, the
// org or the team does not exist, ErrExists if the user has b already.
func (s *Store) AddBinding(ctx context.Context, userID string, b RoleBinding) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = $1`, text(userID)); err != nil {
			return fmt.Errorf("user: %w", err)
		}
		return addBinding(ctx, tx, userID, b)
	})
	if err != nil {
		return fmt.Errorf("grant %s to user %q: %w", describeBinding(b), userID, err)
	}
	return nil
}

// addBinding checks b and inserts it for a user that exists.
func addBinding(ctx context.Context, tx *sql.Tx, userID string, b RoleBinding) error {
	if err := ValidateBinding(b); err != nil {
		return err
	}
	if b.Org != "" {
		if err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE id = $1`, text(b.Org)); err != nil {
			return fmt.Errorf("org %q: %w; create it first", b.Org, err)
		}
	}
	if b.Team != "" {
		if err := exists(ctx, tx, `SELECT 1 FROM teams WHERE org = $1 AND id = $2`, text(b.Org), text(b.Team)); err != nil {
			return fmt.Errorf("team %q of org %q: %w; create it first", b.Team, b.Org, err)
		}
	}
	n, err := affected(tx.ExecContext(ctx,
		`INSERT INTO role_bindings (user_id, role, org, team) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		text(userID), b.Role, text(b.Org), text(b.Team)))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", describeBinding(b), ErrExists)
	}
	return nil
}

// RemoveBinding takes b back from user userID; an error wrapping ErrNotFound if
// the user has no such binding.
//
// Taking super_admin from the last enabled super admin is an error wrapping
// ErrLastSuperAdmin.
func (s *Store) RemoveBinding(ctx context.Context, userID string, b RoleBinding) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if b.Role == RoleSuperAdmin {
			if err := s.keepSuperAdmin(ctx, tx, userID); err != nil {
				return err
			}
		}
		n, err := affected(tx.ExecContext(ctx,
			`DELETE FROM role_bindings WHERE user_id = $1 AND role = $2 AND org = $3 AND team = $4`,
			text(userID), text(b.Role), text(b.Org), text(b.Team)))
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke %s from user %q: %w", describeBinding(b), userID, err)
	}
	return nil
}

func describeBinding(b RoleBinding) string {
	switch {
	case b.Team != "":
		return fmt.Sprintf("role %s in team %s/%s", b.Role, b.Org, b.Team)
	case b.Org != "":
		return fmt.Sprintf("role %s in org %s", b.Role, b.Org)
	}
	return "role " + b.Role
}
