package control

import (
	"github.com/prometheus/client_golang/prometheus"

	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/store"
)

type metrics struct {
	open        prometheus.Gauge
	submitted   *prometheus.CounterVec
	finished    *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	reconciled  *prometheus.CounterVec
	ackTime     prometheus.Histogram
	confirmTime prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corral_commands_open", Help: "Commands not yet confirmed, failed or expired."}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_commands_submitted_total", Help: "Commands created, by command."}, []string{"command"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_commands_finished_total", Help: "Commands that reached a final state, by command and state (confirmed, failed, expired)."},
			[]string{"command", "state"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_command_deliveries_total", Help: "Delivery attempts by outcome (acknowledged, refused, unauthorized, unavailable, unreachable)."},
			[]string{"result"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_reconciliations_total", Help: "Commands the reconciler sent to bring agents back to their desired state, by command."},
			[]string{"command"}),
		ackTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "corral_command_acknowledge_seconds", Help: "Time from a command's creation to the agent's acknowledgement.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		confirmTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "corral_command_confirm_seconds", Help: "Time from a command's creation to its confirmation by a scrape.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900}}),
	}
	for _, r := range []string{"acknowledged", "refused", "unauthorized", "unavailable", "unreachable"} {
		m.deliveries.WithLabelValues(r)
	}
	// Every command's series from the start, at 0, so that rate() and
	// increase() see the first command and dashboards have data before it
	// (a counter that appears at 1 loses its first increment).
	for _, c := range agentctl.Commands() {
		m.submitted.WithLabelValues(c)
		m.reconciled.WithLabelValues(c)
		for _, st := range []string{store.CommandConfirmed, store.CommandFailed, store.CommandExpired} {
			m.finished.WithLabelValues(c, st)
		}
	}
	if reg != nil {
		reg.MustRegister(m.open, m.submitted, m.finished, m.deliveries, m.reconciled, m.ackTime, m.confirmTime)
	}
	return m
}
