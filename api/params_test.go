package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// TestQueryOutOfRange sends every list route numbers that overflow an int, or
// the arithmetic done with them, and times no int64 holds in nanoseconds: each
// is a 400 naming the parameter, never a panic or a filter silently dropped.
func TestQueryOutOfRange(t *testing.T) {
	h, tokens, _ := controlFixture(t)
	if code, body := send(t, h, tokens[uSuper], "POST", "/api/v1/collectors/acme-red-1/collect", ""); code >= 300 {
		t.Fatalf("collect, for an audit entry: %d %s", code, body)
	}
	const huge = "9223372036854775807"
	for _, tc := range []struct{ path, field string }{
		{"/api/v1/collectors?page=" + huge + "&limit=1000", "page"},
		{"/api/v1/collectors?page=" + huge, "page"},
		{"/api/v1/collectors?page=99999999999999999999", "page"},
		{"/api/v1/collectors?limit=" + huge, "limit"},
		{"/api/v1/commands?offset=" + huge, "offset"},
		{"/api/v1/commands?offset=99999999999999999999", "offset"},
		{"/api/v1/commands?limit=" + huge, "limit"},
		{"/api/v1/audit?offset=" + huge, "offset"},
		{"/api/v1/audit?limit=-" + huge, "limit"},
		{"/api/v1/audit?since=99999999999999999999", "since"},
		{"/api/v1/audit?until=1e300", "until"},
		{"/api/v1/audit?since=-1", "since"},
		{"/api/v1/audit?since=NaN", "since"},
		{"/api/v1/audit?since=20&until=10", "until"},
		{"/api/v1/bulk-actions?limit=" + huge, "limit"},
		{"/api/v1/collectors/acme-red-1/logs?offset=" + huge, "offset"},
		{"/api/v1/collectors/acme-red-1/logs?since=99999999999999999999", "since"},
		{"/api/v1/collectors/acme-red-1/logs?until=Inf", "until"},
		{"/api/v1/collectors/acme-red-1/history?from=99999999999999999999", "from"},
		{"/api/v1/collectors/acme-red-1/completeness?to=1e300", "to"},
	} {
		code, body := send(t, h, tokens[uSuper], "GET", tc.path, "")
		var e wire.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusBadRequest ||
			e.Code != wire.CodeBadRequest || e.Details["field"] != tc.field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", tc.path, code, body, tc.field)
		}
	}
	// The largest page accepted is past the end: an empty page, not an overflow.
	code, body := send(t, h, tokens[uSuper], "GET", "/api/v1/collectors?page=1000000&limit=1000", "")
	var l wire.CollectorList
	if err := json.Unmarshal([]byte(body), &l); err != nil || code != http.StatusOK || len(l.Data) != 0 || l.Total != len(collectors) {
		t.Errorf("last page: %d %s", code, body)
	}
	// A time in range still filters: nothing happened after 9999, one thing after 1970.
	for since, want := range map[string]int{"253402300799": 0, "0": 1} {
		code, body = send(t, h, tokens[uSuper], "GET", "/api/v1/audit?since="+since, "")
		var p wire.Page[wire.AuditEntry]
		if err := json.Unmarshal([]byte(body), &p); err != nil || code != http.StatusOK || p.Total != want {
			t.Errorf("audit since %s: %d %s, want %d entries", since, code, body, want)
		}
	}
}

// TestRelativeTimes: every time the API takes (history and completeness from
// and to, logs and audit since and until) also takes now and a signed
// duration from now, as corralctl's time flags do.
func TestRelativeTimes(t *testing.T) {
	h, tokens, _ := controlFixture(t)
	if code, body := send(t, h, tokens[uSuper], "POST", "/api/v1/collectors/acme-red-1/collect", ""); code >= 300 {
		t.Fatalf("collect, for an audit entry: %d %s", code, body)
	}
	// The audit entry just made is within the last hour, not in the next one.
	for q, want := range map[string]int{"since=-1h": 1, "since=-1h&until=now": 1, "since=%2B1h": 0, "until=-1h": 0, "since=-1h30m&until=%2B10m": 1} {
		code, body := send(t, h, tokens[uSuper], "GET", "/api/v1/audit?"+q, "")
		var p wire.Page[wire.AuditEntry]
		if err := json.Unmarshal([]byte(body), &p); err != nil || code != http.StatusOK || p.Total != want {
			t.Errorf("audit?%s: %d %s, want %d entries", q, code, body, want)
		}
	}
	for _, path := range []string{
		"/api/v1/collectors/acme-red-1/history?from=-1h&to=now",
		"/api/v1/collectors/acme-red-1/completeness?from=-24h&to=now",
		"/api/v1/collectors/acme-red-1/logs?since=-5m&until=now",
	} {
		if code, body := send(t, h, tokens[uSuper], "GET", path, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	for _, tc := range []struct{ path, field string }{
		{"/api/v1/collectors/acme-red-1/history?from=-5x", "from"},
		{"/api/v1/collectors/acme-red-1/history?from=now&to=-1h", "to"},
		{"/api/v1/collectors/acme-red-1/completeness?to=-", "to"},
		{"/api/v1/collectors/acme-red-1/logs?since=-99999999h", "since"},
		{"/api/v1/audit?until=-1d", "until"},
	} {
		code, body := send(t, h, tokens[uSuper], "GET", tc.path, "")
		var e wire.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusBadRequest || e.Details["field"] != tc.field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", tc.path, code, body, tc.field)
		}
	}
}
