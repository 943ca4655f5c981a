package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// TestBodyOverLimit: a body over maxBody is a 413 with its own code and the
// limit named, not a bad_request.
func TestBodyOverLimit(t *testing.T) {
	h, tokens, _ := controlFixture(t)
	body := `{"name":"big","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","labels":{"x":"` +
		strings.Repeat("a", maxBody) + `"}}`
	code, got := send(t, h, tokens[uSuper], "POST", "/api/v1/collectors/register", body)
	if code != 413 {
		t.Fatalf("status %d, want 413: %.200s", code, got)
	}
	var e wire.Error
	if err := json.Unmarshal([]byte(got), &e); err != nil {
		t.Fatal(err)
	}
	if e.Code != "payload_too_large" {
		t.Errorf("code %q, want payload_too_large", e.Code)
	}
	if !strings.Contains(e.Message, "1048576") {
		t.Errorf("message %q does not name the limit", e.Message)
	}
	if v, _ := e.Details["limit_bytes"].(float64); v != maxBody {
		t.Errorf("details.limit_bytes %v, want %d", e.Details["limit_bytes"], maxBody)
	}
}

// TestRegisterInvalidUTF8 sends invalid UTF-8 in each field of a
// registration: a 400 naming the field, not a collector stored with U+FFFD.
func TestRegisterInvalidUTF8(t *testing.T) {
	h, tokens, _ := controlFixture(t)
	for _, tc := range []struct{ field, body string }{
		{"name", `{"name":"n\xff","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red"}`},
		{"url", `{"name":"u1","url":"http://127.0.0.1:1/m\xff","org":"acme","team":"red"}`},
		{"labels", `{"name":"l1","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","labels":{"env":"pr\xffod"}}`},
		{"labels", `{"name":"l2","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","labels":{"e\xc3":"prod"}}`},
		{"org", `{"name":"o1","url":"http://127.0.0.1:1/metrics","org":"ac\xffme","team":"red"}`},
		{"team", `{"name":"t1","url":"http://127.0.0.1:1/metrics","org":"acme","team":"r\xffed"}`},
		{"thresholds", `{"name":"th1","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","thresholds":{"stale_after":"1m\xff"}}`},
	} {
		t.Run(tc.field, func(t *testing.T) {
			// The table spells the bytes as \xff in raw strings, for reading.
			body := strings.NewReplacer(`\xff`, "\xff", `\xc3`, "\xc3").Replace(tc.body)
			code, got := send(t, h, tokens[uSuper], "POST", "/api/v1/collectors/register", body)
			if code != 400 {
				t.Fatalf("status %d, want 400: %s", code, got)
			}
			var e wire.Error
			if err := json.Unmarshal([]byte(got), &e); err != nil {
				t.Fatal(err)
			}
			if e.Details["field"] != tc.field || !strings.Contains(e.Message, "UTF-8") {
				t.Errorf("got %q field %v, want field %s and UTF-8 named", e.Message, e.Details["field"], tc.field)
			}
		})
	}
}
