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
