// Package ui serves corral's web UI: the single-page app in ui/src, built by vite
// into ui/dist and embedded with -tags embedui. Client-side routes fall back to
// index.html; every answer carries a strict Content-Security-Policy (no inline
// script; styles only from corral or with the response's nonce, which the app
// hands to Mantine for the style elements it injects).
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// NoncePlaceholder is where index.html wants the response's style nonce (in
// <meta name="csp-nonce" content="…">): the handler replaces it per response.
const NoncePlaceholder = "__CSP_NONCE__"

// CSP is the Content-Security-Policy of a page, with %s the response's nonce.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-%s'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the embedded app, or a page saying how to build it when this
// binary was built without it.
func Handler() http.Handler { return New(built()) }

// New serves the app in files (nil: the how-to-build page).
func New(files fs.FS) http.Handler {
	if files == nil {
		return http.HandlerFunc(serveNotBuilt)
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return http.HandlerFunc(serveNotBuilt)
	}
	return &handler{files: files, index: index, gz: map[string][]byte{}}
}

type handler struct {
	files fs.FS
	index []byte
	gz    map[string][]byte // compressed assets, filled at first request of each
	gzMu  sync.Mutex
}

func securityHeaders(h http.Header, nonce string) {
	h.Set("Content-Security-Policy", fmt.Sprintf(CSP, nonce))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the UI is read with GET", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	name := strings.TrimPrefix(p, "/")
	if name != "" && name != "index.html" {
		if st, err := fs.Stat(h.files, name); err == nil && !st.IsDir() {
			h.serveFile(w, r, name)
			return
		}
		// A missing asset is a 404, never index.html: a script tag must not get HTML.
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
			securityHeaders(w.Header(), newNonce())
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
	}
	h.serveIndex(w, r)
}

// serveIndex answers the app's page for every client-side route, with a fresh
// nonce in the policy and the page, and never cached: a new build's assets have
// new names, and only index.html names them.
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	nonce := newNonce()
	securityHeaders(w.Header(), nonce)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	body := bytes.ReplaceAll(h.index, []byte(NoncePlaceholder), []byte(nonce))
	writeMaybeGzip(w, r, body, nil)
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	data, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.Error(w, "cannot read "+name, http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header(), newNonce())
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = http.DetectContentType(data)
	}
	w.Header().Set("Content-Type", ct)
	if strings.HasPrefix(name, "assets/") {
		// vite names every asset by a hash of its content.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	var gz []byte
	if compressible(ct) && acceptsGzip(r) {
		h.gzMu.Lock()
		gz = h.gz[name]
		if gz == nil {
			gz = gzipBytes(data)
			h.gz[name] = gz
		}
		h.gzMu.Unlock()
	}
	writeMaybeGzip(w, r, data, gz)
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "javascript") ||
		strings.Contains(ct, "json") || strings.Contains(ct, "svg")
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func gzipBytes(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// writeMaybeGzip writes body, gzipped (gz, or compressed now when nil) when the
// client accepts it and it is worth it.
func writeMaybeGzip(w http.ResponseWriter, r *http.Request, body, gz []byte) {
	w.Header().Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) && len(body) > 512 {
		if gz == nil {
			gz = gzipBytes(body)
		}
		w.Header().Set("Content-Encoding", "gzip")
		body = gz
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func newNonce() string {
	b := make([]byte, 18)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(b)
}

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>corral: the web UI is not built</title></head>
<body>
<h1>corral's web UI is not in this build</h1>
<p>This corral binary was built without the web UI. Build it with <code>make build</code>
(needs Node.js 20 and npm: it runs <code>npm ci</code> and <code>vite build</code> in
<code>ui/</code>, then <code>go build -tags embedui</code>), or by hand:</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd .. &amp;&amp; go build -tags embedui -o bin/ ./cmd/corral</pre>
<p>The API is served all the same at <a href="%s">/api/v1</a> (see docs/api.md), and the metrics at <a href="/metrics">/metrics</a>.</p>
</body></html>
`

func serveNotBuilt(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	securityHeaders(w.Header(), newNonce())
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, notBuilt, html.EscapeString("/api/v1/openapi.json"))
}
