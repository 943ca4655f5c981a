// Package dnssd is DNS-based target discovery in Prometheus's dns_sd_config
// shape: every refresh_interval, each name is looked up as an SRV (the
// default), A, AAAA, MX or NS record, and each record becomes a target with
// Prometheus's __meta_dns_* labels. A name that does not exist has no
// targets; a lookup that fails keeps that name's last good targets, is
// logged once per new error and counted.
package dnssd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/targets"
)

// DefaultRefreshInterval is refresh_interval when it is not set, as in Prometheus.
const DefaultRefreshInterval = model.Duration(30 * time.Second)

// The labels of each target, as Prometheus names them; the record labels
// that do not apply to a record type are absent.
const (
	LabelName      = "__meta_dns_name"
	LabelSRVTarget = "__meta_dns_srv_record_target"
	LabelSRVPort   = "__meta_dns_srv_record_port"
	LabelMXTarget  = "__meta_dns_mx_record_target"
	LabelNSTarget  = "__meta_dns_ns_record_target"
)

// Config is one dns_sd_configs entry, in Prometheus's shape.
type Config struct {
	Names           []string       `yaml:"names"`
	RefreshInterval model.Duration `yaml:"refresh_interval"`
	Type            string         `yaml:"type"`
	Port            int            `yaml:"port"` // for every type but SRV
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler (the caller's strict
// decoder holds inside): defaults first, then the file.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Config{RefreshInterval: DefaultRefreshInterval, Type: "SRV"}
	type dnsSDConfig Config
	return unmarshal((*dnsSDConfig)(c))
}

// Validate checks the entry as Prometheus does; errors name the field.
func (c *Config) Validate() error {
	if len(c.Names) == 0 {
		return errors.New("names: at least one name is required")
	}
	for i, n := range c.Names {
		if strings.TrimSpace(n) == "" {
			return fmt.Errorf("names[%d]: empty", i)
		}
	}
	c.Type = strings.ToUpper(c.Type)
	switch c.Type {
	case "SRV":
	case "A", "AAAA", "MX", "NS":
		if c.Port <= 0 || c.Port > 65535 {
			return fmt.Errorf("port: a port from 1 to 65535 is required for type %s (only SRV records carry one)", c.Type)
		}
	default:
		return fmt.Errorf("type %q: want SRV, A, AAAA, MX or NS", c.Type)
	}
	if c.RefreshInterval <= 0 {
		return fmt.Errorf("refresh_interval: %s must be positive", c.RefreshInterval)
	}
	return nil
}

// Metrics are the series of every dns_sd Discovery, by job.
type Metrics struct {
	lookups  *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		lookups: f.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_sd_dns_lookups_total",
			Help: "DNS lookups of dns_sd_configs, by scrape job.",
		}, []string{"job"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_sd_dns_lookup_failures_total",
			Help: "Failed DNS lookups of dns_sd_configs (the name's last good targets are kept), by scrape job.",
		}, []string{"job"}),
	}
}

// Discovery is the Provider of one dns_sd_configs entry.
type Discovery struct {
	job      string
	cfg      Config
	resolver *net.Resolver
	log      *slog.Logger
	metrics  *Metrics

	mu      sync.Mutex
	lastErr map[string]string // per name, to log a new error once
}

// New returns the Discovery for cfg, which should have passed Validate. A nil
// resolver is the system's (net.DefaultResolver: /etc/resolv.conf, its search
// path included); a nil log discards; nil metrics keeps unregistered series.
func New(job string, cfg Config, resolver *net.Resolver, log *slog.Logger, metrics *Metrics) *Discovery {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Discovery{job: job, cfg: cfg, resolver: resolver, log: log.With("job", job, "provider", "dns_sd", "type", cfg.Type),
		metrics: metrics, lastErr: map[string]string{}}
}

// Kind implements targets.Kinder.
func (d *Discovery) Kind() string { return targets.KindDNSSD }

// Run implements targets.Provider: every name at once, then every
// refresh_interval. Each record is its own group (its labels differ), with
// source "name:i"; a group a name no longer has is sent empty.
func (d *Discovery) Run(ctx context.Context, up chan<- []*targets.Group) {
	prev := map[string]int{} // groups per name at its last good lookup
	ticker := time.NewTicker(time.Duration(d.cfg.RefreshInterval))
	defer ticker.Stop()
	for {
		var out []*targets.Group
		for _, name := range d.cfg.Names {
			groups, err := d.lookup(ctx, name)
			if ctx.Err() != nil {
				return
			}
			d.metrics.lookups.WithLabelValues(d.job).Inc()
			d.mu.Lock()
			was, failed := d.lastErr[name]
			if err != nil {
				d.lastErr[name] = err.Error()
			} else {
				delete(d.lastErr, name)
			}
			d.mu.Unlock()
			if err != nil {
				d.metrics.failures.WithLabelValues(d.job).Inc()
				if !failed || was != err.Error() {
					d.log.Warn("dns_sd lookup failed; keeping the name's last good targets", "name", name, "err", err)
				}
				continue
			}
			if failed {
				d.log.Info("dns_sd lookup works again", "name", name)
			}
			out = append(out, groups...)
			for i := len(groups); i < prev[name]; i++ {
				out = append(out, &targets.Group{Source: source(name, i)})
			}
			prev[name] = len(groups)
		}
		if out != nil {
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

func source(name string, i int) string { return name + ":" + strconv.Itoa(i) }

// lookup resolves one name into its groups, as Prometheus's dns discovery
// makes targets of the records.
func (d *Discovery) lookup(ctx context.Context, name string) ([]*targets.Group, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d.cfg.RefreshInterval))
	defer cancel()
	type rec struct {
		addr   string
		labels map[string]string
	}
	var recs []rec
	port := strconv.Itoa(d.cfg.Port)
	var err error
	switch d.cfg.Type {
	case "SRV":
		var srvs []*net.SRV
		_, srvs, err = d.resolver.LookupSRV(ctx, "", "", name)
		for _, s := range srvs {
			host := strings.TrimSuffix(s.Target, ".")
			recs = append(recs, rec{net.JoinHostPort(host, strconv.Itoa(int(s.Port))),
				map[string]string{LabelSRVTarget: s.Target, LabelSRVPort: strconv.Itoa(int(s.Port))}})
		}
	case "A", "AAAA":
		network := "ip4"
		if d.cfg.Type == "AAAA" {
			network = "ip6"
		}
		var ips []net.IP
		ips, err = d.resolver.LookupIP(ctx, network, name)
		for _, ip := range ips {
			recs = append(recs, rec{net.JoinHostPort(ip.String(), port), nil})
		}
	case "MX":
		var mxs []*net.MX
		mxs, err = d.resolver.LookupMX(ctx, name)
		for _, m := range mxs {
			recs = append(recs, rec{net.JoinHostPort(strings.TrimSuffix(m.Host, "."), port), map[string]string{LabelMXTarget: m.Host}})
		}
	case "NS":
		var nss []*net.NS
		nss, err = d.resolver.LookupNS(ctx, name)
		for _, n := range nss {
			recs = append(recs, rec{net.JoinHostPort(strings.TrimSuffix(n.Host, "."), port), map[string]string{LabelNSTarget: n.Host}})
		}
	}
	if err != nil {
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			return nil, err
		}
		recs = nil // the name does not exist (or has no such records): no targets, as in Prometheus
	}
	groups := make([]*targets.Group, len(recs))
	for i, r := range recs {
		labels := map[string]string{LabelName: name}
		for k, v := range r.labels {
			labels[k] = v
		}
		groups[i] = &targets.Group{Source: source(name, i), Targets: []string{r.addr}, Labels: labels}
	}
	return groups, nil
}
