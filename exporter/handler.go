package exporter

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/corral-dev/corral/exporter/control"
)

// maxControlBody bounds a /control request body.
const maxControlBody = 1 << 20

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func pidNow() int { return os.Getpid() }

// Handler serves /metrics, /healthz, /control and /logs (and a small index page at /).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
	mux.Handle("GET /metrics", a.requireToken(metrics))
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.HandleFunc("POST /control", a.serveControl)
	mux.Handle("GET /logs", a.requireToken(http.HandlerFunc(a.serveLogs)))
	mux.HandleFunc("GET /{$}", a.serveIndex)
	return mux
}

func (a *Agent) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	name := html.EscapeString(a.opts.Name)
	fmt.Fprintf(w, `<!doctype html><html><head><title>corral-agent %s</title></head><body>
<h1>corral-agent %s</h1><p>kind %s, state %s</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="healthz">/healthz</a></li><li><a href="logs">/logs</a></li><li>POST /control (signed)</li></ul>
</body></html>`, name, name, html.EscapeString(a.opts.Kind), html.EscapeString(a.State()))
}

// requireToken checks the bearer token against the configured SHA-256, when one is set.
func (a *Agent) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		want, prev, source := a.tokenHash, a.prevTokenHash, a.tokenSource
		if prev != nil && !time.Now().Before(a.prevTokenUntil) {
			prev = nil
		}
		a.mu.Unlock()
		if want != nil {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			good := subtle.ConstantTimeCompare(sum[:], want) == 1 || prev != nil && subtle.ConstantTimeCompare(sum[:], prev) == 1
			if !ok || !good {
				w.Header().Set("WWW-Authenticate", `Bearer realm="corral-agent"`)
				msg := "a valid bearer token is required"
				if source == tokenSourceRotation {
					// Say which token, for whoever wonders why a config's is refused.
					msg += " (the agent takes the token rotate_credentials set, kept in its state file, not the one of its config; see its /healthz and start log)"
				}
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request) {
	h := a.Health()
	status := http.StatusOK
	if !h.Healthy {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	if s := q.Get("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "after: must be a cursor (a non-negative integer) from next_cursor"})
			return
		}
		after = v
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: must be an integer from 1 to 1000"})
			return
		}
		limit = v
	}
	writeJSON(w, http.StatusOK, a.logs.Page(after, limit))
}

func (a *Agent) serveControl(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, control.Response{Error: fmt.Sprintf("request body over %d bytes", maxControlBody)})
		return
	}
	if len(a.verifier.Keys()) == 0 {
		a.m.commands.WithLabelValues("unknown", "unauthorized").Inc()
		writeJSON(w, http.StatusForbidden, control.Response{Error: "control is disabled: the agent trusts no key (set control.trusted_keys)"})
		return
	}
	if err := a.verifier.Verify(r, body); err != nil {
		status := http.StatusUnauthorized
		var ae *control.AuthError
		if errors.As(err, &ae) {
			status = ae.Status
		}
		a.m.commands.WithLabelValues("unknown", "unauthorized").Inc()
		a.log.Warn("control request rejected", "remote", r.RemoteAddr, "reason", err.Error())
		writeJSON(w, status, control.Response{Error: err.Error()})
		return
	}
	req, err := control.ParseRequest(body)
	if err != nil {
		a.m.commands.WithLabelValues("unknown", "rejected").Inc()
		writeJSON(w, http.StatusBadRequest, control.Response{Error: err.Error()})
		return
	}
	resp, status, after := a.Execute(r.Context(), req)
	writeJSON(w, status, resp)
	if after != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		after()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
