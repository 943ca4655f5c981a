package control

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","command":"pause"}`,
		`{"id":"cmd-1","command":"backfill","args":{"from":"2024-01-01T00:00:00Z","to":"2024-01-02T00:00:00Z"}}`,
		`{"id":"x","command":"update_config","args":{"interval":"30s","labels":{"a":"<b>&"}}}`,
		`{"id":"x","command":"rotate_credentials","args":null}`,
		` { "args" : { "n" : [1, 2.5e3, true, null, "\u2028"] } , "command" : "collect" , "id" : "a.b:c_d-e" } `,
		`{"id":"a","command":"pause"}{}`,
		`{"id":"a","command":"pause","id":"b"}`,
		`[]`, `null`, ``, `{`, `{"id":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			return
		}
		if ValidateID(req.ID) != nil || !IsCommand(req.Command) {
			t.Fatalf("accepted invalid %+v", req)
		}
		if req.Args != nil && (req.Args[0] != '{' || !json.Valid(req.Args)) {
			t.Fatalf("accepted args %q", req.Args)
		}
		b1, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal %+v: %v", req, err)
		}
		req2, err := ParseRequest(b1)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b1, err)
		}
		if req2.ID != req.ID || req2.Command != req.Command {
			t.Fatalf("re-parse changed %+v to %+v", req, req2)
		}
		var a1, a2 any
		_ = json.Unmarshal(req.Args, &a1)
		_ = json.Unmarshal(req2.Args, &a2)
		b2, _ := json.Marshal(req2)
		if !bytes.Equal(b1, b2) || (req.Args == nil) != (req2.Args == nil) {
			t.Fatalf("re-marshal differs:\n%s\n%s", b1, b2)
		}
		if a1b, a2b := mustJSON(t, a1), mustJSON(t, a2); a1b != a2b {
			t.Fatalf("args changed meaning: %s vs %s", a1b, a2b)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func FuzzVerify(f *testing.F) {
	pub, priv := testKey(1)
	_, otherPriv := testKey(2)
	signer := newTestSigner(priv, t0)
	body := []byte(`{"id":"c1","command":"pause"}`)
	tok := mustToken(f, signer, testAud, "POST", "/control", body)
	kidHdr := map[string]any{"kid": KeyID(pub)}
	seeds := []struct {
		auth, method, path string
		body               []byte
	}{
		{"Bearer " + tok, "POST", "/control", body},
		{"Bearer " + tok, "POST", "/control", []byte(`{"id":"c1","command":"restart"}`)},
		{"Bearer " + tok, "GET", "/control", body},
		{"Bearer " + tok, "POST", "/logs", body},
		{"Bearer " + mustToken(f, signer, "other", "POST", "/control", body), "POST", "/control", body},
		{"Bearer " + mustToken(f, newTestSigner(otherPriv, t0), testAud, "POST", "/control", body), "POST", "/control", body},
		{"Bearer " + forge(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kidHdr, goodClaims(body)), "POST", "/control", body},
		{"Bearer " + forge(f, jwt.SigningMethodHS256, []byte(pub), kidHdr, goodClaims(body)), "POST", "/control", body},
		{"Bearer " + forge(f, jwt.SigningMethodEdDSA, priv, kidHdr, with(goodClaims(body), "exp", t0.Add(time.Hour).Unix())), "POST", "/control", body},
		{"Bearer e30.e30.", "POST", "/control", nil},
		{"Bearer ..", "POST", "/control", nil},
		{"Basic x", "POST", "/control", nil},
		{"", "POST", "/control", nil},
	}
	for _, s := range seeds {
		f.Add(s.auth, s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, auth, method, path string, body []byte) {
		v := newTestVerifier(pub)
		r := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: http.Header{}}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		err := v.Verify(r, body)
		if err != nil {
			if s := statusOf(err); s != 401 && s != 403 {
				t.Fatalf("error %v is not a 401/403 *AuthError", err)
			}
			return
		}
		// Accepted: it must be a real signature by the trusted key over exactly this
		// request.
		_, token, _ := strings.Cut(auth, " ")
		parts := strings.Split(strings.TrimSpace(token), ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token with %d parts: %q", len(parts), auth)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
			t.Fatalf("accepted a token without a valid signature: %q", auth)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c claims
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted undecodable claims %q", payload)
		}
		if c.BodyHash != BodyHash(body) || c.Method != method || c.Path != path || len(c.Audience) != 1 || c.Audience[0] != testAud {
			t.Fatalf("accepted a token for another request: %+v vs %s %s %q", c, method, path, body)
		}
		if c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxTokenLifetime {
			t.Fatalf("accepted a long-lived token: %+v", c)
		}
		// And never twice.
		if err := v.Verify(r, body); statusOf(err) != 401 {
			t.Fatalf("accepted a replay: %v", err)
		}
	})
}
