package mysql

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exposes the digests of the last collection as const metrics, with the
// names and labels of mysqld_exporter's perf_schema.eventsstatements collector, so a
// digest that fell out of the top N loses its series. mysql_up and the slow-log row
// counter come with them.
type metrics struct {
	up, slowRows *prometheus.Desc
	digestDescs  []digestDesc

	mu        sync.RWMutex
	attempted bool // mysql_up is exposed from the first collection on
	isUp      bool
	digests   []digest
	slowTotal float64
}

// digestDesc is one digest metric and the field of a digest it shows.
type digestDesc struct {
	desc  *prometheus.Desc
	value func(d *digest) float64
}

func newMetrics() *metrics {
	labels := []string{"schema", "digest", "digest_text"}
	d := func(name, help string, value func(d *digest) float64) digestDesc {
		return digestDesc{
			desc:  prometheus.NewDesc("mysql_perf_schema_events_statements_"+name, help, labels, nil),
			value: value,
		}
	}
	return &metrics{
		up: prometheus.NewDesc("mysql_up",
			"Whether the last collection could reach the MySQL server (1) or not (0).", nil, nil),
		slowRows: prometheus.NewDesc("mysql_slow_queries_collected_total",
			"Rows of the mysql.slow_log table collected since the agent started.", nil, nil),
		digestDescs: []digestDesc{
			d("total", "The total count of events statements by digest.", func(d *digest) float64 { return d.count }),
			d("seconds_total", "The total time of events statements by digest, in seconds.", func(d *digest) float64 { return d.seconds }),
			d("errors_total", "The errors of events statements by digest.", func(d *digest) float64 { return d.errors }),
			d("warnings_total", "The warnings of events statements by digest.", func(d *digest) float64 { return d.warnings }),
			d("rows_affected_total", "The total rows affected of events statements by digest.", func(d *digest) float64 { return d.rowsAffected }),
			d("rows_sent_total", "The total rows sent of events statements by digest.", func(d *digest) float64 { return d.rowsSent }),
			d("rows_examined_total", "The total rows examined of events statements by digest.", func(d *digest) float64 { return d.rowsExamined }),
			d("tmp_tables_total", "The total temporary tables created by events statements by digest.", func(d *digest) float64 { return d.tmpTables }),
			d("tmp_disk_tables_total", "The total temporary disk tables created by events statements by digest.", func(d *digest) float64 { return d.tmpDiskTables }),
			d("sort_merge_passes_total", "The total merge passes of the sort algorithm by digest.", func(d *digest) float64 { return d.sortMergePasses }),
			d("sort_rows_total", "The total sorted rows by digest.", func(d *digest) float64 { return d.sortRows }),
			d("no_index_used_total", "The total statements that scanned a table without an index, by digest.", func(d *digest) float64 { return d.noIndexUsed }),
		},
	}
}

// set records a successful collection.
func (m *metrics) set(digests []digest, slowRows int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempted, m.isUp = true, true
	m.digests = digests
	m.slowTotal += float64(slowRows)
}

// fail records a failed collection; up tells whether the server answered.
func (m *metrics) fail(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempted, m.isUp = true, up
	m.digests = nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.up
	ch <- m.slowRows
	for _, d := range m.digestDescs {
		ch <- d.desc
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
	ch <- prometheus.MustNewConstMetric(m.slowRows, prometheus.CounterValue, m.slowTotal)
	for i := range m.digests {
		d := &m.digests[i]
		for _, dd := range m.digestDescs {
			ch <- prometheus.MustNewConstMetric(dd.desc, prometheus.CounterValue, dd.value(d), d.schema, d.digest, d.text)
		}
	}
}
