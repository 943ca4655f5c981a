package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// checkAnswer fails unless the answer is a 2xx with a JSON body or a 4xx with
// the API's JSON error: never a 5xx (a panic answers 500 through the
// recoverer, or kills the fuzzer without one).
func checkAnswer(t *testing.T, what string, code int, body string) {
	t.Helper()
	switch {
	case code >= 200 && code < 300:
		if body != "" && !json.Valid([]byte(body)) {
			t.Fatalf("%s: %d with a body that is not JSON: %.300s", what, code, body)
		}
	case code >= 400 && code < 500:
		var e wire.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code == "" || e.Message == "" || e.Details == nil {
			t.Fatalf("%s: %d without the JSON error body: %.300s", what, code, body)
		}
	default:
		t.Fatalf("%s: %d: %.300s", what, code, body)
	}
}

// queryRoutes are the GET routes that parse a query string, with a query
// each takes, for the seed corpus.
var queryRoutes = []struct{ path, seed string }{
	{"/api/v1/collectors", "page=2&limit=1&sort=-status&status=online,error&label=team%3Dred&q=acme&group_by=team&group=eu&tag=pg&tag=prod"},
	{"/api/v1/collectors/acme-red-1/history", "from=-1h&to=now&limit=10"},
	{"/api/v1/collectors/acme-red-1/completeness", "window=24h&from=2026-01-01T00:00:00Z&to=1767225600"},
	{"/api/v1/collectors/acme-red-1/logs", "level=warn&q=x&since=-5m&until=now&limit=5&offset=1"},
	{"/api/v1/collectors/acme-red-1/metrics", "match=up"},
	{"/api/v1/collectors/archived", "limit=5"},
	{"/api/v1/commands", "collector=acme-red-1&state=pending&limit=5&offset=0"},
	{"/api/v1/audit", "since=-1h&until=%2B1h&collector=acme-red-1&action=collect&result=ok&actor=super&limit=3&format=csv"},
	{"/api/v1/bulk-actions", "limit=5&page=1"},
	{"/api/v1/targets", "state=active&scrapePool=pg"},
}

// FuzzCollectorsQuery drives the real handlers (a real SQLite store, real
// scrapes of an HTTP agent) with any query string on GET /api/v1/collectors
// and the other list routes: a 200, or a 400 (404 for a collector filter that
// finds none) with the JSON error body; never a 5xx or a panic.
func FuzzCollectorsQuery(f *testing.F) {
	h, tokens, _ := controlFixture(f)
	for i, r := range queryRoutes {
		f.Add(uint8(i), r.seed)
		f.Add(uint8(i), "")
	}
	for _, q := range []string{"page=9223372036854775807&limit=1000", "limit=-1", "sort=nope", "page=1e3", "status=%ff",
		"label=%7B", "label=a%3D~%28", "q=%00", "group_by=org&group_by=team", "group_by=group&group=", "tag=%ff&environment=x", "since=99999999999999999999", "from=-"} {
		f.Add(uint8(0), q)
		f.Add(uint8(7), q)
	}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		r := queryRoutes[int(route)%len(queryRoutes)]
		req := httptest.NewRequest("GET", r.path, nil)
		req.URL.RawQuery = query // as sent, not re-encoded: the handler parses it
		req.Header.Set("Authorization", "Bearer "+tokens[uSuper])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		// 400 for a bad parameter; 404 for a filter naming a collector the
		// caller cannot see, as its detail would.
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusNotFound {
			t.Fatalf("GET %s?%s: %d, want 200, 400 or 404: %.300s", r.path, query, rec.Code, body)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || rec.Code != http.StatusOK {
			checkAnswer(t, "GET "+r.path+"?"+query, rec.Code, body)
		}
	})
}

// writeRoutes are the write routes of this package with a body each takes,
// for the seed corpus. Commands do not wait for the agent (wait=none).
var writeRoutes = []struct{ method, path, seed string }{
	{"POST", "/api/v1/collectors/register", `{"name":"fz-1","url":"http://127.0.0.1:1/metrics","labels":{"env":"prod"},"org":"acme","team":"red","thresholds":{"stale_after":"10m"}}`},
	{"POST", "/api/v1/collectors/re-register", `{"archived_collector_id":"arc-1","generate_new_token":true,"restore_metrics":false}`},
	{"DELETE", "/api/v1/collectors/nolabel-1", `{"reason":"fuzz","archive_metrics":true,"retention_days":30}`},
	{"POST", "/api/v1/collectors/acme-red-1/stop?wait=none", `{"reason":"rbac","estimated_duration_minutes":5}`},
	{"POST", "/api/v1/collectors/acme-red-1/resume?wait=none", `{"reason":"back"}`},
	{"POST", "/api/v1/collectors/acme-red-1/restart?wait=none", ``},
	{"POST", "/api/v1/collectors/acme-red-1/collect?wait=none", `{}`},
	{"POST", "/api/v1/collectors/acme-red-1/backfill?wait=none", `{"from":"2025-01-01T00:00:00Z","to":"2025-01-02T00:00:00Z","reason":"gap"}`},
	{"POST", "/api/v1/collectors/acme-red-1/test-connection?wait=none", ``},
	{"POST", "/api/v1/collectors/acme-red-1/update-config?wait=none", `{"collection_interval":"30s","tags":["x"],"group":"g","password":"p"}`},
	{"POST", "/api/v1/collectors/acme-red-1/rotate-credentials?wait=none", `{"scrape_token":false,"reason":"r"}`},
	{"POST", "/api/v1/collectors/acme-red-1/scrape", ``},
	{"POST", "/api/v1/collectors/bulk-action", `{"action":"stop","ids":["acme-red-1","acme-blue-1"],"params":{"reason":"b"},"dry_run":true}`},
	{"POST", "/api/v1/collectors/bulk-action", `{"action":"collect","selector":"{team=\"red\"}","schedule_at":"2099-01-01T00:00:00Z"}`},
	{"POST", "/api/v1/bulk-actions/bulk-1/cancel", `{}`},
	{"POST", "/api/v1/keys/rotate", ``},
	{"POST", "/api/v1/keys/rotate/complete", `{"force":false}`},
}

// FuzzWriteBodies sends any body to every write route of this package, on
// the real handlers: a 2xx or a 4xx with the JSON error body; never a 5xx or
// a panic. The fixture's state moves on as the bodies land (collectors
// stopped, registered, unregistered), as a server's would.
func FuzzWriteBodies(f *testing.F) {
	h, tokens, _ := controlFixture(f)
	for i, r := range writeRoutes {
		f.Add(uint8(i), []byte(r.seed))
		f.Add(uint8(i), []byte(`{"reason":"a\ud800"}`))
	}
	for _, b := range []string{``, `null`, `[]`, `{"x":1}`, `{"reason":7}`, "{\"reason\":\"\xff\"}", `{"ids":[]}`, `{} {}`,
		`{"from":"0001-01-01T00:00:00Z","to":"9999-12-31T23:59:59Z"}`, `{"estimated_duration_minutes":1e300}`, `{"labels":{"":""}}`} {
		f.Add(uint8(3), []byte(b))
		f.Add(uint8(12), []byte(b))
		f.Add(uint8(0), []byte(b))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := writeRoutes[int(route)%len(writeRoutes)]
		code, got := send(t, h, tokens[uSuper], r.method, r.path, string(body))
		checkAnswer(t, r.method+" "+r.path+" "+string(body), code, got)
	})
}
