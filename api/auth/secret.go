package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// TokenPrefix starts every personal API token, so that scanners for leaked
// secrets can recognise one: "corral_" and 43 characters of unpadded base64url
// (32 random bytes).
const TokenPrefix = "corral_"

// newSecret returns n random bytes in unpadded base64url.
func newSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newToken returns a new personal API token.
func newToken() string { return TokenPrefix + newSecret(32) }

// NewToken returns a new personal API token and the hex SHA-256 the store
// keeps of it (store.APIToken.SecretSHA256): for whatever makes tokens outside
// POST /tokens, such as tests and tools that prepare a store.
func NewToken() (secret, sha256Hex string) {
	secret = newToken()
	return secret, hashSecret(secret)
}

// hashSecret returns the hex SHA-256 of a session secret or API token, which is
// all the store keeps of it. The secrets carry 256 random bits, so a fast hash
// is enough: there is nothing to brute-force.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
