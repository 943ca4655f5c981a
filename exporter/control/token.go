package control

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// Path is where an agent serves control requests.
	Path = "/control"
	// DefaultIssuer is the iss of tokens and what a Verifier expects by default.
	DefaultIssuer = "corral"
	// DefaultTTL is the lifetime of a token.
	DefaultTTL = 30 * time.Second
	// MaxTokenLifetime bounds exp - iat; longer-lived tokens are rejected even when
	// validly signed.
	MaxTokenLifetime = 60 * time.Second
)

// alg is the only signing algorithm used and accepted.
const alg = "EdDSA"

// BodyHash is the bsh claim for a body: the unpadded base64url SHA-256 of its bytes.
func BodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// claims are the claims of a control token.
type claims struct {
	Issuer    string           `json:"iss,omitempty"`
	Audience  audience         `json:"aud,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	ID        string           `json:"jti,omitempty"`
	Method    string           `json:"htm,omitempty"`
	Path      string           `json:"htu,omitempty"`
	BodyHash  string           `json:"bsh,omitempty"`
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return "", nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings(c.Audience), nil }

// audience is the aud claim. It is written as a single string (the protocol has
// exactly one audience) whatever jwt.MarshalSingleStringAsArray says, and read from
// a string or an array of strings.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var cs jwt.ClaimStrings
	if err := cs.UnmarshalJSON(b); err != nil {
		return err
	}
	*a = audience(cs)
	return nil
}

// Signer makes control tokens with the server's private key. Set its fields before
// first use; after that it is safe for concurrent use.
type Signer struct {
	// Issuer is the iss claim; DefaultIssuer unless changed.
	Issuer string
	// TTL is the lifetime of each token: DefaultTTL unless changed, at most
	// MaxTokenLifetime.
	TTL time.Duration
	// Now is the clock, for tests; time.Now when nil.
	Now func() time.Time

	key ed25519.PrivateKey
	kid string
}

// NewSigner returns a signer for key. A key of the wrong size is reported by the
// first Token call.
func NewSigner(key ed25519.PrivateKey) *Signer {
	s := &Signer{Issuer: DefaultIssuer, TTL: DefaultTTL, key: key}
	if len(key) == ed25519.PrivateKeySize {
		s.kid = KeyID(key.Public().(ed25519.PublicKey))
	}
	return s
}

// KeyID is the id of the signing key, the kid of its tokens.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey is the signing key's public half in the one-line form agents trust
// ([FormatPublicKey]); "" for a key of the wrong size.
func (s *Signer) PublicKey() string {
	if len(s.key) != ed25519.PrivateKeySize {
		return ""
	}
	return FormatPublicKey(s.key.Public().(ed25519.PublicKey))
}

// Token signs a token for one request: to the agent named aud, with method and
// path (e.g. "POST", "/control") and exactly these body bytes.
func (s *Signer) Token(aud, method, path string, body []byte) (string, error) {
	if len(s.key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("sign control token: private key has %d bytes, an Ed25519 key has %d", len(s.key), ed25519.PrivateKeySize)
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second || ttl > MaxTokenLifetime {
		return "", fmt.Errorf("sign control token: TTL %s out of range; use 1s to %s", ttl, MaxTokenLifetime)
	}
	switch {
	case aud == "":
		return "", errors.New("sign control token: audience (the collector's name) is required")
	case method == "":
		return "", errors.New("sign control token: method is required")
	case !strings.HasPrefix(path, "/"):
		return "", fmt.Errorf("sign control token: path %s must start with /", quote(path))
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("sign control token: %w", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	iat := now().Truncate(time.Second)
	c := &claims{
		Issuer:    s.Issuer,
		Audience:  audience{aud},
		IssuedAt:  &jwt.NumericDate{Time: iat},
		ExpiresAt: &jwt.NumericDate{Time: iat.Add(ttl.Truncate(time.Second))},
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		Method:    method,
		Path:      path,
		BodyHash:  BodyHash(body),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.kid
	tok, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign control token: %w", err)
	}
	return tok, nil
}
