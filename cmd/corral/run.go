package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/dispatch"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/filesd"
	"github.com/corral-dev/corral/targets/lifecycle"
)

// Options of one server run; the tests start the server with them in-process.
type Options struct {
	ConfigFile    string
	ListenAddress string
	StorageURL    string
	Logger        *slog.Logger
	Version       string
	// Reload receives a value per SIGHUP.
	Reload <-chan struct{}
	// Listening, when set, gets the bound address once the server listens.
	Listening func(net.Addr)
}

type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func loadConfig(path string) (*configs.Config, error) {
	if path == "" {
		return configs.Default(), nil
	}
	return configs.Load(path)
}

func checkConfig(path string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintln(stderr, "corral: --config.check needs --config.file")
		return 2
	}
	cfg, err := configs.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: OK\n", path)
	for _, sc := range cfg.ScrapeConfigs {
		fmt.Fprintf(stdout, "job %s: every %s (timeout %s), %d static group(s), %d file_sd config(s), registry %v\n",
			sc.JobName, sc.ScrapeInterval, sc.ScrapeTimeout, len(sc.StaticConfigs), len(sc.FileSDConfigs), sc.Registry)
	}
	fmt.Fprintf(stdout, "storage: %s\n", redactURL(cfg.Storage.URL))
	return 0
}

// redactURL hides a password in a store URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// server is one run's wiring.
type server struct {
	opts      Options
	log       *slog.Logger
	reg       *prometheus.Registry
	store     *store.Store
	writer    *store.Writer
	eval      *scrape.Evaluator
	scraper   *scrape.Manager
	discovery *targets.Manager
	sdMetrics *filesd.Metrics
	auth      *auth.Authenticator
	hub       *events.Hub
	dispatch  *dispatch.Dispatcher
	bulk      *dispatch.Bulk
	life      *lifecycle.Lifecycle

	mu           sync.Mutex
	cfg          *configs.Config
	filesd       []*filesd.Discovery
	registryPoke chan struct{}
	tokens       map[string]string // scrape tokens of registered collectors, by collector
	discovered   []*targets.Target // the last target set discovery sent
	syncMu       sync.Mutex        // one Sync of the scraper at a time, with the set it was given

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	ready      chan struct{}
}

// Run starts the server and blocks until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := loadConfig(o.ConfigFile)
	if err != nil {
		return &configError{err}
	}
	if o.StorageURL != "" {
		cfg.Storage.URL = o.StorageURL
	}
	s := &server{opts: o, log: o.Logger, cfg: cfg, reg: prometheus.NewRegistry(), registryPoke: make(chan struct{}, 1), ready: make(chan struct{}),
		tokens: map[string]string{}}
	s.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	s.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_config_last_reload_successful", Help: "Whether the last configuration reload attempt was successful."})
	s.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_config_last_reload_success_timestamp_seconds", Help: "Timestamp of the last successful configuration reload."})
	s.reg.MustRegister(s.reloadOK, s.reloadTime)

	st, err := store.Open(ctx, storeURL(cfg.Storage.URL), o.Logger)
	if err != nil {
		return err
	}
	defer st.Close()
	s.store = st
	s.auth = auth.New(st, auth.Options{Logger: o.Logger})
	created, generated, err := s.auth.Bootstrap(ctx, os.Getenv("CORRAL_ADMIN_PASSWORD"))
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if created {
		// Printed once, on the terminal, never through the log.
		if generated != "" {
			fmt.Fprintf(os.Stderr, "corral: created user admin with password %s (shown once; set CORRAL_ADMIN_PASSWORD to choose it)\n", generated)
		} else {
			fmt.Fprintln(os.Stderr, "corral: created user admin with the password in CORRAL_ADMIN_PASSWORD")
		}
	}
	s.writer = store.NewWriter(st, store.WriterOptions{Logger: o.Logger, Registerer: s.reg})
	restored, err := s.restore(ctx)
	if err != nil {
		return err
	}
	s.hub = events.NewHub(events.Options{Logger: o.Logger, Registerer: s.reg})
	s.eval = scrape.NewEvaluator(recorder{w: s.writer, hub: s.hub, tenancy: cfg.Tenancy, observe: func(h *scrape.Health) { s.dispatch.Observe(h) }})
	if err := s.control(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scrapeOpts := scrape.Options{
		Logger: o.Logger, Evaluator: s.eval, Metrics: scrape.NewMetrics(s.reg),
		TargetThresholds: targetThresholds(o.Logger),
		Restore:          func(id string) *scrape.Restored { return restored[id] },
		Token:            s.scrapeToken,
	}
	// Agent logs (logs.go): pulled after good scrapes, from the stored cursors.
	if err := s.pullLogs(ctx, &scrapeOpts); err != nil {
		return err
	}
	s.scraper = scrape.NewManager(ctx, scrapeOpts)
	s.discovery = targets.NewManager(o.Logger, s.reg)
	s.sdMetrics = filesd.NewMetrics(s.reg)
	if err := s.apply(cfg); err != nil {
		return &configError{err}
	}
	s.reloadOK.Set(1)
	s.reloadTime.SetToCurrentTime()

	var wg sync.WaitGroup
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { _ = s.writer.Run(writerCtx) })
	wg.Go(func() { _ = s.discovery.Run(ctx) })
	wg.Go(func() { _ = s.hub.Run(ctx) })
	wg.Go(func() { s.purgeLogs(ctx, cfg.Logs) }) // logs.go: retention, at start and hourly
	wg.Go(func() {
		if err := s.dispatch.Run(ctx); err != nil {
			o.Logger.Error("the command dispatcher stopped", "err", err)
		}
	})
	wg.Go(func() { _ = s.bulk.Run(ctx) })
	wg.Go(func() { s.life.RunPurge(ctx, time.Hour) })
	wg.Go(func() {
		first := true
		for {
			select {
			case <-ctx.Done():
				return
			case ts := <-s.discovery.Updates():
				s.syncTargets(&ts)
				if first {
					first = false
					close(s.ready)
				}
			}
		}
	})

	ln, err := net.Listen("tcp", o.ListenAddress)
	if err != nil {
		cancel()
		stopWriter()
		wg.Wait()
		return fmt.Errorf("listen on %s: %w (set --web.listen-address)", o.ListenAddress, err)
	}
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http server failed", "err", err)
			cancel()
		}
	})
	o.Logger.Info("corral started", "version", o.Version, "listen", ln.Addr().String(), "config", o.ConfigFile, "storage", redactURL(cfg.Storage.URL))

	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-o.Reload:
			_ = s.reload()
		}
	}
	o.Logger.Info("corral shutting down")
	shutdownCtx, stopShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutdownCtx)
	stopShutdown()
	s.scraper.Stop()
	stopWriter() // the writer makes a last flush attempt, bounded, on its way out
	wg.Wait()
	return nil
}

// storeURL makes a relative sqlite path explicit for the store.
func storeURL(u string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") || strings.HasPrefix(u, "sqlite:") || strings.HasPrefix(u, "file:") {
		return u
	}
	return "sqlite:" + u
}

// restore reads what the store remembers of every collector: status, times and
// the current completeness buckets.
func (s *server) restore(ctx context.Context) (map[string]*scrape.Restored, error) {
	cs, err := s.store.Collectors(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore collectors: %w", err)
	}
	now := time.Now().UTC()
	out := make(map[string]*scrape.Restored, len(cs))
	for _, c := range cs {
		r := &scrape.Restored{Status: c.Status, Reason: c.Reason, StatusSince: c.StatusSince, FirstSeen: c.FirstSeen, LastSeen: c.LastSeen, LastItem: c.LastItem}
		for _, w := range []struct {
			name  string
			start time.Time
		}{{scrape.Window1h, now.Truncate(time.Hour)}, {scrape.Window24h, time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)}} {
			bs, err := s.store.Buckets(ctx, c.ID, w.name, w.start, w.start)
			if err != nil {
				return nil, fmt.Errorf("restore buckets of %s: %w", c.ID, err)
			}
			for _, b := range bs {
				r.Buckets = append(r.Buckets, scrape.Bucket{Collector: b.Collector, Window: b.Window, Start: b.Start,
					Expected: b.ExpectedItems, Actual: b.ActualItems, ActiveSeconds: b.ActiveSeconds, ScrapesOK: b.ScrapesOK, ScrapesTotal: b.ScrapesTotal})
			}
		}
		out[c.ID] = r
	}
	return out, nil
}

// apply hands a config to discovery and the scraper.
func (s *server) apply(cfg *configs.Config) error {
	var jobs []targets.ScrapeJob
	var scrapeJobs []scrape.JobConfig
	var sds []*filesd.Discovery
	for _, sc := range cfg.ScrapeConfigs {
		key, err := yaml.Marshal(sc)
		if err != nil {
			return err
		}
		j := targets.ScrapeJob{Name: sc.JobName, Scheme: sc.Scheme, MetricsPath: sc.MetricsPath, Params: url.Values(sc.Params), Key: string(key)}
		if len(sc.StaticConfigs) > 0 {
			j.Providers = append(j.Providers, targets.NewStatic(sc.JobName, sc.StaticConfigs))
		}
		for _, fc := range sc.FileSDConfigs {
			d := filesd.New(sc.JobName, fc, s.log, s.sdMetrics)
			sds = append(sds, d)
			j.Providers = append(j.Providers, d)
		}
		if sc.Registry {
			j.Providers = append(j.Providers, targets.NewRegistryProvider(sc.JobName, s.registeredGroups, time.Minute, s.registryPoke))
		}
		jobs = append(jobs, j)
		scrapeJobs = append(scrapeJobs, scrape.JobConfig{
			Name: sc.JobName, Interval: time.Duration(sc.ScrapeInterval), Timeout: time.Duration(sc.ScrapeTimeout),
			BodySizeLimit: int64(sc.BodySizeLimit), SampleLimit: sc.SampleLimit, HTTPClient: sc.HTTPClientConfig,
			DisableCompression: !*sc.EnableCompression,
			Thresholds: scrape.Thresholds{
				OfflineAfter: time.Duration(sc.Thresholds.OfflineAfter), StaleAfter: time.Duration(sc.Thresholds.StaleAfter),
				SlowScrape: time.Duration(sc.Thresholds.SlowScrape), SlowCollection: time.Duration(sc.Thresholds.SlowCollection),
				IncompleteBelow: sc.Thresholds.IncompleteBelow,
			},
		})
	}
	if err := s.scraper.ApplyJobs(scrapeJobs); err != nil {
		return err
	}
	s.discovery.ApplyJobs(jobs)
	s.mu.Lock()
	s.cfg, s.filesd = cfg, sds
	s.mu.Unlock()
	return nil
}

// reload re-reads the config file; a failure keeps the running config.
func (s *server) reload() error {
	if s.opts.ConfigFile == "" {
		return errors.New("no config file to reload (corral was started without --config.file)")
	}
	cfg, err := configs.Load(s.opts.ConfigFile)
	if err == nil {
		if s.opts.StorageURL != "" {
			cfg.Storage.URL = s.opts.StorageURL
		}
		s.mu.Lock()
		old := s.cfg
		s.mu.Unlock()
		switch {
		case cfg.Storage.URL != old.Storage.URL:
			err = fmt.Errorf("storage.url cannot change on reload (restart corral to move the store)")
		case cfg.Tenancy != old.Tenancy:
			err = fmt.Errorf("tenancy cannot change on reload (restart corral to move collectors between orgs)")
		case !cfg.Logs.Equal(old.Logs):
			err = fmt.Errorf("logs cannot change on reload (restart corral to apply the logs section)")
		case cfg.Control != old.Control:
			err = fmt.Errorf("control cannot change on reload (restart corral to apply the control section)")
		}
	}
	if err == nil {
		err = s.apply(cfg)
	}
	if err != nil {
		s.reloadOK.Set(0)
		s.log.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	s.reloadOK.Set(1)
	s.reloadTime.SetToCurrentTime()
	s.log.Info("config reloaded", "file", s.opts.ConfigFile)
	return nil
}

// registeredGroups turns the collectors registered through the API into target
// groups for the registry provider.
func (s *server) registeredGroups(ctx context.Context) ([]targets.Group, error) {
	rs, err := s.store.ListRegistered(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]targets.Group, 0, len(rs))
	tokens := make(map[string]string, len(rs))
	defer func() {
		s.mu.Lock()
		s.tokens = tokens
		s.mu.Unlock()
	}()
	s.mu.Lock()
	tenancy := s.cfg.Tenancy
	s.mu.Unlock()
	for _, r := range rs {
		u, err := url.Parse(r.URL)
		if err != nil || u.Host == "" {
			s.log.Warn("registered collector has an unusable URL", "collector", r.ID, "url", r.URL)
			continue
		}
		labels := map[string]string{}
		for k, v := range r.Labels {
			labels[k] = v
		}
		labels[targets.LabelCollector] = r.Name
		if r.Org != "" {
			labels[tenancy.OrgLabel] = r.Org
		}
		if r.Team != "" {
			labels[tenancy.TeamLabel] = r.Team
		}
		for k, v := range r.Thresholds {
			if l, ok := configs.TargetLabels[k]; ok {
				labels[l] = v
			}
		}
		if r.Token != "" {
			tokens[r.Name] = r.Token
		}
		labels[targets.LabelScheme] = u.Scheme
		if u.Path != "" && u.Path != "/" {
			labels[targets.LabelMetricsPath] = u.Path
		}
		out = append(out, targets.Group{Targets: []string{u.Host}, Labels: labels, Source: "registry:" + r.ID})
	}
	return out, nil
}

// syncTargets hands the scraper the discovered targets less the unregistered
// collectors: ts when discovery sent a new set, else (nil) the last set again,
// because the unregistered set changed. It runs on the discovery loop and, for
// an unregistration, on the API request, which answers only once scraping
// stopped.
func (s *server) syncTargets(ts *[]*targets.Target) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.scraper == nil {
		return // still starting (a token rotation finished at start): the first set comes soon
	}
	s.mu.Lock()
	if ts != nil {
		s.discovered = *ts
	}
	cur := s.discovered
	s.mu.Unlock()
	s.scraper.Sync(s.life.Filter(cur))
}

// scrapeToken is a registered collector's own token for its agent.
func (s *server) scrapeToken(t *targets.Target) string {
	if t.Provider != targets.KindRegistry {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[t.Collector]
}

// targetThresholds applies a target's __corral_*__ labels over its job's thresholds.
func targetThresholds(log *slog.Logger) func(t *targets.Target, th scrape.Thresholds) scrape.Thresholds {
	return func(t *targets.Target, th scrape.Thresholds) scrape.Thresholds {
		c := configs.Thresholds{IncompleteBelow: th.IncompleteBelow}
		got, err := c.FromLabels(t.Meta)
		if err != nil {
			log.Warn("ignoring bad threshold label", "collector", t.Collector, "err", err)
		}
		if got.OfflineAfter != 0 {
			th.OfflineAfter = time.Duration(got.OfflineAfter)
		}
		if got.StaleAfter != 0 {
			th.StaleAfter = time.Duration(got.StaleAfter)
		}
		if got.SlowScrape != 0 {
			th.SlowScrape = time.Duration(got.SlowScrape)
		}
		if got.SlowCollection != 0 {
			th.SlowCollection = time.Duration(got.SlowCollection)
		}
		th.IncompleteBelow = got.IncompleteBelow
		return th
	}
}

// recorder hands the evaluator's changes to the store's batching writer, its
// evaluations to the real-time hub and to the command dispatcher (which
// confirms commands and reconciles desired state from them).
type recorder struct {
	w       *store.Writer
	hub     *events.Hub
	tenancy configs.TenancyConfig // fixed at start: a reload does not move collectors between orgs
	observe func(h *scrape.Health)
}

// Observed publishes a heartbeat per good scrape and the status events.
func (r recorder) Observed(h *scrape.Health, change *scrape.StatusChange) {
	if h.Target == nil {
		return
	}
	r.observe(h)
	base := events.Event{Collector: h.Collector, Org: h.Target.Labels[r.tenancy.OrgLabel], Team: h.Target.Labels[r.tenancy.TeamLabel],
		Status: h.Status, Job: h.Target.Job, Labels: h.Target.Labels}
	if base.Org == "" {
		base.Org = r.tenancy.DefaultOrg
	}
	if h.Up {
		e := base
		e.Type, e.Time = "collector:heartbeat", h.LastSeen
		data := map[string]any{"status": h.Status, "scrape_duration_seconds": h.ScrapeDuration.Seconds(), "samples": h.Samples}
		if h.HasFreshness {
			data["freshness_seconds"] = h.Freshness.Seconds()
		}
		e.Data = data
		r.hub.Publish(e)
	}
	if change == nil {
		return
	}
	e := base
	e.Time = change.At
	e.Type, e.Data = "collector:status-changed", map[string]string{"old": change.From, "new": change.To, "reason": change.Reason}
	r.hub.Publish(e)
	switch {
	case change.To == scrape.StatusOffline:
		e.Type, e.Data = "collector:disconnected", map[string]string{"reason": change.Reason}
		r.hub.Publish(e)
	case change.From == scrape.StatusOffline || change.From == scrape.StatusUnknown:
		e.Type, e.Data = "collector:connected", map[string]string{"status": change.To}
		r.hub.Publish(e)
	}
	if change.To == scrape.StatusError {
		e.Type, e.Data = "collector:error", map[string]string{"reason": change.Reason}
		r.hub.Publish(e)
	}
}

func (r recorder) StatusChanges(cs ...scrape.StatusChange) {
	out := make([]store.StatusChange, len(cs))
	for i, c := range cs {
		out[i] = store.StatusChange{Collector: c.Collector, From: c.From, To: c.To, Reason: c.Reason, At: c.At}
	}
	r.w.StatusChanges(out...)
}

func (r recorder) Buckets(bs ...scrape.Bucket) {
	out := make([]store.Bucket, len(bs))
	for i, b := range bs {
		out[i] = store.Bucket{Collector: b.Collector, Window: b.Window, Start: b.Start, ExpectedItems: b.Expected, ActualItems: b.Actual,
			ActiveSeconds: b.ActiveSeconds, ScrapesOK: b.ScrapesOK, ScrapesTotal: b.ScrapesTotal}
	}
	r.w.Buckets(out...)
}

func (r recorder) Collectors(hs ...scrape.Health) {
	out := make([]store.CollectorState, 0, len(hs))
	for _, h := range hs {
		if h.Target == nil {
			continue
		}
		out = append(out, store.CollectorState{
			ID: h.Collector, Job: h.Target.Job, Instance: h.Target.Instance, URL: h.Target.URL, Labels: h.Target.Labels,
			Provider: h.Target.Provider, Source: h.Target.Source, Status: h.Status, Reason: h.Reason, StatusSince: h.StatusSince,
			LastSeen: h.LastSeen, LastItem: h.LastItem, FirstSeen: h.FirstSeen,
		})
	}
	r.w.Collectors(out...)
}

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
		SDFiles: s.sdFiles, Logger: s.log,
		OrgLabel: s.cfg.Tenancy.OrgLabel, TeamLabel: s.cfg.Tenancy.TeamLabel, DefaultOrg: s.cfg.Tenancy.DefaultOrg,
		Commands: s.dispatch, CommandList: s.store, Scraper: s.scraper, Registrar: s.life, Archives: s.life,
		Bulk: s.bulk, Keys: s.dispatch, Audit: s.store, AuditLog: s.store,
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
	if err := scrape.WriteFleet(out, s.eval); err != nil {
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
	sels := make([]scrape.Selector, 0, len(matches))
	for _, m := range matches {
		sel, err := scrape.ParseSelector(m)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sels = append(sels, sel)
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	out, done := compressed(w, r)
	defer done()
	_ = scrape.WriteFederate(out, s.scraper, s.eval, sels)
}
