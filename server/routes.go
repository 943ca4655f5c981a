package server

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/common/expfmt"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/publish"
	"github.com/corral-dev/corral/targets/filesd"
	"github.com/corral-dev/corral/targets/selector"
)

// routes are the server's HTTP endpoints.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /federate", s.serveFederate)
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "corral is healthy.\n") })
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.ready:
			io.WriteString(w, "corral is ready.\n")
		default:
			http.Error(w, "corral is not ready: discovery has not delivered its first targets", http.StatusServiceUnavailable)
		}
	})
	// Profiling, as Prometheus serves it: the fleet benchmark and operators use it.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /api/v1/ws", s.auth.Middleware(s.hub.Handler(func(r *http.Request) (events.Scope, bool) {
		p, ok := auth.FromContext(r.Context())
		return p, ok
	})))
	mux.Handle("/api/v1/", api.New(api.Options{
		Fleet: s.eval, History: s.store, Buckets: s.store, Latest: s.scraper, Logs: s.store, Auth: s.auth,
		SDFiles: s.sdFiles, Logger: s.log, DefaultOrg: s.tenancy.DefaultOrg,
		Commands: s.plane.Dispatcher, CommandList: s.store, Scraper: s.scraper, Registrar: s.plane.Lifecycle, Archives: s.plane.Lifecycle,
		Bulk: s.plane.Bulk, Keys: s.plane.Dispatcher, Audit: s.store, AuditLog: s.store,
	}))
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.reload(); err != nil {
			http.Error(w, "reload failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "config reloaded\n")
	})
	return mux
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
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	out, done := compressed(w, r)
	defer done()
	_ = publish.WriteFederate(out, s.scraper, s.eval, sels)
}
