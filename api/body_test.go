package api

import (
	"context"
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

// TestLoneSurrogate sends an escaped lone UTF-16 surrogate, which
// encoding/json silently turns into U+FFFD, in registrations, commands and the
// other write bodies: a 400 naming the field, not text stored or sent changed.
func TestLoneSurrogate(t *testing.T) {
	h, tokens, st := controlFixture(t)
	for _, tc := range []struct{ path, field, body string }{
		{"/api/v1/collectors/register", "labels", `{"name":"s1","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","labels":{"env":"pr\ud800od"}}`},
		{"/api/v1/collectors/register", "labels", `{"name":"s2","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","labels":{"e\udc00":"prod"}}`},
		{"/api/v1/collectors/register", "name", `{"name":"s3\udbff","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red"}`},
		{"/api/v1/collectors/register", "team", `{"name":"s4","url":"http://127.0.0.1:1/metrics","org":"acme","team":"\ud83dred"}`},
		{"/api/v1/collectors/acme-red-1/stop", "reason", `{"reason":"maint\ud800enance"}`},
		{"/api/v1/collectors/acme-red-1/update-config", "database", `{"database":"orders\udfff"}`},
		{"/api/v1/collectors/re-register", "archived_collector_id", `{"archived_collector_id":"\ud800"}`},
		{"/api/v1/collectors/bulk-action", "reason", `{"action":"stop","ids":["acme-red-1"],"reason":"\ude00"}`},
	} {
		t.Run(tc.path+" "+tc.field, func(t *testing.T) {
			code, got := send(t, h, tokens[uSuper], "POST", tc.path, tc.body)
			var e wire.Error
			if err := json.Unmarshal([]byte(got), &e); err != nil || code != 400 || e.Details["field"] != tc.field ||
				!strings.Contains(e.Message, "surrogate") {
				t.Errorf("%d %s, want 400 naming %s and the surrogate", code, got, tc.field)
			}
		})
	}
	// A surrogate pair is text like any other.
	body := `{"name":"pair-1","url":"http://127.0.0.1:1/metrics","org":"acme","team":"red","labels":{"mood":"\ud83d\ude00"}}`
	if code, got := send(t, h, tokens[uSuper], "POST", "/api/v1/collectors/register", body); code != 201 {
		t.Fatalf("a surrogate pair: %d %s", code, got)
	}
	rc, err := st.Registered(context.Background(), "pair-1")
	if err != nil || rc.Labels["mood"] != "😀" {
		t.Errorf("stored labels %v, %v", rc.Labels, err)
	}
}
