// Package auth authenticates the requests of the corral API and says what the
// authenticated principal may do.
//
// Browsers log in with a username and password (POST /api/v1/login) and get a
// session cookie (HttpOnly, SameSite=Lax); their state-changing requests must
// also carry the session's CSRF token in the X-CSRF-Token header. Automation uses
// personal API tokens (Authorization: Bearer corral_…), which need no CSRF token.
// The store keeps only SHA-256 hashes of session secrets and tokens, and argon2id
// hashes of passwords.
//
// [Authenticator.Middleware] puts a [Principal] into the request context;
// handlers get it with [FromContext] and check scope with [Principal.CanRead],
// [Principal.CanAct] and [Principal.CanAdmin].
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// Store is what the Authenticator needs of the store; *store.Store satisfies it.
type Store interface {
	UserReader
	SessionStore
	TokenStore
	Bootstrapper
}

// UserReader reads users and their roles.
type UserReader interface {
	User(ctx context.Context, id string) (store.User, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
	Bindings(ctx context.Context, userID string) ([]store.RoleBinding, error)
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	Session(ctx context.Context, id string) (store.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error)
}

// TokenStore keeps personal API tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, t store.APIToken) (store.APIToken, error)
	TokenBySecretHash(ctx context.Context, sha string) (store.APIToken, error)
	Tokens(ctx context.Context, userID string) ([]store.APIToken, error)
	RevokeToken(ctx context.Context, userID, id string, at time.Time) error
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// Bootstrapper creates the first user.
type Bootstrapper interface {
	HasUsers(ctx context.Context) (bool, error)
	CreateOrg(ctx context.Context, o store.Org) error
	CreateUser(ctx context.Context, u store.User, bindings ...store.RoleBinding) (store.User, error)
}

var _ Store = (*store.Store)(nil)

// Options configure an Authenticator. The zero value of each field selects its
// default.
type Options struct {
	// SessionTTL is how long a session lasts from login; default 12h.
	SessionTTL time.Duration
	// CookieName is the name of the session cookie; default "corral_session".
	CookieName string
	// Secure sets the Secure flag of the session cookie; set it when the server
	// is reached over HTTPS (directly or through a proxy).
	Secure bool
	// TokenTTL is the lifetime of a new API token whose request names no expiry;
	// default 90 days. MaxTokenTTL bounds the lifetime a request may ask for;
	// default 366 days.
	TokenTTL, MaxTokenTTL time.Duration
	// LoginFailuresPerUser is how many failed logins a username may have from
	// one client address before each further attempt from that address for that
	// username must wait 1s, 2s, 4s, … (doubling) after the previous failure, at
	// most LoginMaxDelay; default 5 and 15 minutes. The wait is answered with 429
	// and Retry-After. A correct login clears the pair, and a pair idle for its
	// wait plus LoginWindow starts afresh. Only the pair is throttled: someone
	// else's wrong guesses never stop the right password from another address.
	//
	// LoginFailuresPerIP is how many failed logins a client address may have
	// within LoginWindow, whatever the usernames, before its further attempts
	// get 429; default 20 and 15 minutes. It is high so that the users behind one
	// NAT do not stop each other.
	//
	// A negative limit turns that limit off.
	LoginFailuresPerUser, LoginFailuresPerIP int
	LoginWindow, LoginMaxDelay               time.Duration
	// MaxConcurrentLogins bounds the password checks running at once, each of
	// which takes 64 MiB (an unknown username costs one too, so that it cannot
	// be told from a wrong password); default 2. A login waits at most
	// LoginQueueWait for a free slot, default 2s, and is then answered 503
	// unavailable with Retry-After, so that a burst of logins costs at most
	// MaxConcurrentLogins × 64 MiB and no unbounded queue.
	MaxConcurrentLogins int
	LoginQueueWait      time.Duration
	// ClientIP tells the client address of a request, for the login rate limit;
	// default the host of RemoteAddr. Behind a reverse proxy, give one that
	// trusts the proxy's X-Forwarded-For.
	ClientIP func(*http.Request) string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives login, logout and token events (never a secret); default
	// discards.
	Logger *slog.Logger
	// OnRevoke, when set, is called after a credential stops authenticating
	// through the API: kind ViaSession and the session ID on logout, kind
	// ViaToken and the token ID on revocation, so that long-lived connections
	// made with it (WebSockets) can be closed at once. It must not block.
	OnRevoke func(kind, id string)
	// HashMemoryKiB and HashTime are the argon2id memory and passes of the
	// password hashes the Authenticator makes (Bootstrap, the user routes);
	// zero selects RFC 9106's 64 MiB and 3 passes. Lower them only in tests:
	// existing hashes keep their own parameters.
	HashMemoryKiB, HashTime uint32
	// Audit, when set, receives logins, failed logins (the username tried,
	// never the password), logouts and API tokens created and revoked.
	Audit AuditAppender
}

// Defaults of Options.
const (
	DefaultSessionTTL = 12 * time.Hour
	DefaultCookieName = "corral_session"
	DefaultTokenTTL   = 90 * 24 * time.Hour
	CSRFHeader        = "X-CSRF-Token"
)

// touchEvery is how stale the last-seen time of a session or the last-used time
// of a token may get before a request writes it again.
const touchEvery = time.Minute

// Authenticator logs users in and authenticates requests. It is safe for
// concurrent use.
type Authenticator struct {
	st     Store
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	byPair *backoff // failures per (username, client address)
	byIP   *limiter
	slots  chan struct{} // password checks running
	params argon2Params  // of the hashes Bootstrap makes; tests lower them
	// dummyHash is checked against when the username is unknown, so that a
	// login takes as long whether the user exists or not.
	dummyHash func() string
	// checkPassword is CheckPassword; tests hold a login inside it.
	checkPassword func(hash, pw string) (bool, error)
	// known are the credentials that authenticated recently: reads go on
	// with them while the store is unavailable (known.go).
	known known
}

// New returns an Authenticator over st.
func New(st Store, opts Options) *Authenticator {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.CookieName == "" {
		opts.CookieName = DefaultCookieName
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.MaxTokenTTL <= 0 {
		opts.MaxTokenTTL = 366 * 24 * time.Hour
	}
	if opts.LoginFailuresPerUser == 0 {
		opts.LoginFailuresPerUser = 5
	}
	if opts.LoginFailuresPerIP == 0 {
		opts.LoginFailuresPerIP = 20
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = 15 * time.Minute
	}
	if opts.LoginMaxDelay <= 0 {
		opts.LoginMaxDelay = 15 * time.Minute
	}
	if opts.MaxConcurrentLogins <= 0 {
		opts.MaxConcurrentLogins = 2
	}
	if opts.LoginQueueWait <= 0 {
		opts.LoginQueueWait = 2 * time.Second
	}
	if opts.ClientIP == nil {
		opts.ClientIP = remoteHost
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{
		st:     st,
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Now,
		byPair: newBackoff(opts.LoginFailuresPerUser, opts.LoginMaxDelay, opts.LoginWindow),
		byIP:   newLimiter(opts.LoginFailuresPerIP, opts.LoginWindow),
		slots:  make(chan struct{}, opts.MaxConcurrentLogins),
		params: defaultParams,

		checkPassword: CheckPassword,
	}
	if opts.HashMemoryKiB > 0 {
		a.params.memoryKiB = opts.HashMemoryKiB
	}
	if opts.HashTime > 0 {
		a.params.time = opts.HashTime
	}
	a.dummyHash = sync.OnceValue(func() string {
		h, _ := hashPassword(newSecret(16), a.params) // cannot fail for a short password
		return h
	})
	return a
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sessionKey carries the session of a cookie-authenticated request.
type sessionKey struct{}

// Middleware authenticates every request before passing it to next, by the
// "Authorization: Bearer" API token or else the session cookie, and puts the
// [Principal] into its context. Without valid credentials it answers 401; a
// cookie-authenticated request with an unsafe method (anything but GET, HEAD,
// OPTIONS, TRACE) must carry the session's CSRF token in X-CSRF-Token, or gets
// 403. It writes the last-seen time of a session and the last-used time of a
// token at most once a minute.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, sess, err := a.authenticate(r)
		if err != nil {
			if err.Status == http.StatusUnauthorized && sess == nil && r.Header.Get("Authorization") == "" &&
				hasCookie(r, a.opts.CookieName) {
				a.clearCookie(w) // a stale cookie: let the browser drop it
			}
			writeError(w, err)
			return
		}
		ctx := WithPrincipal(r.Context(), p)
		if sess != nil {
			ctx = context.WithValue(ctx, sessionKey{}, sess)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate finds the principal of r. On an error, sess is non-nil when the
// session itself is valid (the error is then about CSRF or the user).
func (a *Authenticator) authenticate(r *http.Request) (*Principal, *store.Session, *apiError) {
	ctx := r.Context()
	now := a.now()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return nil, nil, errUnauthenticated("the Authorization header must be \"Bearer <API token>\"")
		}
		p, err := a.authenticateToken(ctx, tok, now)
		if err != nil {
			key := knownKey(ViaToken, hashSecret(tok))
			switch {
			case err.Status == http.StatusServiceUnavailable && !unsafeMethod(r.Method):
				if k, ok := a.known.recall(key, now); ok {
					p := k.p
					return &p, nil, nil
				}
			case err.Status == http.StatusUnauthorized:
				a.known.drop(key) // revoked, expired, its user disabled: never on trust again
			}
		}
		return p, nil, err
	}
	c, err := r.Cookie(a.opts.CookieName)
	if err != nil || c.Value == "" {
		return nil, nil, errUnauthenticated("log in (POST /api/v1/login) or send \"Authorization: Bearer <API token>\"")
	}
	sessKey := knownKey(ViaSession, hashSecret(c.Value))
	sess, err := a.st.Session(ctx, hashSecret(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		a.known.drop(sessKey)
		return nil, nil, errUnauthenticated("session unknown or expired; log in again")
	}
	if err != nil {
		a.logStoreError("authenticate session", "err", err)
		aerr := storeFailed(err)
		if aerr.Status == http.StatusServiceUnavailable && !unsafeMethod(r.Method) {
			if k, ok := a.known.recall(sessKey, now); ok {
				p := k.p
				return &p, k.sess, nil
			}
		}
		return nil, nil, aerr
	}
	if !now.Before(sess.ExpiresAt) {
		a.known.drop(sessKey)
		if err := a.st.DeleteSession(ctx, sess.ID); err != nil {
			a.log.Warn("delete expired session", "err", err)
		}
		return nil, nil, errUnauthenticated("session unknown or expired; log in again")
	}
	if unsafeMethod(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
			return nil, &sess, newError(http.StatusForbidden, wire.CodeCSRF, "missing or wrong CSRF token",
				map[string]any{"reason": "send the csrf_token of POST /api/v1/login or GET /api/v1/me in the " + CSRFHeader + " header"})
		}
	}
	p, aerr := a.principal(ctx, sess.UserID)
	if aerr != nil {
		if aerr.Status == http.StatusUnauthorized {
			a.known.drop(sessKey) // its user disabled or removed
		}
		return nil, &sess, aerr
	}
	p.Via, p.SessionID = ViaSession, sess.ID
	kept := sess
	a.known.remember(sessKey, knownCredential{p: *p, sess: &kept, expires: sess.ExpiresAt, checked: now})
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := a.st.TouchSession(ctx, sess.ID, now); err != nil {
			a.log.Warn("record session activity", "user", p.Username, "err", err)
		}
	}
	return p, &sess, nil
}

func (a *Authenticator) authenticateToken(ctx context.Context, tok string, now time.Time) (*Principal, *apiError) {
	const invalid = "API token unknown, expired or revoked"
	if len(tok) != len(TokenPrefix)+43 || tok[:len(TokenPrefix)] != TokenPrefix {
		return nil, errUnauthenticated(invalid)
	}
	sha := hashSecret(tok)
	t, err := a.st.TokenBySecretHash(ctx, sha)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated(invalid)
	}
	if err != nil {
		a.logStoreError("authenticate API token", "err", err)
		return nil, storeFailed(err)
	}
	if subtle.ConstantTimeCompare([]byte(t.SecretSHA256), []byte(sha)) != 1 || !t.RevokedAt.IsZero() ||
		(!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return nil, errUnauthenticated(invalid)
	}
	p, aerr := a.principal(ctx, t.UserID)
	if aerr != nil {
		return nil, aerr
	}
	p.Via, p.TokenID = ViaToken, t.ID
	a.known.remember(knownKey(ViaToken, sha), knownCredential{p: *p, expires: t.ExpiresAt, checked: now})
	if now.Sub(t.LastUsed) >= touchEvery {
		if err := a.st.TouchToken(ctx, t.ID, now); err != nil {
			a.log.Warn("record API token use", "token_id", t.ID, "err", err)
		}
	}
	return p, nil
}

// principal loads an enabled user and its bindings.
func (a *Authenticator) principal(ctx context.Context, userID string) (*Principal, *apiError) {
	u, err := a.st.User(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated("user no longer exists")
	}
	if err != nil {
		a.logStoreError("load user", "user_id", userID, "err", err)
		return nil, storeFailed(err)
	}
	if u.Disabled() {
		return nil, errUnauthenticated("user disabled")
	}
	bs, err := a.st.Bindings(ctx, userID)
	if err != nil {
		a.logStoreError("load role bindings", "user", u.Username, "err", err)
		return nil, storeFailed(err)
	}
	p := &Principal{UserID: u.ID, Username: u.Username, Bindings: make([]Binding, len(bs))}
	for i, b := range bs {
		p.Bindings[i] = Binding{Role: Role(b.Role), Org: b.Org, Team: b.Team}
	}
	return p, nil
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

// Reasons [Authenticator.StillValid] gives for a credential that no longer holds.
const (
	ReasonRevoked   = "credential revoked"
	ReasonExpired   = "session expired"
	ReasonLoggedOut = "logged out"
)

// StillValid reports whether the credential p authenticated with (its session
// or API token) still authenticates: not ended, revoked or expired, and its user
// still exists and is enabled. If not, reason says why (one of the Reason
// constants). For long-lived connections that authenticated once, such as
// WebSockets. An error of the store counts as valid (it is logged), so that a
// store hiccup does not drop every connection.
func (a *Authenticator) StillValid(ctx context.Context, p *Principal) (ok bool, reason string) {
	now := a.now()
	switch p.Via {
	case ViaSession:
		sess, err := a.st.Session(ctx, p.SessionID)
		if errors.Is(err, store.ErrNotFound) {
			return false, ReasonExpired // ended by logout, which says so at once, or by expiry
		}
		if err != nil {
			a.log.Warn("re-check session", "user", p.Username, "err", err)
			return true, ""
		}
		if !now.Before(sess.ExpiresAt) {
			return false, ReasonExpired
		}
	case ViaToken:
		ts, err := a.st.Tokens(ctx, p.UserID)
		if err != nil {
			a.log.Warn("re-check API token", "token_id", p.TokenID, "err", err)
			return true, ""
		}
		found := false
		for _, t := range ts {
			if t.ID != p.TokenID {
				continue
			}
			found = true
			if !t.RevokedAt.IsZero() {
				return false, ReasonRevoked
			}
			if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
				return false, "token expired"
			}
		}
		if !found {
			return false, ReasonRevoked
		}
	default:
		return false, ReasonRevoked
	}
	u, err := a.st.User(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled()) {
		return false, ReasonRevoked
	}
	if err != nil {
		a.log.Warn("re-check user", "user", p.Username, "err", err)
	}
	return true, ""
}

// revoked tells Options.OnRevoke that a credential stopped authenticating.
func (a *Authenticator) revoked(kind, id string) {
	a.known.forget(kind, id)
	if a.opts.OnRevoke != nil {
		a.opts.OnRevoke(kind, id)
	}
}

// PrincipalOf loads user userID as a principal with its current role bindings,
// for work done on its behalf later (a scheduled bulk operation). A user that is
// gone or disabled is an error.
func (a *Authenticator) PrincipalOf(ctx context.Context, userID string) (*Principal, error) {
	p, e := a.principal(ctx, userID)
	if e != nil {
		return nil, e
	}
	return p, nil
}
