package server

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/alerting"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/dnssd"
	"github.com/corral-dev/corral/targets/filesd"
	"github.com/corral-dev/corral/targets/httpsd"
)

// apply hands a config to discovery, the scraper and the health evaluator.
func (s *server) apply(cfg *configs.Config) error {
	var jobs []targets.ScrapeJob
	var scrapeJobs []scrape.JobConfig
	var sds []*filesd.Discovery
	thresholds := make(map[string]health.Thresholds, len(cfg.ScrapeConfigs))
	for _, sc := range cfg.ScrapeConfigs {
		key, err := yaml.Marshal(sc)
		if err != nil {
			return err
		}
		j := targets.ScrapeJob{Name: sc.JobName, Scheme: sc.Scheme, MetricsPath: sc.MetricsPath, Params: url.Values(sc.Params), Relabel: sc.RelabelConfigs,
			HonorLabels: sc.HonorLabels, IgnoreTimestamps: !*sc.HonorTimestamps,
			Tenancy: s.tenancy, Key: string(key)}
		if len(sc.StaticConfigs) > 0 {
			j.Providers = append(j.Providers, targets.NewStatic(sc.JobName, sc.StaticConfigs))
		}
		for _, fc := range sc.FileSDConfigs {
			d := filesd.New(sc.JobName, fc, s.log, s.sdMetrics)
			sds = append(sds, d)
			j.Providers = append(j.Providers, d)
		}
		for _, hc := range sc.HTTPSDConfigs {
			d, err := httpsd.New(sc.JobName, hc, s.log, s.httpSDMetrics)
			if err != nil {
				return err
			}
			j.Providers = append(j.Providers, d)
		}
		for _, dc := range sc.DNSSDConfigs {
			j.Providers = append(j.Providers, dnssd.New(sc.JobName, dc, s.opts.DNSResolver, s.log, s.dnsSDMetrics))
		}
		if sc.Registry {
			j.Providers = append(j.Providers, targets.NewRegistryProvider(sc.JobName, s.registeredGroups, time.Minute, s.registryPoke))
		}
		jobs = append(jobs, j)
		scrapeJobs = append(scrapeJobs, scrape.JobConfig{
			Name: sc.JobName, Interval: time.Duration(sc.ScrapeInterval), Timeout: time.Duration(sc.ScrapeTimeout),
			BodySizeLimit: int64(sc.BodySizeLimit), SampleLimit: sc.SampleLimit, HTTPClient: sc.HTTPClientConfig,
			DisableCompression: !*sc.EnableCompression,
			MetricRelabel:      sc.MetricRelabelConfigs, LabelLimit: sc.LabelLimit, LabelNameLengthLimit: sc.LabelNameLengthLimit,
			LabelValueLengthLimit: sc.LabelValueLengthLimit, TargetLimit: sc.TargetLimit, Accept: scrape.AcceptHeader(mediaTypes(sc.ScrapeProtocols)),
		})
		thresholds[sc.JobName] = health.Thresholds{
			OfflineAfter: time.Duration(sc.Thresholds.OfflineAfter), StaleAfter: time.Duration(sc.Thresholds.StaleAfter),
			SlowScrape: time.Duration(sc.Thresholds.SlowScrape), SlowCollection: time.Duration(sc.Thresholds.SlowCollection),
			IncompleteBelow: sc.Thresholds.IncompleteBelow,
		}
	}
	// The alerter first: it is the one part that may still refuse the
	// config (an Alertmanager's HTTP client), and nothing else changed yet.
	if err := s.alerter.Apply(alerting.Settings{Config: cfg.Alerting, ExternalLabels: cfg.Global.ExternalLabels}); err != nil {
		return err
	}
	// The thresholds first: ApplyJobs re-syncs, and the evaluator reads them
	// for every target it tracks.
	s.mu.Lock()
	old := s.thresholds
	s.thresholds = thresholds
	s.mu.Unlock()
	if err := s.scraper.ApplyJobs(scrapeJobs); err != nil {
		s.mu.Lock()
		s.thresholds = old
		running := s.cfg
		s.mu.Unlock()
		if running != nil {
			_ = s.alerter.Apply(alerting.Settings{Config: running.Alerting, ExternalLabels: running.Global.ExternalLabels})
		}
		return err
	}
	s.discovery.ApplyJobs(jobs)
	s.mu.Lock()
	s.cfg, s.filesd = cfg, sds
	s.mu.Unlock()
	return nil
}

// mediaTypes are the Accept media types of scrape_protocols.
func mediaTypes(protocols []string) []string {
	out := make([]string, 0, len(protocols))
	for _, p := range protocols {
		out = append(out, configs.ScrapeProtocolHeaders[p])
	}
	return out
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
		err = reloadable(old, cfg)
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

// reloadable says why cfg cannot replace old without a restart, if it cannot:
// the sections read once at start must stay as they are.
func reloadable(old, cfg *configs.Config) error {
	switch {
	case cfg.Storage.URL != old.Storage.URL:
		return fmt.Errorf("storage.url cannot change on reload (restart corral to move the store)")
	case cfg.Tenancy != old.Tenancy:
		return fmt.Errorf("tenancy cannot change on reload (restart corral to move collectors between orgs)")
	case !cfg.Logs.Equal(old.Logs):
		return fmt.Errorf("logs cannot change on reload (restart corral to apply the logs section)")
	case cfg.Cluster != old.Cluster:
		return fmt.Errorf("cluster cannot change on reload (restart corral to apply the cluster section)")
	case cfg.Control != old.Control:
		return fmt.Errorf("control cannot change on reload (restart corral to apply the control section)")
	case !reflect.DeepEqual(cfg.RemoteWrite, old.RemoteWrite):
		return fmt.Errorf("remote_write cannot change on reload (restart corral to apply it; the queues would lose what they hold)")
	}
	return nil
}

// registryJobs are the scrape configs that scrape registered collectors.
func (s *server) registryJobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sc := range s.cfg.ScrapeConfigs {
		if sc.Registry {
			out = append(out, sc.JobName)
		}
	}
	return out
}

// targetThresholds are a target's thresholds: its job's, with its
// __corral_*__ labels applied.
func (s *server) targetThresholds(t *targets.Target) health.Thresholds {
	s.mu.Lock()
	th := s.thresholds[t.ScrapeJob]
	s.mu.Unlock()
	got, err := th.FromLabels(t.Meta)
	if err != nil {
		s.log.Warn("ignoring bad threshold label", "collector", t.Collector, "err", err)
	}
	return got
}
