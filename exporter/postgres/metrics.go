package postgres

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exposes the snapshot of the last collection as const metrics, with the
// names and labels of postgres_exporter's pg_stat_statements collector. Statements
// that fell out of the top N, or every statement after a failed collection, are
// simply not in the snapshot, so their series end.
type metrics struct {
	up, calls, seconds, rows, readSeconds, writeSeconds, queryText *prometheus.Desc

	mu        sync.RWMutex
	attempted bool // pg_up is exposed from the first collection on
	isUp      bool
	stmts     []statement
	withText  bool
}

func newMetrics() *metrics {
	labels := []string{"user", "datname", "queryid"}
	return &metrics{
		up: prometheus.NewDesc("pg_up",
			"Whether the last collection could reach the PostgreSQL server (1) or not (0).", nil, nil),
		calls: prometheus.NewDesc("pg_stat_statements_calls_total",
			"Number of times the statement was executed.", labels, nil),
		seconds: prometheus.NewDesc("pg_stat_statements_seconds_total",
			"Total time spent executing the statement, in seconds.", labels, nil),
		rows: prometheus.NewDesc("pg_stat_statements_rows_total",
			"Total number of rows retrieved or affected by the statement.", labels, nil),
		readSeconds: prometheus.NewDesc("pg_stat_statements_block_read_seconds_total",
			"Total time the statement spent reading blocks, in seconds (needs track_io_timing).", labels, nil),
		writeSeconds: prometheus.NewDesc("pg_stat_statements_block_write_seconds_total",
			"Total time the statement spent writing blocks, in seconds (needs track_io_timing).", labels, nil),
		queryText: prometheus.NewDesc("pg_stat_statements_query_id",
			"Maps a queryid to the normalised text of its statement (include_query_text).", []string{"queryid", "query"}, nil),
	}
}

// set records the statements of a successful collection.
func (m *metrics) set(stmts []statement, withText bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempted, m.isUp = true, true
	m.stmts, m.withText = stmts, withText
}

// fail records a failed collection; up tells whether the server answered.
func (m *metrics) fail(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempted, m.isUp = true, up
	m.stmts = nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.up, m.calls, m.seconds, m.rows, m.readSeconds, m.writeSeconds, m.queryText} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.attempted {
		return
	}
	up := 0.0
	if m.isUp {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(m.up, prometheus.GaugeValue, up)
	seen := make(map[string]bool)
	for _, s := range m.stmts {
		lv := []string{s.user, s.datname, s.queryid}
		ch <- prometheus.MustNewConstMetric(m.calls, prometheus.CounterValue, s.calls, lv...)
		ch <- prometheus.MustNewConstMetric(m.seconds, prometheus.CounterValue, s.seconds, lv...)
		ch <- prometheus.MustNewConstMetric(m.rows, prometheus.CounterValue, s.rows, lv...)
		ch <- prometheus.MustNewConstMetric(m.readSeconds, prometheus.CounterValue, s.readSeconds, lv...)
		ch <- prometheus.MustNewConstMetric(m.writeSeconds, prometheus.CounterValue, s.writeSeconds, lv...)
		if m.withText && !seen[s.queryid] {
			seen[s.queryid] = true
			ch <- prometheus.MustNewConstMetric(m.queryText, prometheus.GaugeValue, 1, s.queryid, s.query)
		}
	}
}
