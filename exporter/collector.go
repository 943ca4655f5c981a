// Package exporter is the agent side of corral: the SDK every collector embeds.
//
// A collector implements Collector (one method). The Runner schedules it, keeps the
// item accounting of corral's exposition contract, and serves /metrics, /healthz,
// /control and /logs on one listener. Optional capabilities are plain interfaces a
// collector may also implement: ConnectionTester, Backfiller, Configurable,
// CredentialReloader and MetricsProvider.
package exporter

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Result is what one collection run brought.
type Result struct {
	// Items is the number of data items collected in this run (rows, statements,
	// trades, headlines …). It feeds corral_collector_items_total.
	Items int
	// Newest is the event time of the newest item collected in this run; the zero
	// time means the run brought nothing newer than before.
	Newest time.Time
}

// Collector pulls data from somewhere, once per call. It must honour ctx: the runner
// cancels it when a collection exceeds its timeout or the agent shuts down.
type Collector interface {
	Collect(ctx context.Context) (Result, error)
}

// ConnectionTester is implemented by collectors that can check their source without
// collecting. The returned map is shown to the operator (e.g. {"server_version": "15.4"}).
type ConnectionTester interface {
	TestConnection(ctx context.Context) (map[string]any, error)
}

// Backfiller is implemented by collectors that can collect a past time range.
// progress must be called with the fraction done (0..1) and the items collected so
// far; the runner publishes both. Backfill must stop promptly when ctx is cancelled
// (pause and shutdown cancel it).
type Backfiller interface {
	Backfill(ctx context.Context, from, to time.Time, progress func(ratio float64, items int)) error
}

// Configurable is implemented by collectors that accept configuration changes at run
// time (the update_config command). raw holds the collector-specific keys of the
// command as a JSON object. ApplyConfig must validate the whole change before
// applying any of it, and return an error naming the offending key otherwise.
type Configurable interface {
	ApplyConfig(ctx context.Context, raw json.RawMessage) error
}

// ConfigReporter is implemented by Configurable collectors that can say what
// their run-time keys are set to now. The agent lists them in /healthz next to
// its own (interval, timeout …), so an operator or corral's UI can see what
// update_config would change. Values must not be secrets.
type ConfigReporter interface {
	CurrentConfig() []ConfigKey
}

// ConfigKey is one update_config key and its current value, as update_config
// takes it (durations as strings such as "30s").
type ConfigKey struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
	Doc   string `json:"doc,omitempty"`
}

// CredentialReloader is implemented by collectors whose source credentials can be
// re-read (from their files or environment) and reconnected without a restart; the
// rotate_credentials command calls it.
type CredentialReloader interface {
	ReloadCredentials(ctx context.Context) error
}

// MetricsProvider is implemented by collectors that expose metrics of their own data
// (e.g. pg_stat_statements_calls_total). They are registered on the agent's registry
// next to the contract.
type MetricsProvider interface {
	Metrics() []prometheus.Collector
}
