// Package httpsd is HTTP-based target discovery in Prometheus's http_sd_config
// shape: corral GETs a URL every refresh_interval and takes the JSON list of
// target groups it answers, decoded by Prometheus's own target group type.
// As in Prometheus, the answer must be a 200 with Content-Type
// application/json; a failed refresh keeps the last good targets, and is
// logged once per new error and counted.
package httpsd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/corral-dev/corral/targets"
)

const (
	// DefaultRefreshInterval is refresh_interval when it is not set, as in Prometheus.
	DefaultRefreshInterval = model.Duration(time.Minute)
	// MaxBodySize bounds what is read of one answer.
	MaxBodySize = 32 << 20
	// LabelURL is set on every group to the URL it came from, as Prometheus does.
	LabelURL = "__meta_url"
)

// Config is one http_sd_configs entry, in Prometheus's shape.
type Config struct {
	URL             string         `yaml:"url"`
	RefreshInterval model.Duration `yaml:"refresh_interval"`
	// HTTPClientConfig is prometheus/common's client settings, inline as in
	// Prometheus (authorization, basic_auth, tls_config …). Inline, its own
	// UnmarshalYAML is skipped: UnmarshalYAML sets its defaults and Validate
	// validates it.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler, so that the caller's
// strict decoder (unknown fields are errors) and its line numbers hold inside:
// defaults first, then the file.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Config{RefreshInterval: DefaultRefreshInterval, HTTPClientConfig: commoncfg.DefaultHTTPClientConfig}
	type httpSDConfig Config
	return unmarshal((*httpSDConfig)(c))
}

// Validate checks the entry and resolves the client's file paths against dir
// (the config file's folder). Errors name the field; the caller prefixes
// "http_sd_configs[i]: ".
func (c *Config) Validate(dir string) error {
	if c.URL == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an http or https URL with a host", c.URL)
	}
	if c.RefreshInterval <= 0 {
		return fmt.Errorf("refresh_interval: %s must be positive", c.RefreshInterval)
	}
	c.HTTPClientConfig.SetDirectory(dir)
	return c.HTTPClientConfig.Validate()
}

// Metrics are the series of every http_sd Discovery, by job.
type Metrics struct {
	refreshes *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		refreshes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_sd_http_refreshes_total",
			Help: "Refreshes of http_sd_configs, by scrape job.",
		}, []string{"job"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_sd_http_failures_total",
			Help: "Failed refreshes of http_sd_configs (the last good targets are kept), by scrape job.",
		}, []string{"job"}),
	}
}

// Discovery is the Provider of one http_sd_configs entry.
type Discovery struct {
	job      string
	url      string
	shown    string // url with any password redacted, for logs and errors
	interval time.Duration
	client   *http.Client
	log      *slog.Logger
	metrics  *Metrics

	mu      sync.Mutex
	lastErr error
}

// New returns the Discovery for cfg, which should have passed Validate. A nil
// log discards; nil metrics keeps unregistered series.
func New(job string, cfg Config, log *slog.Logger, metrics *Metrics) (*Discovery, error) {
	client, err := commoncfg.NewClientFromConfig(cfg.HTTPClientConfig, "http_sd")
	if err != nil {
		return nil, fmt.Errorf("http_sd_configs %s: %w", cfg.URL, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	shown := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil {
		shown = u.Redacted()
	}
	return &Discovery{job: job, url: cfg.URL, shown: shown, interval: time.Duration(cfg.RefreshInterval), client: client,
		log: log.With("job", job, "provider", targets.KindHTTPSD, "url", shown), metrics: metrics}, nil
}

// Kind implements targets.Kinder.
func (d *Discovery) Kind() string { return targets.KindHTTPSD }

// LastError is the error of the last refresh, nil after a good one.
func (d *Discovery) LastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

// Run implements targets.Provider: a refresh at once, then every
// refresh_interval. A failed refresh sends nothing, so the last good groups
// stand; a group the URL no longer lists is sent empty.
func (d *Discovery) Run(ctx context.Context, up chan<- []*targets.Group) {
	var prev int // groups of the last good answer
	ticker := time.NewTicker(d.interval)
	defer ticker.Stop()
	for {
		groups, err := d.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		d.metrics.refreshes.WithLabelValues(d.job).Inc()
		d.mu.Lock()
		was := d.lastErr
		d.lastErr = err
		d.mu.Unlock()
		switch {
		case err != nil:
			d.metrics.failures.WithLabelValues(d.job).Inc()
			if was == nil || was.Error() != err.Error() {
				d.log.Warn("http_sd refresh failed; keeping the last good targets", "err", err)
			}
		default:
			if was != nil {
				d.log.Info("http_sd refresh works again")
			}
			out := groups
			for i := len(groups); i < prev; i++ {
				out = append(out, &targets.Group{Source: d.source(i)})
			}
			prev = len(groups)
			select {
			case up <- out:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (d *Discovery) source(i int) string { return d.shown + ":" + strconv.Itoa(i) }

// jsonType is the Content-Type Prometheus's http_sd accepts.
var jsonType = regexp.MustCompile(`^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$`)

// fetch GETs the URL and decodes its target groups as Prometheus does.
func (d *Discovery) fetch(ctx context.Context) ([]*targets.Group, error) {
	ctx, cancel := context.WithTimeout(ctx, d.interval)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Prometheus-Refresh-Interval-Seconds", strconv.FormatFloat(d.interval.Seconds(), 'f', -1, 64))
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !jsonType.MatchString(ct) {
		return nil, fmt.Errorf("unsupported content type %q: want application/json", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBodySize {
		return nil, fmt.Errorf("answer larger than %d MiB", MaxBodySize>>20)
	}
	var tgs []*targetgroup.Group
	if err := json.Unmarshal(b, &tgs); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	out := make([]*targets.Group, len(tgs))
	for i, tg := range tgs {
		if tg == nil {
			return nil, errors.New("nil target group item found")
		}
		g := &targets.Group{Source: d.source(i), Targets: make([]string, 0, len(tg.Targets)), Labels: make(map[string]string, len(tg.Labels)+1)}
		for k, v := range tg.Labels {
			g.Labels[string(k)] = string(v)
		}
		g.Labels[LabelURL] = d.shown // as Prometheus, but without a password in the URL
		for _, t := range tg.Targets {
			g.Targets = append(g.Targets, string(t[model.AddressLabel]))
		}
		out[i] = g
	}
	return out, nil
}
