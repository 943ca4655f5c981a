package scrape

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scraper's own series on the server's /metrics.
type Metrics struct {
	scrapes  prometheus.Counter
	failures *prometheus.CounterVec
	lag      prometheus.Histogram
	duration prometheus.Histogram
	samples  prometheus.Counter
	skipped  prometheus.Counter
	loops    prometheus.Gauge
	// targetLimit counts syncs that found a job over its target_limit.
	targetLimit prometheus.Counter
}

// NewMetrics registers the scraper's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		scrapes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_scrapes_total", Help: "Scrapes of collectors, successful or not.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_scrape_failures_total",
			Help: "Failed scrapes by reason: dns, refused, timeout, tls, http_<code>, body_limit, sample_limit, label_limit, target_limit, parse, connection, redirects, header_limit, other.",
		}, []string{"reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corral_scrape_start_lag_seconds",
			Help:    "How late scrapes start against their schedule.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corral_scrape_duration_seconds",
			Help:    "Duration of scrapes (fetch and parse).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_scrape_samples_total", Help: "Samples parsed from successful scrapes.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_scrape_skipped_total", Help: "Scheduled scrapes skipped because the previous one overran its slot.",
		}),
		loops: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corral_scrape_loops", Help: "Scrape loops running (one per collector).",
		}),
		targetLimit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_scrape_target_limit_exceeded_total",
			Help: "Target syncs that found a job over its target_limit (all its scrapes fail until it is not), as prometheus_target_scrape_pool_exceeded_target_limit_total.",
		}),
	}
	for _, r := range []string{ReasonDNS, ReasonRefused, ReasonTimeout, ReasonTLS, ReasonBodyLimit, ReasonSampleLimit, ReasonLabelLimit, ReasonTargetLimit, ReasonParse, ReasonConnection, ReasonRedirects, ReasonHeaderLimit, ReasonOther} {
		m.failures.WithLabelValues(r)
	}
	reg.MustRegister(m.scrapes, m.failures, m.lag, m.duration, m.samples, m.skipped, m.loops, m.targetLimit)
	return m
}

func (m *Metrics) observe(r *Result) {
	m.scrapes.Inc()
	m.duration.Observe(r.Duration.Seconds())
	m.lag.Observe(r.Lag.Seconds())
	if r.Err != nil {
		m.failures.WithLabelValues(r.Reason).Inc()
		return
	}
	m.samples.Add(float64(r.Samples))
}
