package filesd

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the per-file series of every Discovery, keyed by file path. One
// Metrics is shared by all Discoveries (one per scrape config); a file matched
// by several of them has one series, removed when the last one lets it go.
type Metrics struct {
	readErrors *prometheus.CounterVec
	targets    *prometheus.GaugeVec
	lastGood   *prometheus.GaugeVec
	failing    *prometheus.GaugeVec
	droppedN   *prometheus.GaugeVec
	watched    prometheus.Gauge

	mu     sync.Mutex
	owners map[string]map[*Discovery]struct{}
}

// NewMetrics creates the file_sd metrics and registers them with reg when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		readErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_sd_file_read_errors_total",
			Help: "Failed reads of a file_sd file (unreadable, or refused as Prometheus refuses it: invalid or half written).",
		}, []string{"file"}),
		targets: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corral_sd_file_targets",
			Help: "Targets currently taken from a file_sd file (its last good read while it is broken).",
		}, []string{"file"}),
		lastGood: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corral_sd_file_last_good_read_timestamp_seconds",
			Help: "When a file_sd file was last read without error.",
		}, []string{"file"}),
		failing: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corral_sd_file_error",
			Help: "1 while the last read of a file_sd file failed; its last good targets are kept meanwhile.",
		}, []string{"file"}),
		droppedN: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corral_sd_file_dropped_targets",
			Help: "Targets of a file_sd file's last good read that are not scraped (no address, or a URL or path for one), as Prometheus drops them; the file's other targets are.",
		}, []string{"file"}),
		watched: f.NewGauge(prometheus.GaugeOpts{
			Name: "corral_sd_files_watched",
			Help: "Distinct files currently matched by the file_sd patterns of all jobs.",
		}),
		owners: map[string]map[*Discovery]struct{}{},
	}
}

// track records that d matches path, creating its series on first use.
func (m *Metrics) track(d *Discovery, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	own := m.owners[path]
	if own == nil {
		own = map[*Discovery]struct{}{}
		m.owners[path] = own
		m.readErrors.WithLabelValues(path)
		m.targets.WithLabelValues(path).Set(0)
		m.failing.WithLabelValues(path).Set(0)
		m.droppedN.WithLabelValues(path).Set(0)
	}
	own[d] = struct{}{}
	m.watched.Set(float64(len(m.owners)))
}

// untrack lets go of path for d, deleting its series when no one else has it.
func (m *Metrics) untrack(d *Discovery, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	own := m.owners[path]
	if own == nil {
		return
	}
	delete(own, d)
	if len(own) == 0 {
		delete(m.owners, path)
		m.readErrors.DeleteLabelValues(path)
		m.targets.DeleteLabelValues(path)
		m.lastGood.DeleteLabelValues(path)
		m.failing.DeleteLabelValues(path)
		m.droppedN.DeleteLabelValues(path)
	}
	m.watched.Set(float64(len(m.owners)))
}

func (m *Metrics) readGood(d *Discovery, path string, targets int, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.owners[path][d]; !ok {
		return
	}
	m.targets.WithLabelValues(path).Set(float64(targets))
	m.lastGood.WithLabelValues(path).Set(float64(at.UnixNano()) / 1e9)
	m.failing.WithLabelValues(path).Set(0)
}

func (m *Metrics) readFailed(d *Discovery, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.owners[path][d]; !ok {
		return
	}
	m.readErrors.WithLabelValues(path).Inc()
	m.failing.WithLabelValues(path).Set(1)
}

func (m *Metrics) dropped(d *Discovery, path string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.owners[path][d]; !ok {
		return
	}
	m.droppedN.WithLabelValues(path).Set(float64(n))
}
