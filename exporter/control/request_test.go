package control

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCommands(t *testing.T) {
	got := Commands()
	want := []string{"pause", "resume", "restart", "collect", "backfill", "update_config", "test_connection", "rotate_credentials"}
	if !slices.Equal(got, want) {
		t.Errorf("Commands() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Commands()[0] != Pause {
		t.Error("Commands() returned the package's own slice")
	}
}

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		want    Request
		wantErr string
	}{
		{"minimal", `{"id":"a","command":"pause"}`, Request{ID: "a", Command: "pause"}, ""},
		{"args object compacted", ` {"command":"backfill", "id":"cmd-1:x_y.z", "args": { "from" : "2024-01-01T00:00:00Z" } } `, Request{ID: "cmd-1:x_y.z", Command: "backfill", Args: json.RawMessage(`{"from":"2024-01-01T00:00:00Z"}`)}, ""},
		{"args null", `{"id":"a","command":"resume","args":null}`, Request{ID: "a", Command: "resume"}, ""},
		{"args empty object", `{"id":"a","command":"collect","args":{}}`, Request{ID: "a", Command: "collect", Args: json.RawMessage(`{}`)}, ""},
		{"id of 128 characters", `{"id":"` + strings.Repeat("x", 128) + `","command":"pause"}`, Request{ID: strings.Repeat("x", 128), Command: "pause"}, ""},

		{"empty body", ``, Request{}, "empty"},
		{"white space only", "  \n", Request{}, "empty"},
		{"not JSON", `hello`, Request{}, "not valid JSON"},
		{"array", `[{"id":"a","command":"pause"}]`, Request{}, "must be a JSON object"},
		{"string", `"pause"`, Request{}, "must be a JSON object"},
		{"null", `null`, Request{}, "must be a JSON object"},
		{"truncated", `{"id":"a","command":`, Request{}, "not valid JSON"},
		{"unclosed", `{"id":"a","command":"pause"`, Request{}, "not valid JSON"},
		{"trailing object", `{"id":"a","command":"pause"}{}`, Request{}, "unexpected data after the JSON object"},
		{"trailing garbage", `{"id":"a","command":"pause"} x`, Request{}, "unexpected data after the JSON object"},
		{"trailing brace", `{"id":"a","command":"pause"}}`, Request{}, "unexpected data after the JSON object"},
		{"unknown field", `{"id":"a","command":"pause","force":true}`, Request{}, `unknown field "force"; allowed: args, command, id`},
		{"field in other case", `{"ID":"a","command":"pause"}`, Request{}, `unknown field "ID"`},
		{"duplicate field", `{"id":"a","command":"pause","command":"restart"}`, Request{}, "command: given more than once"},
		{"invalid UTF-8", "{\"id\":\"a\",\"command\":\"pause\",\"args\":{\"x\":\"\xff\"}}", Request{}, "UTF-8"},
		{"id missing", `{"command":"pause"}`, Request{}, "id: required"},
		{"id empty", `{"id":"","command":"pause"}`, Request{}, "id: required"},
		{"id null", `{"id":null,"command":"pause"}`, Request{}, "id: required"},
		{"id number", `{"id":7,"command":"pause"}`, Request{}, "id: must be a string"},
		{"id too long", `{"id":"` + strings.Repeat("x", 129) + `","command":"pause"}`, Request{}, "id: 129 characters, at most 128"},
		{"id with space", `{"id":"a b","command":"pause"}`, Request{}, "id: \"a b\" has a character outside"},
		{"id with slash", `{"id":"a/b","command":"pause"}`, Request{}, "id: "},
		{"id with unicode", `{"id":"caf\u00e9","command":"pause"}`, Request{}, "id: "},
		{"command missing", `{"id":"a"}`, Request{}, "command: required"},
		{"command empty", `{"id":"a","command":""}`, Request{}, "command: required"},
		{"command object", `{"id":"a","command":{}}`, Request{}, "command: must be a string"},
		{"command unknown", `{"id":"a","command":"selfdestruct"}`, Request{}, `command: unknown command "selfdestruct"; known: pause, resume`},
		{"command in other case", `{"id":"a","command":"Pause"}`, Request{}, `command: unknown command "Pause"`},
		{"args array", `{"id":"a","command":"pause","args":[]}`, Request{}, "args: must be a JSON object or null"},
		{"args string", `{"id":"a","command":"pause","args":"x"}`, Request{}, "args: must be a JSON object or null"},
		{"args number", `{"id":"a","command":"pause","args":1}`, Request{}, "args: must be a JSON object or null"},
		{"args invalid", `{"id":"a","command":"pause","args":{"a":}}`, Request{}, "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "control request: ") {
					t.Errorf("error %q does not say what was being parsed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.want.ID || got.Command != tc.want.Command || string(got.Args) != string(tc.want.Args) || (got.Args == nil) != (tc.want.Args == nil) {
				t.Errorf("got %+v (args %s), want %+v (args %s)", got, got.Args, tc.want, tc.want.Args)
			}
		})
	}
}

func TestParseBackfillArgs(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		raw      string
		from, to string
		wantErr  string
	}{
		{"range", `{"from":"2025-02-01T00:00:00Z","to":"2025-02-02T00:00:00Z"}`, "2025-02-01T00:00:00Z", "2025-02-02T00:00:00Z", ""},
		{"offsets and fractions", `{"from":"2025-02-01T01:00:00.5+01:00","to":"2025-03-01T12:00:30Z"}`, "2025-02-01T00:00:00.5Z", "2025-03-01T12:00:30Z", ""},
		{"to within skew", `{"from":"2025-03-01T11:00:00Z","to":"2025-03-01T12:01:00Z"}`, "2025-03-01T11:00:00Z", "2025-03-01T12:01:00Z", ""},

		{"absent", ``, "", "", "args: required"},
		{"null", `null`, "", "", "args: required"},
		{"array", `[]`, "", "", "args: must be a JSON object"},
		{"unknown field", `{"from":"2025-02-01T00:00:00Z","to":"2025-02-02T00:00:00Z","step":"1h"}`, "", "", `unknown field "step"; allowed: from, to`},
		{"duplicate", `{"from":"2025-02-01T00:00:00Z","from":"2025-02-01T00:00:00Z","to":"2025-02-02T00:00:00Z"}`, "", "", "from: given more than once"},
		{"trailing", `{"from":"2025-02-01T00:00:00Z","to":"2025-02-02T00:00:00Z"} 1`, "", "", "unexpected data"},
		{"from missing", `{"to":"2025-02-02T00:00:00Z"}`, "", "", "from: required"},
		{"to missing", `{"from":"2025-02-01T00:00:00Z"}`, "", "", "to: required"},
		{"from not a time", `{"from":"x","to":"2025-02-02T00:00:00Z"}`, "", "", `from: "x" is not an RFC 3339 time`},
		{"from a date only", `{"from":"2025-02-01","to":"2025-02-02T00:00:00Z"}`, "", "", "from: "},
		{"to a number", `{"from":"2025-02-01T00:00:00Z","to":1738454400}`, "", "", "to: must be an RFC 3339 time string"},
		{"from equals to", `{"from":"2025-02-01T00:00:00Z","to":"2025-02-01T00:00:00Z"}`, "", "", "is not before to"},
		{"from after to", `{"from":"2025-02-03T00:00:00Z","to":"2025-02-01T00:00:00Z"}`, "", "", "is not before to"},
		{"to in the future", `{"from":"2025-02-01T00:00:00Z","to":"2025-03-01T12:02:00Z"}`, "", "", "in the future"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var raw json.RawMessage
			if tc.raw != "" {
				raw = json.RawMessage(tc.raw)
			}
			got, err := parseBackfillArgs(raw, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			from, _ := time.Parse(time.RFC3339Nano, tc.from)
			to, _ := time.Parse(time.RFC3339Nano, tc.to)
			if !got.From.Equal(from) || !got.To.Equal(to) {
				t.Errorf("got %v – %v, want %v – %v", got.From, got.To, from, to)
			}
		})
	}
	// The exported function uses the real clock.
	if _, err := ParseBackfillArgs(json.RawMessage(`{"from":"2020-01-01T00:00:00Z","to":"2020-01-02T00:00:00Z"}`)); err != nil {
		t.Error(err)
	}
}

func TestParseRotateArgs(t *testing.T) {
	pub, _ := testKey(1)
	pub2, _ := testKey(2)
	key, key2 := FormatPublicKey(pub), FormatPublicKey(pub2)
	hash := strings.Repeat("ab", 32)
	cases := []struct {
		name    string
		raw     string
		want    RotateArgs
		wantErr string
	}{
		{"absent", ``, RotateArgs{}, ""},
		{"null", `null`, RotateArgs{}, ""},
		{"empty", `{}`, RotateArgs{}, ""},
		{"all", `{"add_keys":["` + key2 + `"],"remove_keys":["` + key + `"],"metrics_token_sha256":"` + strings.ToUpper(hash) + `"}`,
			RotateArgs{AddKeys: []string{key2}, RemoveKeys: []string{key}, MetricsTokenSHA256: strings.ToUpper(hash)}, ""},
		{"empty lists", `{"add_keys":[],"remove_keys":null}`, RotateArgs{}, ""},

		{"unknown field", `{"add_key":["` + key + `"]}`, RotateArgs{}, `unknown field "add_key"; allowed: add_keys, metrics_token_sha256, remove_keys`},
		{"not an object", `["x"]`, RotateArgs{}, "args: must be a JSON object"},
		{"add_keys a string", `{"add_keys":"` + key + `"}`, RotateArgs{}, "add_keys: must be a list"},
		{"add_keys numbers", `{"add_keys":[1]}`, RotateArgs{}, "add_keys: must be a list"},
		{"bad key", `{"add_keys":["` + key + `","ed25519:AAAA"]}`, RotateArgs{}, "add_keys[1]: public key: 3 bytes"},
		{"bad remove key", `{"remove_keys":["ssh-ed25519 AAAA"]}`, RotateArgs{}, "remove_keys[0]: public key"},
		{"hash short", `{"metrics_token_sha256":"abcd"}`, RotateArgs{}, "metrics_token_sha256: must be 64 hex"},
		{"hash not hex", `{"metrics_token_sha256":"` + strings.Repeat("zz", 32) + `"}`, RotateArgs{}, "metrics_token_sha256: must be 64 hex"},
		{"hash a number", `{"metrics_token_sha256":5}`, RotateArgs{}, "metrics_token_sha256: must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var raw json.RawMessage
			if tc.raw != "" {
				raw = json.RawMessage(tc.raw)
			}
			got, err := ParseRotateArgs(raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.AddKeys, tc.want.AddKeys) || !slices.Equal(got.RemoveKeys, tc.want.RemoveKeys) || got.MetricsTokenSHA256 != tc.want.MetricsTokenSHA256 {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPublicKeyForms(t *testing.T) {
	pub, _ := testKey(1)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	formatted := FormatPublicKey(pub)
	if !strings.HasPrefix(formatted, "ed25519:") || len(formatted) != len("ed25519:")+44 {
		t.Errorf("FormatPublicKey = %q", formatted)
	}
	cases := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"formatted", formatted, ""},
		{"formatted with newline", formatted + "\n", ""},
		{"unpadded", strings.TrimRight(formatted, "="), ""},
		{"PEM", pemKey, ""},
		{"PEM indented", "\n  " + pemKey, ""},

		{"empty", "", "empty"},
		{"ssh form", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", `want "ed25519:<base64>"`},
		{"bad base64", "ed25519:!!!", "not standard base64"},
		{"url base64", "ed25519:" + strings.NewReplacer("+", "-", "/", "_").Replace(strings.Repeat("+/", 22)), "not standard base64"},
		{"wrong length", "ed25519:AAAA", "3 bytes"},
		{"PEM of an EC key", ecPEM, "want Ed25519"},
		{"PEM private key type", strings.ReplaceAll(pemKey, "PUBLIC KEY", "PRIVATE KEY"), "want PUBLIC KEY"},
		{"two PEM blocks", pemKey + pemKey, "data after the PEM block"},
		{"broken PEM", "-----BEGIN PUBLIC KEY-----\nxx", "malformed PEM"},
		{"PEM of garbage", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")})), "public key: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKey(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(pub) {
				t.Errorf("got another key")
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	pub1, _ := testKey(1)
	pub2, _ := testKey(2)
	id := KeyID(pub1)
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("KeyID = %q, want 16 lower-case hex digits", id)
	}
	if KeyID(pub1) != id || KeyID(pub2) == id {
		t.Error("KeyID is not a stable fingerprint")
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("PEM %q", b)
	}
	got, err := ParsePrivateKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) || !got.Public().(ed25519.PublicKey).Equal(pub) {
		t.Error("round trip changed the key")
	}
	if _, err := MarshalPrivateKeyPEM(priv[:5]); err == nil {
		t.Error("marshalled a short key")
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	for name, in := range map[string]string{
		"empty":    "",
		"not PEM":  "hello",
		"EC key":   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})),
		"wrong":    string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})),
		"garbage":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})),
		"pub only": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})),
	} {
		if _, err := ParsePrivateKeyPEM([]byte(in)); err == nil || !strings.HasPrefix(err.Error(), "private key: ") {
			t.Errorf("%s: got %v, want a private key error", name, err)
		}
	}
}
