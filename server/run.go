package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/corral-dev/corral/alerting"
	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/logpull"
	"github.com/corral-dev/corral/publish"
	"github.com/corral-dev/corral/remotewrite"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/dnssd"
	"github.com/corral-dev/corral/targets/filesd"
	"github.com/corral-dev/corral/targets/httpsd"
)

// server is one run's wiring.
type server struct {
	opts          Options
	log           *slog.Logger
	reg           *prometheus.Registry
	store         *store.Store
	writer        *store.Writer
	eval          *health.Evaluator
	scraper       *scrape.Manager
	logs          *logpull.Puller // nil with logs.pull off
	discovery     *targets.Manager
	sdMetrics     *filesd.Metrics
	httpSDMetrics *httpsd.Metrics
	dnsSDMetrics  *dnssd.Metrics
	auth          *auth.Authenticator
	web           *webConfig          // nil without --web.config.file
	remote        *remotewrite.Writer // nil without remote_write
	hub           *events.Hub
	events        control.Publisher // the hub, and in a cluster the other replicas' hubs too
	cluster       *replicas         // nil without cluster.enabled
	restorer      *restorer
	plane         *control.Plane
	alerter       *alerting.Alerter
	notifier      *alerting.Notifier
	// tenancy is fixed at start: a reload does not move collectors between orgs.
	tenancy targets.Tenancy

	mu           sync.Mutex
	cfg          *configs.Config
	filesd       []*filesd.Discovery
	thresholds   map[string]health.Thresholds // of every job, by job name
	registryPoke chan struct{}
	tokens       map[string]string // scrape tokens of registered collectors, by collector
	discovered   []*targets.Target // the last target set discovery sent
	syncMu       sync.Mutex        // one Sync of the scraper at a time, with the set it was given

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	ready      chan struct{}
}

// Run starts the server and blocks until ctx ends. An invalid config is a
// *ConfigError.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	cfg, err := loadConfig(o.ConfigFile)
	if err != nil {
		return &ConfigError{err}
	}
	if o.StorageURL != "" {
		cfg.Storage.URL = o.StorageURL
	}
	if err := cfg.Cluster.CheckClusterStorage(cfg.Storage.URL); err != nil {
		return &ConfigError{err}
	}
	wc, err := loadWebConfig(o.WebConfigFile)
	if err != nil {
		return &ConfigError{err}
	}
	s := &server{opts: o, log: o.Logger, cfg: cfg, web: wc, reg: prometheus.NewRegistry(), registryPoke: make(chan struct{}, 1), ready: make(chan struct{}),
		tokens: map[string]string{}, tenancy: cfg.Tenancy.Tenancy().WithDefaults()}
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
	if err := s.bootstrapAdmin(ctx); err != nil {
		return err
	}
	if s.cluster, err = s.joinCluster(ctx); err != nil {
		return err
	}
	clusterRunning := false
	defer func() {
		if s.cluster != nil && !clusterRunning {
			s.cluster.abandon() // failed before it ran: leave rather than wait out the lease
		}
	}()
	s.writer = store.NewWriter(st, store.WriterOptions{Logger: o.Logger, Registerer: s.reg})
	restored, err := s.restore(ctx)
	if err != nil {
		return err
	}
	s.hub = events.NewHub(events.Options{Logger: o.Logger, Registerer: s.reg, RecheckInterval: o.WSRecheckInterval})
	s.events = s.hub
	if s.cluster != nil {
		s.events = relay{hub: s.hub, bus: s.cluster.bus}
	}
	obs := &observer{hub: s.events}
	rs := s.newRestorer(restored)
	s.restorer = rs
	s.eval = health.NewEvaluator(health.Options{
		Recorder: s.writer, Observe: obs.observed, Thresholds: s.targetThresholds,
		Restore: rs.restore, Forgot: rs.forgot,
	})
	s.notifier = alerting.NewNotifier(o.Logger, alerting.NewMetrics(s.reg))
	s.alerter = alerting.New(alerting.Options{Fleet: s.eval, SDFiles: s.sdFiles, Desired: s.desired, Events: s.events,
		Notifier: s.notifier, Logger: o.Logger})
	if s.plane, err = s.control(ctx); err != nil {
		return err
	}
	obs.dispatch = s.plane.Dispatcher // before the first scrape: the scraper starts below
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sinks := scrape.Sinks{s.eval}
	if s.logs, err = s.logPuller(ctx); err != nil {
		return err
	}
	if s.logs != nil {
		sinks = append(sinks, s.logs)
	}
	rwMetrics := remotewrite.NewMetrics(s.reg)
	var appender scrape.Appender
	if len(cfg.RemoteWrite) > 0 {
		// Its own context: the queues stop after the scraper, below.
		if s.remote, err = remotewrite.New(context.WithoutCancel(ctx), cfg.RemoteWrite, cfg.Global.ExternalLabels, o.Logger, rwMetrics); err != nil {
			return &ConfigError{err}
		}
		defer s.remote.Stop()
		appender = s.remote
	}
	s.scraper = scrape.NewManager(ctx, scrape.Options{Logger: o.Logger, Sink: sinks, Metrics: scrape.NewMetrics(s.reg), Token: s.scrapeToken, Appender: appender})
	s.discovery = targets.NewManager(o.Logger, s.reg)
	s.sdMetrics = filesd.NewMetrics(s.reg)
	s.httpSDMetrics = httpsd.NewMetrics(s.reg)
	s.dnsSDMetrics = dnssd.NewMetrics(s.reg)
	if err := s.apply(cfg); err != nil {
		return &ConfigError{err}
	}
	s.reloadOK.Set(1)
	s.reloadTime.SetToCurrentTime()

	var wg sync.WaitGroup
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { _ = s.writer.Run(writerCtx) })
	wg.Go(func() { _ = s.discovery.Run(ctx) })
	wg.Go(func() { _ = s.hub.Run(ctx) })
	if s.cluster != nil {
		clusterRunning = true
		wg.Go(func() { s.cluster.run(ctx) })
	}
	wg.Go(func() { s.purgeLogs(ctx, cfg.Logs) })
	if s.remote != nil {
		wg.Go(func() { s.remoteWriteFleet(ctx) })
	}
	wg.Go(func() { s.notifier.Run(ctx) })
	wg.Go(func() { s.alerter.Run(ctx) })
	wg.Go(func() {
		if err := s.plane.Run(ctx); err != nil {
			o.Logger.Error("the command dispatcher stopped", "err", err)
		}
	})
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
	srv := &http.Server{Handler: s.web.headers(s.routes()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}
	var tlsOn bool
	if s.web != nil {
		tc, http2, err := s.web.tlsConfig()
		if err != nil {
			cancel()
			stopWriter()
			wg.Wait()
			ln.Close()
			return &ConfigError{err}
		}
		if tc != nil {
			srv.TLSConfig, tlsOn = tc, true
			if !http2 {
				srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
			}
		}
	}
	wg.Go(func() {
		serve := func() error { return srv.Serve(ln) }
		if tlsOn {
			serve = func() error { return srv.ServeTLS(ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http server failed", "err", err)
			cancel()
		}
	})
	o.Logger.Info("corral started", "version", o.Version, "listen", ln.Addr().String(), "tls", tlsOn, "config", o.ConfigFile, "storage", redactURL(cfg.Storage.URL), "cluster", s.cluster.String())

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
	if s.logs != nil {
		s.logs.Wait() // the loops are gone: no pull starts any more
	}
	stopWriter() // the writer makes a last flush attempt, bounded, on its way out
	wg.Wait()
	return nil
}

// remoteWriteFleet hands the fleet series of /metrics to remote_write every
// global scrape interval, as a Prometheus scraping /metrics would store them.
func (s *server) remoteWriteFleet(ctx context.Context) {
	s.mu.Lock()
	every := time.Duration(s.cfg.Global.ScrapeInterval)
	s.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			buf.Reset()
			if err := publish.WriteFleet(&buf, s.eval); err == nil {
				if err := s.remote.AppendExposition(buf.Bytes(), now); err != nil {
					s.log.Warn("remote write of the fleet series", "err", err)
				}
			}
		}
	}
}

// bootstrapAdmin creates the first admin of an empty store.
func (s *server) bootstrapAdmin(ctx context.Context) error {
	s.auth = auth.New(s.store, auth.Options{Logger: s.log, SessionTTL: s.opts.SessionTTL, OnRevoke: s.credentialRevoked, Audit: s.store})
	created, generated, err := s.auth.Bootstrap(ctx, os.Getenv("CORRAL_ADMIN_PASSWORD"))
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if created {
		// Printed once, on the terminal, never through the log.
		if generated != "" {
			fmt.Fprintf(s.opts.Stderr, "corral: created user admin with password %s (shown once; set CORRAL_ADMIN_PASSWORD to choose it)\n", generated)
		} else {
			fmt.Fprintln(s.opts.Stderr, "corral: created user admin with the password in CORRAL_ADMIN_PASSWORD")
		}
	}
	return nil
}
