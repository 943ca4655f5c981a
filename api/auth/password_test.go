package auth

import (
	"strings"
	"testing"
)

// testParams make hashes cheap enough for tests that log in many times.
var testParams = argon2Params{memoryKiB: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}

func TestPassword(t *testing.T) {
	const pw = "correct horse battery staple ✓"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") || strings.Contains(h, pw) {
		t.Fatalf("hash %q: want PHC argon2id with m=65536,t=3,p=4", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{pw, true},
		{pw + " ", false},
		{strings.ToUpper(pw), false},
		{"", false},
		{strings.Repeat("x", MaxPasswordLen+1), false},
	} {
		ok, err := CheckPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("CheckPassword(%.20q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	// A fresh salt each time.
	h2, err := HashPassword(pw)
	if err != nil || h2 == h {
		t.Fatalf("second hash %q, %v: want a different salt", h2, err)
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("HashPassword(\"\") succeeded")
	}
}

func TestCheckPasswordOtherParams(t *testing.T) {
	// Hashes made with other parameters still check: the parameters travel in the hash.
	h, err := hashPassword("pw", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := CheckPassword(h, "pw"); !ok || err != nil {
		t.Fatalf("CheckPassword = %v, %v", ok, err)
	}
	if ok, err := CheckPassword(h, "wrong"); ok || err != nil {
		t.Fatalf("CheckPassword(wrong) = %v, %v", ok, err)
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	good, err := hashPassword("pw", testParams)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, h := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, // 4 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:8],
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
	} {
		ok, err := CheckPassword(h, "pw")
		if ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", h, ok, err)
		}
		if err != nil && h != "" && strings.Contains(err.Error(), key) {
			t.Errorf("error %q quotes the hash", err)
		}
	}
}
