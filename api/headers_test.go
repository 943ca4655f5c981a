package api

import "testing"

// TestSecurityHeadersOnEveryAnswer checks that every kind of answer of the
// API — JSON, errors, text, CSV, the identity routes, the catch-all 404 —
// forbids sniffing and carries a Content-Security-Policy that lets nothing
// run, so no body served from corral's origin can run as the user reading it.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	h, tokens := liveFixture(t)
	for _, tc := range []struct{ token, path string }{
		{tokens[uSuper], "/api/v1/collectors"},
		{tokens[uSuper], "/api/v1/collectors/acme-red-1"},
		{tokens[uSuper], "/api/v1/collectors/acme-red-1/health"},
		{tokens[uSuper], "/api/v1/collectors/acme-red-1/metrics"},
		{tokens[uSuper], "/api/v1/collectors/acme-red-1/logs?format=csv"},
		{tokens[uSuper], "/api/v1/collectors/nope"},
		{tokens[uSuper], "/api/v1/openapi.json"},
		{tokens[uSuper], "/api/v1/me"},
		{tokens[uSuper], "/api/v1/no-such-route"},
		{"", "/api/v1/collectors"},
	} {
		code, _, hdr := do(t, h, tc.token, tc.path)
		if got := hdr.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q, want nosniff", tc.path, code, got)
		}
		if got := hdr.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("GET %s (%d): Content-Security-Policy %q, want %q", tc.path, code, got, contentSecurityPolicy)
		}
	}
}
