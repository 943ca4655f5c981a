// Package contract names the agent's exposition contract (DESIGN.md, "The
// agent's exposition contract"): the metrics every corral agent exposes, their
// labels, and the states of the collector state machine. The agent (package
// exporter) registers these names; the server (scrape, control) reads them.
// It depends on nothing, so both sides and any third-party agent can import it.
package contract

// State is one state of the collector state machine.
type State = string

// States of the collector state machine, in the order corral_collector_state lists them.
const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	StatePaused   State = "paused"
	StateWaiting  State = "waiting"
	StateError    State = "error"
	StateStopping State = "stopping"
)

// States returns every state of the state machine.
func States() []State {
	return []State{StateStarting, StateRunning, StatePaused, StateWaiting, StateError, StateStopping}
}

// Active reports whether a collector in state s is meant to collect: only
// then does it expect items (a paused or waiting collector expects none).
func Active(s State) bool {
	switch s {
	case StateRunning, StateError, StateStarting:
		return true
	}
	return false
}

// Metric names of the contract.
const (
	MetricInfo             = "corral_collector_info"                              // gauge=1 {collector,kind,version}
	MetricState            = "corral_collector_state"                             // state set {state}
	MetricItems            = "corral_collector_items_total"                       // counter
	MetricLastItem         = "corral_collector_last_item_timestamp_seconds"       // gauge: base of freshness
	MetricExpectedItems    = "corral_collector_expected_items"                    // gauge
	MetricExpectedInterval = "corral_collector_expected_interval_seconds"         // gauge
	MetricCollections      = "corral_collector_collections_total"                 // counter {result}
	MetricDuration         = "corral_collector_collection_duration_seconds"       // histogram
	MetricLastCollection   = "corral_collector_last_collection_timestamp_seconds" // gauge
	MetricConfigGeneration = "corral_collector_config_generation"                 // gauge
	MetricCommands         = "corral_collector_commands_total"                    // counter {command,result}

	// Beyond the table of DESIGN.md: backfills, failures in a row, the log.
	MetricBackfillProgress    = "corral_collector_backfill_progress_ratio"
	MetricBackfillRunning     = "corral_collector_backfill_running"
	MetricBackfillItems       = "corral_collector_backfill_items_total"
	MetricConsecutiveFailures = "corral_collector_consecutive_failures"
	MetricLogRecords          = "corral_collector_log_records_total" // records logged for /logs since the start

	// The standard process metrics the server reads.
	MetricProcessCPU       = "process_cpu_seconds_total"
	MetricProcessRSS       = "process_resident_memory_bytes"
	MetricProcessStartTime = "process_start_time_seconds"
)

// Label names and values of the contract.
const (
	LabelCollector = "collector"
	LabelKind      = "kind"
	LabelVersion   = "version"
	LabelState     = "state"
	LabelResult    = "result"
	LabelCommand   = "command"

	ResultSuccess = "success" // a collections_total / commands_total result
	ResultError   = "error"
)
