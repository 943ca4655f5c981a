package control

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestActionParams: the params of an action are accepted, or refused with an
// InvalidParams naming the field at fault.
func TestActionParams(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		action, params string
		field          string // "" for accepted
	}{
		{ActBackfill, `{"from":"2025-01-01T00:00:00Z","to":"2025-01-02T00:00:00Z"}`, ""},
		{ActBackfill, `{"from":"1970-01-01T00:00:00Z","to":"1970-01-02T00:00:00Z"}`, ""},
		{ActBackfill, `{"from":"2025-01-01T00:00:00Z","to":"2026-01-01T00:00:30Z"}`, ""}, // within the skew
		{ActBackfill, `{"from":"2025-01-01T00:00:00Z","to":"2026-01-01T00:00:00Z"}`, ""}, // a year
		{ActBackfill, `{"from":"0001-01-01T00:00:00Z","to":"2025-01-02T00:00:00Z"}`, "from"},
		{ActBackfill, `{"from":"0001-01-01T00:00:00Z","to":"0001-01-02T00:00:00Z"}`, "from"},
		{ActBackfill, `{"from":"1969-12-31T23:59:59Z","to":"1970-01-02T00:00:00Z"}`, "from"},
		{ActBackfill, `{"from":"2025-12-31T00:00:00Z","to":"2026-01-01T00:02:00Z"}`, "to"}, // past the skew
		{ActBackfill, `{"from":"2025-12-31T00:00:00Z","to":"9999-12-31T00:00:00Z"}`, "to"},
		{ActBackfill, `{"from":"2020-01-01T00:00:00Z","to":"2025-01-01T00:00:00Z"}`, "to"}, // five years
		{ActBackfill, `{"from":"2025-01-02T00:00:00Z","to":"2025-01-01T00:00:00Z"}`, "from"},
		{ActBackfill, `{"from":"2025-01-01T00:00:00Z"}`, "to"},
		{ActStop, `{"estimated_duration_minutes":43201}`, "estimated_duration_minutes"},
		{ActStop, `{"estimated_duration_minutes":30}`, ""},
		// Text the agent would decode into U+FFFD (callers not through the API).
		{ActStop, `{"reason":"a\ud800"}`, "reason"},
		{ActUpdateConfig, `{"database":"\udc00"}`, "database"},
		{ActUpdateConfig, "{\"database\":\"x\xff\"}", "database"},
		{ActUpdateConfig, `{"database":"\ud83d\ude00"}`, ""},
	} {
		_, err := makePlan(tc.action, json.RawMessage(tc.params), "postgres", now)
		var inv *InvalidParams
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s %s: %v, want accepted", tc.action, tc.params, err)
		case tc.field != "" && (!errors.As(err, &inv) || inv.Field != tc.field):
			t.Errorf("%s %s: %v, want InvalidParams naming %s", tc.action, tc.params, err, tc.field)
		}
	}
}

// TestQueryLimitNamedPerKind: update-config's query_limit reaches each collector
// under the key it takes (postgres: limit, mysql: digest_limit).
func TestQueryLimitNamedPerKind(t *testing.T) {
	for kind, want := range map[string]string{"postgres": `{"limit":10}`, "mysql": `{"digest_limit":10}`} {
		p, err := makePlan(ActUpdateConfig, json.RawMessage(`{"query_limit":10}`), kind, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if string(p.args) != want {
			t.Errorf("%s: agent args %s, want %s", kind, p.args, want)
		}
	}
}
