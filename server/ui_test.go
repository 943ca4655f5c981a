package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The UI takes only what no route takes, and never the server's own prefixes.
func TestWithUI(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") })
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "reloaded") })
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "api") })
	app := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ui page") })
	h := withUI(mux, app)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", 200, "ui page"},
		{"GET", "/collectors/sim-0001", 200, "ui page"},
		{"GET", "/login", 200, "ui page"},
		{"GET", "/metrics", 200, "metrics"},
		{"GET", "/api/v1/collectors", 200, "api"},
		{"POST", "/-/reload", 200, "reloaded"},
		{"GET", "/-/reload", 405, ""},
		{"GET", "/-/nope", 404, ""},
		{"GET", "/debug/pprof/", 404, ""},
		{"POST", "/metrics", 405, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code || (tc.body != "" && !strings.Contains(rec.Body.String(), tc.body)) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
}
