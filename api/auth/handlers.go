package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// Mux registers handlers by pattern; *http.ServeMux is one.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Routes registers the identity endpoints on mux:
//
//	POST   /api/v1/login        {username, password} → session cookie, {user, bindings, via, csrf_token, expires}
//	POST   /api/v1/logout       ends the session of the cookie
//	GET    /api/v1/me           {user, bindings, via, csrf_token (sessions), expires, token_id (tokens)}
//	GET    /api/v1/tokens       {tokens: [...]}: the caller's API tokens, never their secrets
//	POST   /api/v1/tokens       {name, expires | expires_in_days} → 201 {token, secret}: the secret is shown this once
//	DELETE /api/v1/tokens/{id}  revokes one of the caller's tokens
//
// Login is the only route without authentication; Routes wraps the others in
// [Authenticator.Middleware] itself, so mux must not be wrapped in it as a whole.
// Login refuses cross-origin browser requests (http.CrossOriginProtection) so
// that another site cannot log a browser into an account of its choosing.
func (a *Authenticator) Routes(mux Mux) {
	login := http.NewCrossOriginProtection()
	login.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusForbidden, wire.CodeCSRF, "cross-origin login refused", nil))
	}))
	mux.Handle("POST /api/v1/login", login.Handler(http.HandlerFunc(a.login)))
	mux.Handle("POST /api/v1/logout", a.Middleware(http.HandlerFunc(a.logout)))
	mux.Handle("GET /api/v1/me", a.Middleware(http.HandlerFunc(a.me)))
	mux.Handle("GET /api/v1/tokens", a.Middleware(http.HandlerFunc(a.listTokens)))
	mux.Handle("POST /api/v1/tokens", a.Middleware(http.HandlerFunc(a.createToken)))
	mux.Handle("DELETE /api/v1/tokens/{id}", a.Middleware(http.HandlerFunc(a.revokeToken)))
}

type userJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// meJSON answers login and /me.
type meJSON struct {
	User      userJSON   `json:"user"`
	Bindings  []Binding  `json:"bindings"`
	Via       string     `json:"via"`
	CSRFToken string     `json:"csrf_token,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	TokenID   string     `json:"token_id,omitempty"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// maxUsernameLen bounds the usernames login looks up.
const maxUsernameLen = 256

func (a *Authenticator) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case req.Username == "" || len(req.Username) > maxUsernameLen:
		writeError(w, badRequest(fmt.Sprintf("username must have 1 to %d bytes", maxUsernameLen), "username"))
		return
	case req.Password == "" || len(req.Password) > MaxPasswordLen:
		writeError(w, badRequest(fmt.Sprintf("password must have 1 to %d bytes", MaxPasswordLen), "password"))
		return
	}
	now := a.now()
	ip := a.opts.ClientIP(r)
	// Usernames are looked up case-sensitively, but ANA and ana share a throttle.
	pairKey := strings.ToLower(req.Username) + "\x00" + ip
	if wait := max(a.byPair.retryAfter(pairKey, now), a.byIP.retryAfter(ip, now)); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		a.log.Warn("login refused: too many failures", "client_ip", ip, "retry_after_seconds", secs)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeError(w, newError(http.StatusTooManyRequests, wire.CodeRateLimited, "too many failed logins; try again later",
			map[string]any{"retry_after_seconds": secs}))
		return
	}

	// Bound the argon2 checks running at once: each takes 64 MiB. Wait a
	// little for a slot, not for ever, so that a burst is refused rather than
	// queued without end.
	queued := time.NewTimer(a.opts.LoginQueueWait)
	select {
	case a.slots <- struct{}{}:
		queued.Stop()
		defer func() { <-a.slots }()
	case <-queued.C:
		const secs = 1
		a.log.Warn("login refused: too many logins at once", "client_ip", ip,
			"max_concurrent_logins", a.opts.MaxConcurrentLogins)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeError(w, newError(http.StatusServiceUnavailable, wire.CodeUnavailable, "too many logins at once; try again shortly",
			map[string]any{"retry_after_seconds": secs}))
		return
	case <-ctx.Done():
		queued.Stop()
		return // the client went away
	}
	u, err := a.st.UserByUsername(ctx, req.Username)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.logStoreError("login: look up user", "err", err)
		writeError(w, storeFailed(err))
		return
	}
	hash := u.PasswordHash
	if !known {
		hash = a.dummyHash()
	}
	ok, err := a.checkPassword(hash, req.Password)
	if err != nil {
		a.log.Error("login: check password", "user", u.Username, "err", err)
		ok = false
	}
	if !ok || !known || u.Disabled() {
		a.byPair.fail(pairKey, now)
		a.byIP.fail(ip, now)
		reason := "wrong password"
		switch {
		case !known:
			reason = "unknown user"
		case u.Disabled() && ok:
			reason = "user disabled"
		}
		args := []any{"client_ip", ip, "reason", reason}
		if known {
			args = append(args, "user", u.Username) // a typo'd username may be a password: logged only when it exists
		}
		a.log.Info("login failed", args...)
		a.audit(r, store.Actor{Kind: store.ActorUser, Name: req.Username, UserID: u.ID}, ActionLoginFailed, req.Username,
			store.ResultFailed, reason, nil)
		writeError(w, newError(http.StatusUnauthorized, wire.CodeInvalidCredentials, "invalid username or password", nil))
		return
	}
	a.byPair.reset(pairKey)

	p, aerr := a.principal(ctx, u.ID)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if c, err := r.Cookie(a.opts.CookieName); err == nil && c.Value != "" {
		// Replace the session the browser had, if any.
		if err := a.st.DeleteSession(ctx, hashSecret(c.Value)); err != nil {
			a.log.Warn("login: end the previous session", "err", err)
		}
	}
	if _, err := a.st.DeleteExpiredSessions(ctx, now); err != nil {
		a.log.Warn("login: delete expired sessions", "err", err)
	}
	secret := newSecret(32)
	sess := store.Session{
		ID: hashSecret(secret), UserID: u.ID, CSRFToken: newSecret(32),
		CreatedAt: now, ExpiresAt: now.Add(a.opts.SessionTTL), LastSeen: now,
	}
	if err := a.st.CreateSession(ctx, sess); err != nil {
		a.logStoreError("login: create session", "user", u.Username, "err", err)
		writeError(w, storeFailed(err))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     a.opts.CookieName,
		Value:    secret,
		Path:     "/",
		Expires:  sess.ExpiresAt,
		MaxAge:   int(a.opts.SessionTTL / time.Second),
		Secure:   a.opts.Secure,
		HttpOnly: true,
		// Lax, not Strict: with Strict a link into the UI (from an alert, a
		// dashboard, a chat) would arrive logged out. Unsafe requests are guarded
		// by the CSRF token either way.
		SameSite: http.SameSiteLaxMode,
	})
	a.log.Info("login", "user", u.Username, "client_ip", ip)
	p.Via, p.SessionID = ViaSession, sess.ID
	a.audit(r, ActorOf(p), ActionLogin, u.Username, store.ResultOK, "", nil)
	writeJSON(w, http.StatusOK, a.meOf(p, &sess))
}

func (a *Authenticator) meOf(p *Principal, sess *store.Session) meJSON {
	m := meJSON{User: userJSON{ID: p.UserID, Username: p.Username}, Bindings: p.Bindings, Via: p.Via, TokenID: p.TokenID}
	if m.Bindings == nil {
		m.Bindings = []Binding{}
	}
	if sess != nil {
		m.CSRFToken = sess.CSRFToken
		exp := sess.ExpiresAt.UTC()
		m.Expires = &exp
	}
	return m
}

func (a *Authenticator) logout(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	sess, _ := r.Context().Value(sessionKey{}).(*store.Session)
	if sess == nil {
		writeError(w, badRequest("logout ends a browser session; revoke an API token with DELETE /api/v1/tokens/{id}", ""))
		return
	}
	if err := a.st.DeleteSession(r.Context(), sess.ID); err != nil {
		a.logStoreError("logout", "user", p.Username, "err", err)
		writeError(w, storeFailed(err))
		return
	}
	a.revoked(ViaSession, sess.ID)
	a.clearCookie(w)
	a.log.Info("logout", "user", p.Username)
	a.audit(r, ActorOf(p), ActionLogout, p.Username, store.ResultOK, "", nil)
	w.WriteHeader(http.StatusNoContent)
}

func (a *Authenticator) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: a.opts.CookieName, Value: "", Path: "/", MaxAge: -1,
		Secure: a.opts.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func (a *Authenticator) me(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	sess, _ := r.Context().Value(sessionKey{}).(*store.Session)
	writeJSON(w, http.StatusOK, a.meOf(p, sess))
}

// tokenJSON is an API token as the API shows it: never its secret.
type tokenJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires"`
	LastUsed *time.Time `json:"last_used"`
	Revoked  *time.Time `json:"revoked"`
	Active   bool       `json:"active"`
}

func (a *Authenticator) tokenOf(t store.APIToken, now time.Time) tokenJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	return tokenJSON{
		ID: t.ID, Name: t.Name, Created: t.CreatedAt.UTC(),
		Expires: opt(t.ExpiresAt), LastUsed: opt(t.LastUsed), Revoked: opt(t.RevokedAt),
		Active: t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)),
	}
}

func (a *Authenticator) listTokens(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	ts, err := a.st.Tokens(r.Context(), p.UserID)
	if err != nil {
		a.logStoreError("list API tokens", "user", p.Username, "err", err)
		writeError(w, storeFailed(err))
		return
	}
	now := a.now()
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = a.tokenOf(t, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

type createTokenRequest struct {
	Name          string     `json:"name"`
	Expires       *time.Time `json:"expires"`
	ExpiresInDays *int       `json:"expires_in_days"`
}

// maxTokenNameLen bounds the name of an API token.
const maxTokenNameLen = 100

func (a *Authenticator) createToken(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	if p.Via != ViaSession {
		// A leaked token must not be able to mint itself successors.
		writeError(w, newError(http.StatusForbidden, wire.CodeForbidden, "API tokens are created from a browser session",
			map[string]any{"reason": "log in with POST /api/v1/login and create the token with the session cookie"}))
		return
	}
	var req createTokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > maxTokenNameLen || !utf8.ValidString(req.Name) {
		writeError(w, badRequest(fmt.Sprintf("name must have 1 to %d bytes of UTF-8", maxTokenNameLen), "name"))
		return
	}
	now := a.now()
	expires := now.Add(a.opts.TokenTTL)
	switch {
	case req.Expires != nil && req.ExpiresInDays != nil:
		writeError(w, badRequest("give expires or expires_in_days, not both", "expires_in_days"))
		return
	case req.Expires != nil:
		expires = *req.Expires
	case req.ExpiresInDays != nil:
		days := *req.ExpiresInDays
		if days < 1 || days > int(a.opts.MaxTokenTTL/(24*time.Hour)) {
			writeError(w, badRequest(fmt.Sprintf("expires_in_days must be 1 to %d", int(a.opts.MaxTokenTTL/(24*time.Hour))), "expires_in_days"))
			return
		}
		expires = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	if !expires.After(now) || expires.Sub(now) > a.opts.MaxTokenTTL {
		writeError(w, badRequest(fmt.Sprintf("expires must be in the future and at most %s away", a.opts.MaxTokenTTL), "expires"))
		return
	}
	secret := newToken()
	t, err := a.st.CreateToken(r.Context(), store.APIToken{
		UserID: p.UserID, Name: req.Name, SecretSHA256: hashSecret(secret), CreatedAt: now, ExpiresAt: expires,
	})
	if err != nil {
		a.logStoreError("create API token", "user", p.Username, "err", err)
		writeError(w, storeFailed(err))
		return
	}
	a.log.Info("API token created", "user", p.Username, "token_id", t.ID, "name", t.Name, "expires", t.ExpiresAt)
	a.audit(r, ActorOf(p), ActionTokenCreate, p.Username, store.ResultOK, "",
		map[string]any{"token_id": t.ID, "name": t.Name, "expires": t.ExpiresAt.UTC()})
	writeJSON(w, http.StatusCreated, map[string]any{"token": a.tokenOf(t, now), "secret": secret})
}

func (a *Authenticator) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	id := r.PathValue("id")
	err := a.st.RevokeToken(r.Context(), p.UserID, id, a.now())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, newError(http.StatusNotFound, wire.CodeNotFound, "no such API token", map[string]any{"id": id}))
		return
	}
	if err != nil {
		a.logStoreError("revoke API token", "user", p.Username, "token_id", id, "err", err)
		writeError(w, storeFailed(err))
		return
	}
	a.revoked(ViaToken, id)
	a.log.Info("API token revoked", "user", p.Username, "token_id", id)
	a.audit(r, ActorOf(p), ActionTokenRevoke, p.Username, store.ResultOK, "", map[string]any{"token_id": id})
	w.WriteHeader(http.StatusNoContent)
}
