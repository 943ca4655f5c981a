package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
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

// Roles, as stored in a [RoleBinding].
const (
	RoleSuperAdmin = "super_admin" // everything; no org, no team
	RoleOrgAdmin   = "org_admin"   // one org; no team
	RoleTeamLead   = "team_lead"   // an org, or one team of it; may act
	RoleViewer     = "viewer"      // an org, or one team of it; read only
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
}

// Disabled reports whether the user may not log in or use its tokens.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// RoleBinding grants a user a role in a scope. super_admin has no org and no
// team, org_admin an org only, team_lead and viewer an org and optionally one
// team of it (no team: the whole org).
type RoleBinding struct {
	Role string
	Org  string
	Team string
}

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

// OrgStore keeps organisations and teams.
type OrgStore interface {
	// CreateOrg adds an org; an error wrapping ErrExists if its ID is taken.
	CreateOrg(ctx context.Context, o Org) error
	// Orgs returns every org, ordered by ID.
	Orgs(ctx context.Context) ([]Org, error)
	// CreateTeam adds a team to its org; an error wrapping ErrNotFound if the org
	// does not exist, ErrExists if the org has a team with that ID.
	CreateTeam(ctx context.Context, t Team) error
	// Teams returns the teams of org, ordered by ID.
	Teams(ctx context.Context, org string) ([]Team, error)
}

// UserReader reads users.
type UserReader interface {
	// User returns a user by ID, or an error wrapping ErrNotFound.
	User(ctx context.Context, id string) (User, error)
	// UserByUsername returns a user by username, or an error wrapping ErrNotFound.
	UserByUsername(ctx context.Context, username string) (User, error)
	// Users returns every user, ordered by username.
	Users(ctx context.Context) ([]User, error)
	// HasUsers reports whether any user exists.
	HasUsers(ctx context.Context) (bool, error)
}

// UserWriter creates and changes users.
type UserWriter interface {
	// CreateUser adds a user with its role bindings, in one transaction, and
	// returns it as stored; an error wrapping ErrExists if the username or ID is
	// taken.
	CreateUser(ctx context.Context, u User, bindings ...RoleBinding) (User, error)
	// SetPassword replaces a user's password hash; ErrNotFound for an unknown user.
	SetPassword(ctx context.Context, userID, hash string) error
	// SetUserDisabled disables a user at at, or enables it when at is zero;
	// ErrNotFound for an unknown user.
	SetUserDisabled(ctx context.Context, userID string, at time.Time) error
}

// BindingStore keeps the roles of users.
type BindingStore interface {
	// Bindings returns the role bindings of a user, ordered by role, org, team.
	Bindings(ctx context.Context, userID string) ([]RoleBinding, error)
	// AddBinding grants a role; an error wrapping ErrNotFound if the user, org or
	// team does not exist, ErrExists if the user has that binding already.
	AddBinding(ctx context.Context, userID string, b RoleBinding) error
	// RemoveBinding takes a role back; an error wrapping ErrNotFound if the user
	// has no such binding.
	RemoveBinding(ctx context.Context, userID string, b RoleBinding) error
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	// CreateSession adds a session; an error wrapping ErrExists if its ID is taken.
	CreateSession(ctx context.Context, s Session) error
	// Session returns a session by ID (expired or not), or an error wrapping
	// ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// TouchSession moves the session's last-seen time forward to at; an unknown
	// session is not an error.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession removes a session; an unknown session is not an error.
	DeleteSession(ctx context.Context, id string) error
}

// SessionPruner removes sessions that have expired.
type SessionPruner interface {
	// DeleteExpiredSessions removes the sessions that expired at or before
	// before and returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error)
}

// TokenReader reads personal API tokens.
type TokenReader interface {
	// TokenBySecretHash returns the token whose SecretSHA256 is sha (revoked,
	// expired or not), or an error wrapping ErrNotFound.
	TokenBySecretHash(ctx context.Context, sha string) (APIToken, error)
	// Tokens returns the tokens of a user, revoked and expired ones included,
	// newest first.
	Tokens(ctx context.Context, userID string) ([]APIToken, error)
}

// TokenWriter creates, revokes and touches personal API tokens.
type TokenWriter interface {
	// CreateToken adds a token and returns it as stored; an error wrapping
	// ErrExists if its ID or secret hash is taken, ErrNotFound if its user does
	// not exist.
	CreateToken(ctx context.Context, t APIToken) (APIToken, error)
	// RevokeToken revokes token id of user userID at at (the current time when
	// zero); revoking a revoked token keeps the first time. An error wrapping
	// ErrNotFound if the user has no such token.
	RevokeToken(ctx context.Context, userID, id string, at time.Time) error
	// TouchToken moves the token's last-used time forward to at; an unknown token
	// is not an error.
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// Compile-time checks that *Store implements the identity interfaces.
var (
	_ OrgStore      = (*Store)(nil)
	_ UserReader    = (*Store)(nil)
	_ UserWriter    = (*Store)(nil)
	_ BindingStore  = (*Store)(nil)
	_ SessionStore  = (*Store)(nil)
	_ SessionPruner = (*Store)(nil)
	_ TokenReader   = (*Store)(nil)
	_ TokenWriter   = (*Store)(nil)
)

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

// nowOr returns t in milliseconds, or the current time when t is zero.
func nowOr(t time.Time) int64 {
	if t.IsZero() {
		return time.Now().UnixMilli()
	}
	return t.UnixMilli()
}

// newID returns a random identifier: 32 hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// affected returns the rows an Exec changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// --- orgs and teams ---

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

// --- users ---

const userColumns = `id, username, password_hash, created_at, disabled_at`

func scanUser(sc scanner) (User, error) {
	var (
		u        User
		created  int64
		disabled sql.NullInt64
	)
	if err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, &created, &disabled); err != nil {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`, text(u.ID), u.Username, text(u.PasswordHash), u.CreatedAt.UnixMilli(), millis(u.DisabledAt)))
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

// toMillis is t truncated to UTC milliseconds, as the store gives times back.
func toMillis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
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

// SetPassword replaces the password hash of user userID.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	if hash == "" {
		return fmt.Errorf("set password of user %q: empty hash", userID)
	}
	return s.updateUser(ctx, "set password of", userID, `UPDATE users SET password_hash = $2 WHERE id = $1`, text(hash))
}

// SetUserDisabled disables user userID at at, or enables it when at is zero.
// Disabling a disabled user moves its disabled time to at.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, at time.Time) error {
	return s.updateUser(ctx, "disable", userID, `UPDATE users SET disabled_at = $2 WHERE id = $1`, millis(at))
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

// --- role bindings ---

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
func (s *Store) RemoveBinding(ctx context.Context, userID string, b RoleBinding) error {
	n, err := affected(s.db.ExecContext(ctx,
		`DELETE FROM role_bindings WHERE user_id = $1 AND role = $2 AND org = $3 AND team = $4`,
		text(userID), text(b.Role), text(b.Org), text(b.Team)))
	if err != nil {
		return fmt.Errorf("revoke %s from user %q: %w", describeBinding(b), userID, err)
	}
	if n == 0 {
		return fmt.Errorf("revoke %s from user %q: %w", describeBinding(b), userID, ErrNotFound)
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

// --- sessions ---

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

// TouchSession moves the last-seen time of session id forward to at.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)`,
		text(id), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes session id.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, text(id)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that expired at or before before.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error) {
	n, err := affected(s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, before.UnixMilli()))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// --- API tokens ---

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

// TouchToken moves the last-used time of token id forward to at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`,
		text(id), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("touch token %q: %w", id, err)
	}
	return nil
}

// --- helpers ---

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exists returns nil if query returns a row, an error wrapping ErrNotFound if it
// returns none.
func exists(ctx context.Context, q querier, query string, args ...any) error {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, s *Store, what, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
