package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/pprof"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/publish"
	"github.com/corral-dev/corral/targets/filesd"
	"github.com/corral-dev/corral/targets/selector"
	"github.com/corral-dev/corral/ui"
)

// routes are the server's HTTP endpoints.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	// The web config file's basic auth guards what Prometheus's does; the
	// API below keeps its own authentication.
	mux.Handle("GET /metrics", s.web.guard(http.HandlerFunc(s.serveMetrics)))
	mux.Handle("GET /federate", s.web.guard(http.HandlerFunc(s.serveFederate)))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "corral is healthy.\n") })
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.ready:
			io.WriteString(w, "corral is ready.\n")
		default:
			http.Error(w, "corral is not ready: discovery has not delivered its first targets", http.StatusServiceUnavailable)
		}
	})
	// Profiling only with --web.enable-pprof, and only for the web config's
	// basic_auth_users (as go tool pprof can send them) or, without any, a
	// super_admin: a profile shows the heap (secrets included) and a trace
	// costs CPU.
	if s.opts.EnablePprof {
		guard := s.superAdmin
		if s.web.hasUsers() {
			guard = s.web.guard
		}
		mux.Handle("GET /debug/pprof/", guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", guard(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", guard(http.HandlerFunc(pprof.Trace)))
	}
	mux.Handle("GET /api/v1/ws", s.auth.Middleware(s.hub.CredentialHandler(s.wsCredential)))
	mux.Handle("/api/v1/", api.New(api.Options{
		Fleet: s.fleet(), History: s.store, Buckets: s.store, Latest: s.scraper, Logs: s.store, Auth: s.auth,
		SDFiles: s.sdFiles, Discovery: s.discovery, Conflicts: s.discovery, Logger: s.log, DefaultOrg: s.tenancy.DefaultOrg,
		Commands: s.plane.Dispatcher, CommandList: s.store, Scraper: s.scraper, Registrar: s.plane.Lifecycle, Archives: s.plane.Lifecycle,
		Bulk: s.plane.Bulk, Keys: s.plane.Dispatcher, Audit: s.store, AuditLog: s.store, People: s.store,
		Alerts: s.alerter,
	}))
	mux.Handle("POST /-/reload", s.lifecycle(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := s.reload(); err != nil {
			http.Error(w, "reload failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "config reloaded\n")
	})))
	return withUI(mux, ui.Handler())
}

// withUI answers with the web UI (its page for client-side routes, its assets;
// a build without -tags embedui a page saying how to build it) what mux has no
// route for, except under the server's own prefixes, which keep mux's 404 and 405.
func withUI(mux *http.ServeMux, app http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		p := r.URL.Path
		if pattern != "" || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/-/") || strings.HasPrefix(p, "/debug/") ||
			p == "/metrics" || p == "/federate" {
			mux.ServeHTTP(w, r) // sets the request's pattern and path values
			return
		}
		app.ServeHTTP(w, r)
	})
}

// wsCredential is the credential of a WebSocket client: its principal's scope,
// re-checked on a timer, and closed at once when auth reports its session or
// token ended (credentialRevoked).
func (s *server) wsCredential(r *http.Request) (events.Credential, bool) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return events.Credential{}, false
	}
	id := p.SessionID
	if p.Via == auth.ViaToken {
		id = p.TokenID
	}
	return events.Credential{
		Scope: p,
		Key:   credentialKey(p.Via, id),
		Valid: func(ctx context.Context) (bool, string) { return s.auth.StillValid(ctx, p) },
	}, true
}

// credentialRevoked closes the WebSockets of a session that logged out or a
// token that was revoked.
func (s *server) credentialRevoked(kind, id string) {
	if s.hub == nil {
		return // no client can have connected yet
	}
	reason := auth.ReasonRevoked
	if kind == auth.ViaSession {
		reason = auth.ReasonLoggedOut
	}
	s.hub.Revoke(credentialKey(kind, id), reason)
}

func credentialKey(kind, id string) string {
	if id == "" {
		return ""
	}
	return kind + ":" + id
}

// lifecycle guards an endpoint that changes the running server, as Prometheus's
// --web.enable-lifecycle does: off by default (SIGHUP still reloads), and when on
// only for a super_admin and never from another site.
func (s *server) lifecycle(next http.Handler) http.Handler {
	if !s.opts.EnableLifecycle {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the lifecycle API is not enabled: start corral with --web.enable-lifecycle, or send SIGHUP", http.StatusForbidden)
		})
	}
	return refuseCrossSite(s.superAdmin(next))
}

// superAdmin lets through only requests authenticated as a super_admin.
func (s *server) superAdmin(next http.Handler) http.Handler {
	return s.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.FromContext(r.Context()); !ok || !p.IsSuperAdmin() {
			http.Error(w, "forbidden: this endpoint needs the super_admin role", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// refuseCrossSite answers 403 to a request another site may have made a browser
// send: by Sec-Fetch-Site or Origin (net/http's CrossOriginProtection), or with a
// content type an HTML form or a no-preflight fetch can send.
func refuseCrossSite(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" || mt == "text/plain" {
				http.Error(w, "refused: Content-Type "+ct+" may come from a cross-site form; send none, or application/json", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}

// sdFiles is the status of every file_sd file of the running config.
func (s *server) sdFiles() []filesd.FileStatus {
	s.mu.Lock()
	ds := s.filesd
	s.mu.Unlock()
	var out []filesd.FileStatus
	for _, d := range ds {
		out = append(out, d.Status()...)
	}
	return out
}

// compressed wraps w in gzip when the client accepts it.
func compressed(w http.ResponseWriter, r *http.Request) (io.Writer, func()) {
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		return w, func() {}
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return gz, func() { gz.Close() }
}

func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if f := publish.Negotiate(r.Header); publish.IsOpenMetrics(f) {
		var text bytes.Buffer
		_ = publish.WriteFleet(&text, s.eval)
		mfs, err := s.reg.Gather()
		if err != nil {
			s.log.Warn("gathering the server's own metrics", "err", err)
		}
		s.serveOpenMetrics(w, r, f, text.Bytes(), mfs)
		return
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	out, done := compressed(w, r)
	defer done()
	if err := publish.WriteFleet(out, s.eval); err != nil {
		return // the client went away
	}
	mfs, err := s.reg.Gather()
	if err != nil {
		s.log.Warn("gathering the server's own metrics", "err", err)
	}
	enc := expfmt.NewEncoder(out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return
		}
	}
}

func (s *server) serveFederate(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	matches := r.Form["match[]"]
	if len(matches) == 0 {
		http.Error(w, `no match[] parameter given; e.g. /federate?match[]={job=~".+"}`, http.StatusBadRequest)
		return
	}
	sels := make([]selector.Selector, 0, len(matches))
	for _, m := range matches {
		sel, err := selector.Parse(m)
		if err != nil {
			http.Error(w, "match[]: "+err.Error(), http.StatusBadRequest)
			return
		}
		sels = append(sels, sel)
	}
	s.mu.Lock()
	external := s.cfg.Global.ExternalLabels
	s.mu.Unlock()
	if f := publish.Negotiate(r.Header); publish.IsOpenMetrics(f) {
		var text bytes.Buffer
		_ = publish.WriteFederate(&text, s.scraper, s.eval, sels, publish.WithExternalLabels(external))
		s.serveOpenMetrics(w, r, f, text.Bytes(), nil)
		return
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	out, done := compressed(w, r)
	defer done()
	_ = publish.WriteFederate(out, s.scraper, s.eval, sels, publish.WithExternalLabels(external))
}

// serveOpenMetrics answers text (and extra families) in the OpenMetrics
// format f, as the client's Accept header asked.
func (s *server) serveOpenMetrics(w http.ResponseWriter, r *http.Request, f expfmt.Format, text []byte, extra []*dto.MetricFamily) {
	var om bytes.Buffer
	if err := publish.ToOpenMetrics(&om, f, text, extra); err != nil {
		s.log.Warn("writing OpenMetrics", "err", err)
		http.Error(w, "cannot write OpenMetrics: "+err.Error()+"; ask for text/plain", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", string(f))
	out, done := compressed(w, r)
	defer done()
	_, _ = out.Write(om.Bytes())
}
