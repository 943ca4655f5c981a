package ui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

var app = fstest.MapFS{
	"index.html":             {Data: []byte(`<!doctype html><html><head><meta name="csp-nonce" content="__CSP_NONCE__"><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div>` + strings.Repeat(" ", 600) + `</body></html>`)},
	"assets/index-abc123.js": {Data: []byte(strings.Repeat("console.log('corral');\n", 100))},
	"favicon.svg":            {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	r := io.Reader(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var nonceRE = regexp.MustCompile(`'nonce-([A-Za-z0-9+/=]+)'`)

func TestIndexAndClientRoutes(t *testing.T) {
	h := New(app)
	var nonces []string
	for _, target := range []string{"/", "/index.html", "/collectors/sim-0001", "/login?next=%2Ffleet"} {
		resp := get(t, h, "GET", target, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", target, resp.StatusCode)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", target, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", target, csp)
		}
		m := nonceRE.FindStringSubmatch(csp)
		if m == nil {
			t.Fatalf("%s: no style nonce in CSP %q", target, csp)
		}
		b := body(t, resp)
		if !strings.Contains(b, `content="`+m[1]+`"`) {
			t.Errorf("%s: page does not carry the policy's nonce %s", target, m[1])
		}
		if strings.Contains(b, NoncePlaceholder) {
			t.Errorf("%s: placeholder left in the page", target)
		}
		nonces = append(nonces, m[1])
		if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", target, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", target, got)
		}
	}
	seen := map[string]bool{}
	for _, n := range nonces {
		if seen[n] {
			t.Errorf("nonce %s used twice", n)
		}
		seen[n] = true
	}
}

func TestAssets(t *testing.T) {
	h := New(app)
	resp := get(t, h, "GET", "/assets/index-abc123.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("hashed asset Cache-Control %q, want immutable", got)
	}
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", got)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("Content-Type %q", ct)
	}
	if b := body(t, resp); b != string(app["assets/index-abc123.js"].Data) {
		t.Errorf("gzipped body differs from the asset")
	}
	// Without Accept-Encoding: plain.
	resp = get(t, h, "GET", "/assets/index-abc123.js", nil)
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip sent to a client that did not ask")
	}
	// A missing asset is a 404, not the page.
	for _, target := range []string{"/assets/index-gone.js", "/missing.css"} {
		resp = get(t, h, "GET", target, nil)
		if resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", target, resp.StatusCode)
		}
	}
	resp = get(t, h, "GET", "/favicon.svg", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("favicon: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	resp = get(t, h, "POST", "/", nil)
	if resp.StatusCode != 405 {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
	resp = get(t, h, "GET", "/../../etc/passwd", nil)
	if resp.StatusCode != 200 || !strings.Contains(body(t, resp), "csp-nonce") {
		t.Errorf("a path escaping the root must fall back to the page, got %d", resp.StatusCode)
	}
}

func TestNotBuilt(t *testing.T) {
	for _, h := range []http.Handler{New(nil), New(fstest.MapFS{})} {
		resp := get(t, h, "GET", "/collectors/x", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		b := body(t, resp)
		if !strings.Contains(b, "make build") || !strings.Contains(b, "-tags embedui") {
			t.Errorf("page does not say how to build the UI: %s", b)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Error("no CSP on the not-built page")
		}
	}
}
