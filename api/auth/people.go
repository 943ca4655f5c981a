package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/corral-dev/corral/store"
)

// AuditAppender records the identity events (logins, failed logins, logouts,
// API tokens created and revoked); *store.Store is one.
type AuditAppender interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
}

// Audit actions of package auth.
const (
	ActionLogin       = "login"
	ActionLoginFailed = "login-failed"
	ActionLogout      = "logout"
	ActionTokenCreate = "token-create"
	ActionTokenRevoke = "token-revoke"
)

// audit appends one finished row for r, if Options.Audit is set. A failure is
// logged: the event has happened, and refusing it now would not undo it.
func (a *Authenticator) audit(r *http.Request, actor store.Actor, action, target, result, errText string, params map[string]any) {
	if a.opts.Audit == nil {
		return
	}
	var raw json.RawMessage
	if params != nil {
		raw, _ = json.Marshal(params) // plain strings: cannot fail
	}
	now := a.now()
	e := store.AuditEntry{At: now, FinishedAt: now, Actor: actor, Remote: a.opts.ClientIP(r), Action: action,
		Target: target, Params: raw, Result: result, Error: errText}
	if _, err := a.opts.Audit.AppendAudit(context.WithoutCancel(r.Context()), e); err != nil {
		a.log.Warn("audit "+action, "err", err)
	}
}

// ActorOf is who p is in the audit trail.
func ActorOf(p *Principal) store.Actor {
	kind := store.ActorUser
	if p.Via == ViaToken {
		kind = store.ActorToken
	}
	return store.Actor{Kind: kind, Name: p.Username, UserID: p.UserID}
}

// MinPasswordLen is the shortest password, in bytes, that the user
// administration routes accept; MaxPasswordLen the longest.
const MinPasswordLen = 8

// ErrPasswordRules is wrapped by the errors of CheckPasswordRules.
var ErrPasswordRules = errors.New("password rules")

// CheckPasswordRules checks a new password: valid UTF-8 of MinPasswordLen to
// MaxPasswordLen bytes. The error says which rule failed, never the password.
func CheckPasswordRules(pw string) error {
	switch {
	case len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: a password has %d to %d bytes", ErrPasswordRules, MinPasswordLen, MaxPasswordLen)
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: a password is valid UTF-8", ErrPasswordRules)
	}
	return nil
}

// HashPassword hashes pw as the Authenticator's own hashes (Bootstrap's).
func (a *Authenticator) HashPassword(pw string) (string, error) {
	return hashPassword(pw, a.params)
}

// GeneratePassword returns a fresh random password of 24 characters (144 bits),
// as Bootstrap makes, for a reset.
func GeneratePassword() string { return newSecret(18) }

// VerifyPassword reports whether pw matches hash, taking one of the login
// slots (Options.MaxConcurrentLogins) so that password checks outside login
// cannot take more memory than logins do. ctx ending while it waits is an error.
func (a *Authenticator) VerifyPassword(ctx context.Context, hash, pw string) (bool, error) {
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return a.checkPassword(hash, pw)
}

// EndSessionsStore ends every session of a user; *store.Store is one.
type EndSessionsStore interface {
	EndSessions(ctx context.Context, userID string) ([]string, error)
}

// RevokeUser stops every credential of user userID from working at once: it
// ends the user's sessions (their IDs in ended, when the caller already
// deleted them with the user), forgets what the Authenticator remembered of
// its sessions and tokens, and tells Options.OnRevoke of each so that their
// WebSockets close. Its tokens stay in the store (an enabled user's tokens work
// again), but every request checks that their user is enabled.
func (a *Authenticator) RevokeUser(ctx context.Context, userID string, ended []string, tokens []store.APIToken) error {
	if es, ok := a.st.(EndSessionsStore); ok && ended == nil {
		ids, err := es.EndSessions(ctx, userID)
		if err != nil {
			return err
		}
		ended = ids
	}
	if tokens == nil {
		ts, err := a.st.Tokens(ctx, userID)
		if err != nil {
			return err
		}
		tokens = ts
	}
	a.known.forgetUser(userID)
	for _, id := range ended {
		a.revoked(ViaSession, id)
	}
	for _, t := range tokens {
		a.revoked(ViaToken, t.ID)
	}
	return nil
}

// forgetUser drops every remembered credential of user userID.
func (k *known) forgetUser(userID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, c := range k.m {
		if c.p.UserID == userID {
			delete(k.m, key)
		}
	}
}

// ForgetUser drops what the Authenticator remembered of user userID's
// credentials (their roles among it), after its roles changed: a read during a
// store outage then never goes on with the old roles.
func (a *Authenticator) ForgetUser(userID string) { a.known.forgetUser(userID) }
