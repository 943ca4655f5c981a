package exporter

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/corral-dev/corral/exporter/contract"
	"github.com/corral-dev/corral/exporter/control"
)

// States of the collector state machine, in the order corral_collector_state
// lists them; named once in package contract.
const (
	StateStarting = contract.StateStarting
	StateRunning  = contract.StateRunning
	StatePaused   = contract.StatePaused
	StateWaiting  = contract.StateWaiting
	StateError    = contract.StateError
	StateStopping = contract.StateStopping
)

// States returns every state of the state machine.
func States() []string { return contract.States() }

// contractMetrics are the series of corral's exposition contract (DESIGN.md, "The
// agent's exposition contract"). They are registered on the agent's own registry.
type contractMetrics struct {
	info                *prometheus.GaugeVec
	state               *prometheus.GaugeVec
	items               prometheus.Counter
	lastItem            prometheus.Gauge
	expectedItems       prometheus.Gauge
	expectedInterval    prometheus.Gauge
	collections         *prometheus.CounterVec
	duration            prometheus.Histogram
	lastCollection      prometheus.Gauge
	configGeneration    prometheus.Gauge
	commands            *prometheus.CounterVec
	backfillProgress    prometheus.Gauge
	backfillRunning     prometheus.Gauge
	backfillItems       prometheus.Counter
	consecutiveFailures prometheus.Gauge
}

func newContractMetrics(reg prometheus.Registerer, name, kind, version string) (*contractMetrics, error) {
	m := &contractMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: contract.MetricInfo,
			Help: "Identity of the collector; always 1.",
		}, []string{"collector", "kind", "version"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: contract.MetricState,
			Help: "State of the collector: 1 for the current state, 0 for the others.",
		}, []string{"state"}),
		items: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricItems,
			Help: "Data items collected (rows, statements, trades, headlines ...).",
		}),
		lastItem: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricLastItem,
			Help: "Event time of the newest item collected, in seconds since the epoch; 0 before the first item.",
		}),
		expectedItems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricExpectedItems,
			Help: "Items one expected interval should bring; 0 means no expectation.",
		}),
		expectedInterval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricExpectedInterval,
			Help: "Length of the interval corral_collector_expected_items refers to.",
		}),
		collections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricCollections,
			Help: "Collection runs by result (success, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    contract.MetricDuration,
			Help:    "Duration of one collection run.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		lastCollection: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricLastCollection,
			Help: "End of the last collection run, in seconds since the epoch.",
		}),
		configGeneration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricConfigGeneration,
			Help: "Generation of the applied configuration; increments on every applied change.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricCommands,
			Help: "Control commands handled, by command and result (ok, failed, rejected).",
		}, []string{"command", "result"}),
		backfillProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricBackfillProgress,
			Help: "Progress of the current or last backfill, 0 to 1.",
		}),
		backfillRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricBackfillRunning,
			Help: "1 while a backfill runs, 0 otherwise: a backfill that ended below progress 1 stopped or failed.",
		}),
		backfillItems: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricBackfillItems,
			Help: "Items collected by backfills.",
		}),
		consecutiveFailures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: contract.MetricConsecutiveFailures,
			Help: "Collection runs that failed in a row; 0 after a success.",
		}),
	}
	m.info.WithLabelValues(name, kind, version).Set(1)
	for _, s := range States() {
		m.state.WithLabelValues(s)
	}
	for _, r := range []string{"success", "error"} {
		m.collections.WithLabelValues(r)
	}
	// Known label values start at 0, so the series exist before the first command.
	for _, c := range control.Commands() {
		for _, r := range []string{"ok", "failed", "rejected"} {
			m.commands.WithLabelValues(c, r)
		}
	}
	for _, c := range []prometheus.Collector{
		m.info, m.state, m.items, m.lastItem, m.expectedItems, m.expectedInterval,
		m.collections, m.duration, m.lastCollection, m.configGeneration, m.commands,
		m.backfillProgress, m.backfillRunning, m.backfillItems, m.consecutiveFailures,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *contractMetrics) setState(state string) {
	for _, s := range States() {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(s).Set(v)
	}
}

// NewRegistry returns a registry with the standard process and Go collectors, as
// every agent exposes them.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	return reg
}
