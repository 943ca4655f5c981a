package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Identity and access: organisations and their teams, users, the roles bound to
// them, browser sessions and personal API tokens. The store keeps no secret: a
// session is keyed by the hex SHA-256 of its cookie secret, a token by the hex
// SHA-256 of the token, and a password by its argon2id hash (made by api/auth).
// Expiry, revocation and disabled users are the caller's to check: the readers
// return such rows as they are.

// User is a person (or robot) who logs in.
type User struct {
	// ID is the user's stable identifier; CreateUser makes a random one when empty.
	ID string
	// Username is what the user logs in with; unique, compared exactly.
	Username string
	// PasswordHash is the argon2id hash of the password in PHC string format.
	PasswordHash string
	// CreatedAt is when the user was created; CreateUser uses the current time
	// when zero.
	CreatedAt time.Time
	// DisabledAt is when the user was disabled; zero while the user is enabled.
	DisabledAt time.Time
	// DisplayName and Email describe the user to people; both may be empty.
	DisplayName, Email string
}

// Disabled reports whether the user may not log in or use its tokens.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

const userColumns = `id, username, password_hash, created_at, disabled_at, display_name, email`

func scanUser(sc scanner) (User, error) {
	var (
		u        User
		created  int64
		disabled sql.NullInt64
	)
	if err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, &created, &disabled, &u.DisplayName, &u.Email); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.DisabledAt = time.UnixMilli(created).UTC(), fromMillis(disabled)
	return u, nil
}

// CreateUser adds u with its role bindings, in one transaction, and returns it as
// stored (its ID made up when empty, times in UTC milliseconds). An error wraps
// ErrExists if the username or ID is taken, ErrNotFound if a binding names an org
// or team that does not exist.
func (s *Store) CreateUser(ctx context.Context, u User, bindings ...RoleBinding) (User, error) {
	if u.Username == "" {
		return User{}, errors.New("create user: empty username")
	}
	if u.PasswordHash == "" {
		return User{}, fmt.Errorf("create user %q: empty password hash", u.Username)
	}
	if u.ID == "" {
		u.ID = newID()
	}
	u.Username, u.CreatedAt, u.DisabledAt = text(u.Username), time.UnixMilli(nowOr(u.CreatedAt)).UTC(), toMillis(u.DisabledAt)
	u.DisplayName, u.Email = text(u.DisplayName), text(u.Email)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING`, text(u.ID), u.Username, text(u.PasswordHash), u.CreatedAt.UnixMilli(), millis(u.DisabledAt),
			u.DisplayName, u.Email))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w; pick another username", ErrExists)
		}
		for _, b := range bindings {
			if err := addBinding(ctx, tx, u.ID, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return u, nil
}

// User returns user id, or an error wrapping ErrNotFound.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, text(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %q: %w", id, err)
	}
	return u, nil
}

// UserByUsername returns the user called username, or an error wrapping
// ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, text(username)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %q: %w", username, err)
	}
	return u, nil
}

// Users returns every user, ordered by username.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	return queryAll(ctx, s, "list users", `SELECT `+userColumns+` FROM users ORDER BY username`, nil, scanUser)
}

// HasUsers reports whether any user exists.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	err := exists(ctx, s.db, `SELECT 1 FROM users LIMIT 1`)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for users: %w", err)
	}
	return true, nil
}

// SetPassword replaces the password hash of user userID; an error wrapping
// ErrNotFound for an unknown user.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	if hash == "" {
		return fmt.Errorf("set password of user %q: empty hash", userID)
	}
	return s.updateUser(ctx, "set password of", userID, `UPDATE users SET password_hash = $2 WHERE id = $1`, text(hash))
}

// SetUserDisabled disables user userID at at, or enables it when at is zero.
// Disabling a disabled user moves its disabled time to at. An unknown user is
// an error wrapping ErrNotFound; disabling the last enabled super admin one
// wrapping ErrLastSuperAdmin.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, at time.Time) error {
	if at.IsZero() {
		return s.updateUser(ctx, "enable", userID, `UPDATE users SET disabled_at = $2 WHERE id = $1`, millis(at))
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.keepSuperAdmin(ctx, tx, userID); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE users SET disabled_at = $2 WHERE id = $1`, text(userID), millis(at)))
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("disable user %q: %w", userID, err)
	}
	return nil
}

func (s *Store) updateUser(ctx context.Context, what, userID, query string, arg any) error {
	n, err := affected(s.db.ExecContext(ctx, query, text(userID), arg))
	if err != nil {
		return fmt.Errorf("%s user %q: %w", what, userID, err)
	}
	if n == 0 {
		return fmt.Errorf("%s user %q: %w", what, userID, ErrNotFound)
	}
	return nil
}
