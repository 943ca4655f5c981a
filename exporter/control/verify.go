package control

import (
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// DefaultLeeway is the clock skew a Verifier tolerates.
	DefaultLeeway = 5 * time.Second
	// DefaultMaxReplayEntries bounds the ids a Verifier remembers.
	DefaultMaxReplayEntries = 100000
	// maxTokenLength bounds the work spent on an Authorization header.
	maxTokenLength = 4096
	// maxJTILength bounds the memory one remembered id takes.
	maxJTILength = 128
)

// AuthError is why a control request was not authenticated. Status is 401 when
// the token does not prove it comes from a trusted server, 403 when it does but
// was made for another audience, method, path or body.
type AuthError struct {
	Status int
	Reason string
}

func (e *AuthError) Error() string { return e.Reason }

func unauthorized(format string, a ...any) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Reason: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) *AuthError {
	return &AuthError{Status: http.StatusForbidden, Reason: fmt.Sprintf(format, a...)}
}

// Verifier checks the tokens of control requests for one agent. Set its exported
// fields before first use; after that all methods are safe for concurrent use.
type Verifier struct {
	// Issuer is the iss a token must carry; DefaultIssuer unless changed, "" to
	// accept any.
	Issuer string
	// Leeway is the clock skew tolerated on iat, nbf and exp; DefaultLeeway unless
	// changed.
	Leeway time.Duration
	// Now is the clock, for tests; time.Now when nil.
	Now func() time.Time
	// MaxReplayEntries bounds the token ids remembered against replay;
	// DefaultMaxReplayEntries when 0 or less.
	MaxReplayEntries int

	audience string
	keys     atomic.Pointer[keySet]
	parser   *jwt.Parser

	mu     sync.Mutex
	replay replayCache
}

type keySet struct {
	list []ed25519.PublicKey
	byID map[string]ed25519.PublicKey
}

// NewVerifier returns a verifier for the agent whose collector is named audience,
// trusting keys.
func NewVerifier(audience string, keys ...ed25519.PublicKey) *Verifier {
	v := &Verifier{
		Issuer:           DefaultIssuer,
		Leeway:           DefaultLeeway,
		MaxReplayEntries: DefaultMaxReplayEntries,
		audience:         audience,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(), // Verify checks the claims itself, with its own clock and reasons
		),
	}
	v.SetKeys(keys...)
	return v
}

// SetKeys replaces the trusted keys at once; requests being verified finish with
// the old set. Keys that are not 32 bytes long are left out, as are repeats.
func (v *Verifier) SetKeys(keys ...ed25519.PublicKey) {
	ks := &keySet{byID: make(map[string]ed25519.PublicKey, len(keys))}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			continue
		}
		id := KeyID(k)
		if _, dup := ks.byID[id]; dup {
			continue
		}
		k = slices.Clone(k)
		ks.byID[id] = k
		ks.list = append(ks.list, k)
	}
	v.keys.Store(ks)
}

// Keys returns the trusted keys.
func (v *Verifier) Keys() []ed25519.PublicKey {
	ks := v.keys.Load()
	out := make([]ed25519.PublicKey, len(ks.list))
	for i, k := range ks.list {
		out[i] = slices.Clone(k)
	}
	return out
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify checks the bearer token of r, whose body (already read, exactly as
// received) is body. It returns nil or an *AuthError. A token that passes is
// remembered and refused from then on, so call Verify once per request.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	if err := v.verify(r, body); err != nil {
		return err
	}
	return nil
}

func (v *Verifier) verify(r *http.Request, body []byte) *AuthError {
	tok, aerr := bearer(r)
	if aerr != nil {
		return aerr
	}
	ks := v.keys.Load()
	if len(ks.list) == 0 {
		return unauthorized("no trusted key is configured; add the server's public key to control.trusted_keys")
	}

	var c claims
	var keyErr *AuthError
	t, err := v.parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			keyErr = unauthorized("token has no kid header; it must name the signing key")
			return nil, keyErr
		}
		k, ok := ks.byID[kid]
		if !ok {
			keyErr = unauthorized("token signed by unknown key id %s; trusted key ids: %s", quote(kid), strings.Join(keyIDs(ks), ", "))
			return nil, keyErr
		}
		return k, nil
	})
	switch {
	case err == nil:
	case keyErr != nil:
		return keyErr
	case t != nil && t.Header != nil && t.Header["alg"] != alg:
		a, _ := t.Header["alg"].(string)
		return unauthorized("token alg %s not accepted; only %s", quote(a), alg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("token signature is invalid")
	default:
		return unauthorized("malformed token: %s", strings.TrimPrefix(err.Error(), "token is malformed: "))
	}

	now := v.now()
	leeway := v.Leeway
	switch {
	case c.ID == "":
		return unauthorized("token has no jti")
	case len(c.ID) > maxJTILength:
		return unauthorized("token jti is over %d characters", maxJTILength)
	case c.IssuedAt == nil:
		return unauthorized("token has no iat")
	case c.ExpiresAt == nil:
		return unauthorized("token has no exp")
	case v.Issuer != "" && c.Issuer != v.Issuer:
		return unauthorized("token issuer %s, want %s", quote(c.Issuer), quote(v.Issuer))
	}
	iat, exp := c.IssuedAt.Time, c.ExpiresAt.Time
	if life := exp.Sub(iat); life <= 0 || life > MaxTokenLifetime {
		return unauthorized("token lifetime %s (exp - iat) is outside (0, %s]", life, MaxTokenLifetime)
	}
	if now.After(exp.Add(leeway)) {
		return unauthorized("token expired at %s (now %s); check the clocks of server and agent", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if iat.After(now.Add(leeway)) {
		return unauthorized("token issued in the future at %s (now %s); check the clocks of server and agent", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil && c.NotBefore.After(now.Add(leeway)) {
		return unauthorized("token not valid before %s (now %s); check the clocks of server and agent", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}

	// The token is genuine and current; now: was it made for this request?
	switch {
	case len(c.Audience) != 1:
		return forbidden("token has %d audiences; it must name exactly one collector", len(c.Audience))
	case c.Audience[0] != v.audience:
		return forbidden("token is for collector %s, this is %s", quote(c.Audience[0]), quote(v.audience))
	case c.Method != r.Method:
		return forbidden("token is for method %s, request is %s", quote(c.Method), quote(r.Method))
	case c.Path != r.URL.Path:
		return forbidden("token is for path %s, request is %s", quote(c.Path), quote(r.URL.Path))
	case subtle.ConstantTimeCompare([]byte(c.BodyHash), []byte(BodyHash(body))) != 1:
		return forbidden("token does not match the request body (bsh differs)")
	}

	// Last, so that a token refused above is not used up.
	max := v.MaxReplayEntries
	if max <= 0 {
		max = DefaultMaxReplayEntries
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch v.replay.add(c.ID, exp.Add(leeway), now, max) {
	case replayed:
		return unauthorized("token already used (jti %s); sign a new one for each request", quote(c.ID))
	case full:
		return unauthorized("replay cache full, retry shortly")
	}
	return nil
}

// bearer returns the token of the one Authorization header of r.
func bearer(r *http.Request) (string, *AuthError) {
	h := r.Header.Values("Authorization")
	switch {
	case len(h) == 0:
		return "", unauthorized(`missing "Authorization: Bearer <token>" header`)
	case len(h) > 1:
		return "", unauthorized("more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized(`malformed Authorization header; want "Bearer <token>"`)
	}
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		return "", unauthorized("empty bearer token")
	case len(tok) > maxTokenLength:
		return "", unauthorized("bearer token over %d bytes", maxTokenLength)
	}
	return tok, nil
}

func keyIDs(ks *keySet) []string {
	ids := make([]string, len(ks.list))
	for i, k := range ks.list {
		ids[i] = KeyID(k)
	}
	return ids
}
