package control

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const testAud = "pg-main"

// testKey is deterministic, so fuzz seeds and failures reproduce.
func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func newTestSigner(priv ed25519.PrivateKey, now time.Time) *Signer {
	s := NewSigner(priv)
	s.Now = at(now)
	return s
}

func newTestVerifier(keys ...ed25519.PublicKey) *Verifier {
	v := NewVerifier(testAud, keys...)
	v.Now = at(t0)
	return v
}

func controlRequest(method, path, auth string, body []byte) *http.Request {
	r := httptest.NewRequest(method, "http://agent.example"+path, bytes.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func mustToken(t testing.TB, s *Signer, aud, method, path string, body []byte) string {
	t.Helper()
	tok, err := s.Token(aud, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge signs arbitrary claims and headers, for tokens Signer refuses to make.
func forge(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodClaims are the claims Signer would make for body at t0, as a map to alter.
func goodClaims(body []byte) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": DefaultIssuer, "aud": testAud, "iat": t0.Unix(), "exp": t0.Add(30 * time.Second).Unix(),
		"jti": fmt.Sprintf("forged-%d", time.Now().UnixNano()), "htm": "POST", "htu": "/control", "bsh": BodyHash(body),
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	pub, priv := testKey(1)
	_, otherPriv := testKey(2)
	kid := KeyID(pub)
	body := []byte(`{"id":"c1","command":"pause"}`)
	signer := newTestSigner(priv, t0)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := jwt.SigningMethodEdDSA
	good := goodClaims(body)
	kidHdr := map[string]any{"kid": kid}
	ttl := func(d time.Duration) *Signer { s := newTestSigner(priv, t0.Add(-d)); return s }

	cases := []struct {
		name         string
		method, path string
		auth         string
		body         []byte
		want         int // 0: accepted
		reason       string
	}{
		{"valid", "POST", "/control", "Bearer " + mustToken(t, signer, testAud, "POST", "/control", body), body, 0, ""},
		{"valid lower-case scheme", "POST", "/control", "bearer " + mustToken(t, signer, testAud, "POST", "/control", body), body, 0, ""},
		{"valid forged with signer's claims", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, good), body, 0, ""},
		{"valid with nbf", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "nbf", t0.Unix())), body, 0, ""},
		{"valid aud as one-element array", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "aud", []string{testAud})), body, 0, ""},
		{"valid lifetime exactly 60s", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "exp", t0.Add(60*time.Second).Unix())), body, 0, ""},
		{"valid expired within leeway", "POST", "/control", "Bearer " + mustToken(t, ttl(34*time.Second), testAud, "POST", "/control", body), body, 0, ""},
		{"valid empty body", "POST", "/control", "Bearer " + mustToken(t, signer, testAud, "POST", "/control", nil), nil, 0, ""},

		{"missing token", "POST", "/control", "", body, 401, "missing"},
		{"malformed header basic", "POST", "/control", "Basic dXNlcjpwdw==", body, 401, "malformed Authorization"},
		{"malformed header no token", "POST", "/control", "Bearer", body, 401, "malformed Authorization"},
		{"malformed header empty token", "POST", "/control", "Bearer   ", body, 401, "empty bearer"},
		{"garbage token", "POST", "/control", "Bearer abc.def.ghi", body, 401, "malformed token"},
		{"two segments", "POST", "/control", "Bearer abc.def", body, 401, "malformed token"},
		{"token too long", "POST", "/control", "Bearer " + strings.Repeat("a", maxTokenLength+1), body, 401, "over"},
		{"wrong key", "POST", "/control", "Bearer " + mustToken(t, newTestSigner(otherPriv, t0), testAud, "POST", "/control", body), body, 401, "unknown key id"},
		{"wrong key claiming trusted kid", "POST", "/control", "Bearer " + forge(t, ed, otherPriv, kidHdr, good), body, 401, "signature is invalid"},
		{"unknown kid", "POST", "/control", "Bearer " + forge(t, ed, priv, map[string]any{"kid": "0123456789abcdef"}, good), body, 401, "unknown key id"},
		{"no kid", "POST", "/control", "Bearer " + forge(t, ed, priv, nil, good), body, 401, "no kid"},
		{"alg none", "POST", "/control", "Bearer " + forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kidHdr, good), body, 401, `alg "none" not accepted`},
		{"alg HS256 keyed with the public key", "POST", "/control", "Bearer " + forge(t, jwt.SigningMethodHS256, []byte(pub), kidHdr, good), body, 401, `alg "HS256" not accepted`},
		{"alg RS256", "POST", "/control", "Bearer " + forge(t, jwt.SigningMethodRS256, rsaKey, kidHdr, good), body, 401, `alg "RS256" not accepted`},
		{"alg ES256", "POST", "/control", "Bearer " + forge(t, jwt.SigningMethodES256, ecKey, kidHdr, good), body, 401, `alg "ES256" not accepted`},
		{"expired", "POST", "/control", "Bearer " + mustToken(t, ttl(2*time.Minute), testAud, "POST", "/control", body), body, 401, "expired"},
		{"lifetime over 60s", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "exp", t0.Add(61*time.Second).Unix())), body, 401, "lifetime"},
		{"lifetime of a day", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "iat", t0.Add(-time.Hour).Unix(), "exp", t0.Add(23*time.Hour).Unix())), body, 401, "lifetime"},
		{"exp before iat", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "exp", t0.Add(-time.Second).Unix())), body, 401, "lifetime"},
		{"not yet valid nbf", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "nbf", t0.Add(20*time.Second).Unix())), body, 401, "not valid before"},
		{"issued in the future", "POST", "/control", "Bearer " + mustToken(t, newTestSigner(priv, t0.Add(time.Minute)), testAud, "POST", "/control", body), body, 401, "future"},
		{"no exp", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "exp", nil)), body, 401, "no exp"},
		{"no iat", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "iat", nil)), body, 401, "no iat"},
		{"no jti", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "jti", nil)), body, 401, "no jti"},
		{"exp not a number", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "exp", "soon")), body, 401, "malformed"},
		{"wrong issuer", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "iss", "mallory")), body, 401, "issuer"},

		{"wrong audience", "POST", "/control", "Bearer " + mustToken(t, signer, "pg-other", "POST", "/control", body), body, 403, `for collector "pg-other"`},
		{"two audiences", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "aud", []string{testAud, "pg-other"})), body, 403, "2 audiences"},
		{"no audience", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "aud", nil)), body, 403, "0 audiences"},
		{"body tampered", "POST", "/control", "Bearer " + mustToken(t, signer, testAud, "POST", "/control", body), []byte(`{"id":"c1","command":"restart"}`), 403, "body"},
		{"body with extra space", "POST", "/control", "Bearer " + mustToken(t, signer, testAud, "POST", "/control", body), append(body, ' '), 403, "body"},
		{"no bsh", "POST", "/control", "Bearer " + forge(t, ed, priv, kidHdr, with(good, "bsh", nil)), body, 403, "body"},
		{"path swapped", "POST", "/control", "Bearer " + mustToken(t, signer, testAud, "POST", "/logs", body), body, 403, "path"},
		{"path swapped on request", "POST", "/logs", "Bearer " + mustToken(t, signer, testAud, "POST", "/control", body), body, 403, "path"},
		{"method swapped", "PUT", "/control", "Bearer " + mustToken(t, signer, testAud, "POST", "/control", body), body, 403, "method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(pub)
			err := v.Verify(controlRequest(tc.method, tc.path, tc.auth, tc.body), tc.body)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v (%T), want *AuthError %d", err, err, tc.want)
			}
			if ae.Status != tc.want || !strings.Contains(ae.Error(), tc.reason) {
				t.Errorf("got %d %q, want %d containing %q", ae.Status, ae.Error(), tc.want, tc.reason)
			}
		})
	}
}

func TestVerifyTwoAuthorizationHeaders(t *testing.T) {
	pub, priv := testKey(1)
	body := []byte(`{"id":"c1","command":"pause"}`)
	tok := mustToken(t, newTestSigner(priv, t0), testAud, "POST", "/control", body)
	r := controlRequest("POST", "/control", "Bearer "+tok, body)
	r.Header.Add("Authorization", "Bearer "+tok)
	if err := newTestVerifier(pub).Verify(r, body); statusOf(err) != 401 {
		t.Errorf("got %v, want 401", err)
	}
}

func TestVerifyNoKeys(t *testing.T) {
	_, priv := testKey(1)
	body := []byte(`{}`)
	tok := mustToken(t, newTestSigner(priv, t0), testAud, "POST", "/control", body)
	if err := newTestVerifier().Verify(controlRequest("POST", "/control", "Bearer "+tok, body), body); statusOf(err) != 401 {
		t.Errorf("got %v, want 401", err)
	}
}

func statusOf(err error) int {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Status
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestSignerRefuses(t *testing.T) {
	_, priv := testKey(1)
	cases := []struct {
		name              string
		s                 *Signer
		aud, method, path string
		want              string
	}{
		{"ttl over 60s", &Signer{key: priv, TTL: 61 * time.Second}, testAud, "POST", "/control", "TTL"},
		{"negative ttl", &Signer{key: priv, TTL: -time.Second}, testAud, "POST", "/control", "TTL"},
		{"short key", NewSigner(priv[:10]), testAud, "POST", "/control", "private key"},
		{"no audience", NewSigner(priv), "", "POST", "/control", "audience"},
		{"no method", NewSigner(priv), testAud, "", "/control", "method"},
		{"relative path", NewSigner(priv), testAud, "POST", "control", "path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.Token(tc.aud, tc.method, tc.path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestTokenClaims(t *testing.T) {
	pub, priv := testKey(1)
	s := newTestSigner(priv, t0.Add(700*time.Millisecond))
	body := []byte(`{"id":"x","command":"collect"}`)
	tok := mustToken(t, s, testAud, "POST", "/control", body)
	var c jwt.MapClaims
	parsed, err := jwt.NewParser(jwt.WithoutClaimsValidation()).ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] != KeyID(pub) || s.KeyID() != KeyID(pub) {
		t.Errorf("header %v", parsed.Header)
	}
	want := map[string]any{"iss": "corral", "aud": testAud, "iat": float64(t0.Unix()), "exp": float64(t0.Unix() + 30),
		"htm": "POST", "htu": "/control", "bsh": BodyHash(body)}
	for k, w := range want {
		if c[k] != w {
			t.Errorf("%s = %v (%T), want %v", k, c[k], c[k], w)
		}
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q too short", jti)
	}
	if tok2 := mustToken(t, s, testAud, "POST", "/control", body); tok2 == tok {
		t.Error("two tokens for the same request are equal; the jti must differ")
	}
}

func TestReplay(t *testing.T) {
	pub, priv := testKey(1)
	s := newTestSigner(priv, t0)
	v := newTestVerifier(pub)
	body := []byte(`{"id":"c1","command":"pause"}`)
	tok := mustToken(t, s, testAud, "POST", "/control", body)

	// A token refused for another body is not used up by that attempt.
	tampered := []byte(`{"id":"c1","command":"restart"}`)
	if err := v.Verify(controlRequest("POST", "/control", "Bearer "+tok, tampered), tampered); statusOf(err) != 403 {
		t.Fatalf("tampered: %v", err)
	}
	if err := v.Verify(controlRequest("POST", "/control", "Bearer "+tok, body), body); err != nil {
		t.Fatalf("first use: %v", err)
	}
	err := v.Verify(controlRequest("POST", "/control", "Bearer "+tok, body), body)
	if statusOf(err) != 401 || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("second use: %v, want 401 already used", err)
	}
}

func TestReplayCacheExpiresAndIsBounded(t *testing.T) {
	pub, priv := testKey(1)
	now := t0
	v := NewVerifier(testAud, pub)
	v.Now = func() time.Time { return now }
	v.MaxReplayEntries = 2
	body := []byte(`{"id":"c1","command":"pause"}`)
	verify := func(tok string) error {
		return v.Verify(controlRequest("POST", "/control", "Bearer "+tok, body), body)
	}
	sign := func() string { return mustToken(t, newTestSigner(priv, now), testAud, "POST", "/control", body) }

	first, second, third := sign(), sign(), sign()
	if err := verify(first); err != nil {
		t.Fatal(err)
	}
	if err := verify(second); err != nil {
		t.Fatal(err)
	}
	if err := verify(third); statusOf(err) != 401 || !strings.Contains(err.Error(), "replay cache full, retry shortly") {
		t.Fatalf("third with a full cache: %v", err)
	}
	if err := verify(first); statusOf(err) != 401 || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay with a full cache: %v", err)
	}

	// Still within exp + leeway: remembered.
	now = t0.Add(DefaultTTL + DefaultLeeway)
	if err := verify(first); statusOf(err) != 401 || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay at exp+leeway: %v", err)
	}
	// Past it: forgotten, and the old token is refused as expired instead.
	now = t0.Add(DefaultTTL + DefaultLeeway + time.Second)
	if err := verify(first); statusOf(err) != 401 || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("old token after expiry: %v", err)
	}
	if err := verify(sign()); err != nil {
		t.Fatalf("fresh token after the cache emptied: %v", err)
	}
	v.mu.Lock()
	n := v.replay.len()
	v.mu.Unlock()
	if n != 1 {
		t.Errorf("replay cache holds %d ids, want 1", n)
	}
}

func TestKeyRotation(t *testing.T) {
	pub1, priv1 := testKey(1)
	pub2, priv2 := testKey(2)
	v := newTestVerifier(pub1, pub2, pub1) // the repeat is dropped
	if got := v.Keys(); len(got) != 2 {
		t.Fatalf("Keys() has %d keys, want 2", len(got))
	}
	body := []byte(`{"id":"r","command":"resume"}`)
	verify := func(priv ed25519.PrivateKey) error {
		tok := mustToken(t, newTestSigner(priv, t0), testAud, "POST", "/control", body)
		return v.Verify(controlRequest("POST", "/control", "Bearer "+tok, body), body)
	}
	if err := verify(priv1); err != nil {
		t.Errorf("old key during rotation: %v", err)
	}
	if err := verify(priv2); err != nil {
		t.Errorf("new key during rotation: %v", err)
	}
	v.SetKeys(pub2)
	if err := verify(priv1); statusOf(err) != 401 || !strings.Contains(err.Error(), "unknown key id") {
		t.Errorf("removed key: %v, want 401 unknown key id", err)
	}
	if err := verify(priv2); err != nil {
		t.Errorf("remaining key: %v", err)
	}
	if got := v.Keys(); len(got) != 1 || !got[0].Equal(pub2) {
		t.Errorf("Keys() = %v, want the new key only", got)
	}
	v.SetKeys(ed25519.PublicKey("short"))
	if len(v.Keys()) != 0 {
		t.Error("a malformed key was kept")
	}
}

func TestVerifyConcurrent(t *testing.T) {
	pub1, priv1 := testKey(1)
	pub2, priv2 := testKey(2)
	v := newTestVerifier(pub1, pub2)
	signers := []*Signer{newTestSigner(priv1, t0), newTestSigner(priv2, t0)}
	const workers, each = 8, 40
	errs := make(chan error, workers*each*2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Appendf(nil, `{"id":"w%d-%d","command":"collect"}`, w, i)
				tok, err := signers[(w+i)%2].Token(testAud, "POST", "/control", body)
				if err != nil {
					errs <- err
					continue
				}
				r := controlRequest("POST", "/control", "Bearer "+tok, body)
				if err := v.Verify(r, body); err != nil {
					errs <- fmt.Errorf("first use: %w", err)
				}
				if err := v.Verify(r, body); statusOf(err) != 401 {
					errs <- fmt.Errorf("replay: %v, want 401", err)
				}
				if i%10 == 0 {
					v.SetKeys(pub1, pub2)
					_ = v.Keys()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := v.replay.len(); n != workers*each {
		t.Errorf("replay cache holds %d ids, want %d", n, workers*each)
	}
}
