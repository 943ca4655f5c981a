package control

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// publicKeyPrefix starts the one-line form of a public key.
const publicKeyPrefix = "ed25519:"

// GenerateKey makes a new Ed25519 key pair for signing control requests.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return pub, priv, nil
}

// FormatPublicKey writes a public key on one line: "ed25519:" and the standard
// base64 (padded) of its 32 bytes.
func FormatPublicKey(k ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(k)
}

// ParsePublicKey reads a public key written by [FormatPublicKey] (padding
// optional) or as a PEM "PUBLIC KEY" block (PKIX, as `openssl pkey -pubout`
// writes). Surrounding white space is ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, publicKeyPrefix):
		enc := strings.TrimPrefix(s, publicKeyPrefix)
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(enc)
		}
		if err != nil {
			return nil, errors.New(`public key: the text after "ed25519:" is not standard base64`)
		}
		if len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key: %d bytes after base64 decoding, an Ed25519 key has %d", len(b), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(b), nil
	case strings.HasPrefix(s, "-----BEGIN"):
		block, rest := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("public key: malformed PEM block")
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("public key: PEM block is %s, want PUBLIC KEY", quote(block.Type))
		}
		if len(strings.TrimSpace(string(rest))) > 0 {
			return nil, errors.New("public key: data after the PEM block; give one key per entry")
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: PEM holds a %T key, want Ed25519", k)
		}
		return pub, nil
	case s == "":
		return nil, errors.New(`public key: empty; want "ed25519:<base64>" or a PEM PUBLIC KEY block`)
	default:
		return nil, errors.New(`public key: want "ed25519:<base64>" or a PEM PUBLIC KEY block`)
	}
}

// KeyID is a short, stable fingerprint of a public key: the first 16 hex digits of
// the SHA-256 of its 32 bytes. It is the kid of the tokens the key signs.
func KeyID(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:8])
}

// MarshalPrivateKeyPEM writes a private key as a PKCS#8 PEM "PRIVATE KEY" block.
func MarshalPrivateKeyPEM(k ed25519.PrivateKey) ([]byte, error) {
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("private key: %d bytes, an Ed25519 key has %d", len(k), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM reads a PKCS#8 PEM "PRIVATE KEY" block holding an Ed25519 key
// (as [MarshalPrivateKeyPEM] or `openssl genpkey -algorithm ed25519` write).
func ParsePrivateKeyPEM(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("private key: no PEM block found")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("private key: PEM block is %s, want PRIVATE KEY (PKCS#8)", quote(block.Type))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: PEM holds a %T key, want Ed25519", k)
	}
	return priv, nil
}
