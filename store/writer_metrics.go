package store

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// writerMetrics are the corral_store_* series of a Writer.
type writerMetrics struct {
	errors        prometheus.Counter
	rejected      prometheus.Counter
	writes        *prometheus.CounterVec
	flushDuration prometheus.Histogram
	lastSuccess   prometheus.Gauge
}

// newWriterMetrics creates the metrics and registers them with reg when it is not
// nil; pending reports the writes not yet stored.
func newWriterMetrics(reg prometheus.Registerer, pending func() int) writerMetrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corral_store_pending_writes",
		Help: "Writes (collector states, status changes, buckets) waiting to be stored.",
	}, func() float64 { return float64(pending()) })
	m := writerMetrics{
		errors: f.NewCounter(prometheus.CounterOpts{
			Name: "corral_store_write_errors_total",
			Help: "Failed store transactions; their writes stay pending and are retried.",
		}),
		rejected: f.NewCounter(prometheus.CounterOpts{
			Name: "corral_store_rejected_writes_total",
			Help: "Writes dropped because the store could never accept them (buckets with NaN or infinite values).",
		}),
		writes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_store_writes_total",
			Help: "Rows written to the store, by kind (collector, status_change, bucket).",
		}, []string{"kind"}),
		flushDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "corral_store_flush_duration_seconds",
			Help:    "Time of one flush of pending writes, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1ms … 16s
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "corral_store_last_successful_flush_timestamp_seconds",
			Help: "When a flush last ended with every pending write stored.",
		}),
	}
	for _, kind := range []string{"collector", "status_change", "bucket"} {
		m.writes.WithLabelValues(kind)
	}
	return m
}
