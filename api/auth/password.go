package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with argon2id and kept in the PHC string format
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// (salt and hash in unpadded standard base64), so that the parameters travel with
// each hash and can be raised later without invalidating stored ones.
//
// The parameters are RFC 9106's second recommended option for memory-constrained
// settings (section 4): 64 MiB of memory, 3 passes, 4 lanes, a 16-byte salt and
// a 32-byte key. They exceed OWASP's minimum (19 MiB, 2 passes, 1 lane); one hash
// takes about 150 ms on two cores of a current server. The Authenticator bounds how
// many hashes run at once (Options.MaxConcurrentLogins), so that a burst of
// logins cannot take more than that many times 64 MiB.
var defaultParams = argon2Params{memoryKiB: 64 * 1024, time: 3, threads: 4, saltLen: 16, keyLen: 32}

type argon2Params struct {
	memoryKiB uint32
	time      uint32
	threads   uint8
	saltLen   int
	keyLen    uint32
}

// Bounds on the parameters CheckPassword accepts from a stored hash, so that a
// tampered hash cannot make one check take gigabytes or minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxKeyLen    = 128
	maxSaltLen   = 64
)

// MaxPasswordLen is the longest password, in bytes, that HashPassword and the
// login endpoint accept.
const MaxPasswordLen = 1024

var errMalformedHash = errors.New("malformed argon2id hash")

// HashPassword returns the argon2id hash of pw in PHC string format, with a fresh
// random salt.
func HashPassword(pw string) (string, error) {
	return hashPassword(pw, defaultParams)
}

func hashPassword(pw string, p argon2Params) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: empty password")
	}
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("hash password: longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memoryKiB, p.threads, p.keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memoryKiB, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash, an argon2id PHC string as made by
// HashPassword (with any parameters within sane bounds). The comparison takes
// constant time. An error means hash is malformed, never that pw is wrong; it
// does not quote the hash.
func CheckPassword(hash, pw string) (bool, error) {
	p, salt, want, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memoryKiB, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parseHash splits a PHC argon2id string into its parameters, salt and key.
func parseHash(hash string) (p argon2Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not of the form $argon2id$v=…$m=…,t=…,p=…$salt$hash", errMalformedHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", errMalformedHash, parts[2])
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memoryKiB, &p.time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memoryKiB, p.time, threads) != parts[3] {
		return p, nil, nil, fmt.Errorf("%w: bad parameters %q", errMalformedHash, parts[3])
	}
	if p.time < 1 || p.time > maxTime || threads < 1 || threads > 255 || p.memoryKiB < 8*threads || p.memoryKiB > maxMemoryKiB {
		return p, nil, nil, fmt.Errorf("%w: parameters %q out of bounds", errMalformedHash, parts[3])
	}
	p.threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: bad salt", errMalformedHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: bad key", errMalformedHash)
	}
	return p, salt, key, nil
}
