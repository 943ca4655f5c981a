package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// FuzzBodies sends any body to the write routes of this package (login,
// token creation and revocation), on a real SQLite store: a 2xx, or a
// 4xx with the API's JSON error body; never a 5xx or a panic.
func FuzzBodies(f *testing.F) {
	e := newEnv(f, backends[0].url(f), Options{})
	e.user("ana", "pw", store.RoleBinding{Role: store.RoleTeamLead, Org: "acme", Team: "web"})
	c, csrf := e.login("ana", "pw")
	_, id := e.createToken(c, csrf, map[string]any{"name": "seed"})
	routes := []struct{ method, path, seed string }{
		{"POST", "/api/v1/login", `{"username":"ana","password":"pw"}`},
		{"POST", "/api/v1/tokens", `{"name":"ci","expires_in_days":30}`},
		{"POST", "/api/v1/tokens", `{"name":"ci","expires":"2025-08-01T00:00:00Z"}`},
		{"DELETE", "/api/v1/tokens/" + id, ``},
	} // logout reads no body, and would end the session the others use
	for i, r := range routes {
		f.Add(uint8(i), []byte(r.seed))
	}
	for _, b := range []string{``, `null`, `[]`, `{"username":7}`, `{"username":"an\ud800a","password":"x"}`, "{\"name\":\"\xff\"}",
		`{"name":"x","expires_in_days":1e300}`, `{"name":"x","expires":"0001-01-01T00:00:00Z"}`, `{} {}`, `{"name":"` + strings.Repeat("n", maxBody) + `"}`} {
		f.Add(uint8(0), []byte(b))
		f.Add(uint8(1), []byte(b))
	}
	h := e.srv.Config.Handler
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if r.path != "/api/v1/login" {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			req.Header.Set(CSRFHeader, csrf)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		what := r.method + " " + r.path + " " + string(body)
		switch code := rec.Code; {
		case code >= 200 && code < 300:
			if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%.300s: %d with a body that is not JSON: %.300s", what, code, rec.Body)
			}
		case code >= 400 && code < 500:
			var we wire.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &we); err != nil || we.Code == "" || we.Message == "" || we.Details == nil {
				t.Fatalf("%.300s: %d without the JSON error body: %.300s", what, code, rec.Body)
			}
		default:
			t.Fatalf("%.300s: %d: %.300s", what, code, rec.Body)
		}
	})
}
