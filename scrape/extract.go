package scrape

import (
	"github.com/corral-dev/corral/scrape/expo"
)

// extractAgent picks the exposition contract and the process metrics out of a
// parsed scrape. It runs on every scrape: a switch on the name, no allocation.
// prev, the previous scrape's values, lets strings that did not change be reused.
func extractAgent(samples []expo.Sample, prev *AgentSample) AgentSample {
	var a AgentSample
	if prev != nil {
		a.Kind, a.Version = prev.Kind, prev.Version
	}
	for i := range samples {
		s := &samples[i]
		switch string(s.Name) {
		case "corral_collector_state":
			a.HasContract = true
			if s.Value == 1 {
				if v, ok := expo.LabelValue(s.Labels, "state"); ok {
					a.State = internState(v)
				}
			}
		case "corral_collector_info":
			if v, ok := expo.LabelValue(s.Labels, "kind"); ok && string(v) != a.Kind {
				a.Kind = string(v)
			}
			if v, ok := expo.LabelValue(s.Labels, "version"); ok && string(v) != a.Version {
				a.Version = string(v)
			}
		case "corral_collector_items_total":
			a.Items, a.HasItems = s.Value, true
		case "corral_collector_last_item_timestamp_seconds":
			a.LastItem = s.Value
		case "corral_collector_expected_items":
			a.ExpectedItems = s.Value
		case "corral_collector_expected_interval_seconds":
			a.ExpectedInterval = s.Value
		case "corral_collector_collections_total":
			if v, ok := expo.LabelValue(s.Labels, "result"); ok {
				switch string(v) {
				case "success":
					a.CollectionsOK = s.Value
				case "error":
					a.CollectionsError = s.Value
				}
			}
		case "corral_collector_collection_duration_seconds_sum":
			a.DurationSum = s.Value
		case "corral_collector_collection_duration_seconds_count":
			a.DurationCount = s.Value
		case "corral_collector_last_collection_timestamp_seconds":
			a.LastCollection = s.Value
		case "corral_collector_config_generation":
			a.ConfigGeneration, a.HasGeneration = s.Value, true
		case "corral_collector_backfill_progress_ratio":
			a.BackfillProgress = s.Value
		case "corral_collector_log_records_total":
			a.LogRecords, a.HasLogRecords = s.Value, true
		case "corral_collector_backfill_running":
			a.BackfillRunning, a.HasBackfill = s.Value == 1, true
		case "process_cpu_seconds_total":
			a.CPUSeconds, a.HasCPU = s.Value, true
		case "process_resident_memory_bytes":
			a.RSS, a.HasRSS = s.Value, true
		case "process_start_time_seconds":
			a.StartTime, a.HasStartTime = s.Value, true
		}
	}
	return a
}

// internState returns the state name without allocating for the known states.
func internState(v []byte) string {
	switch string(v) {
	case "starting":
		return "starting"
	case "running":
		return "running"
	case "paused":
		return "paused"
	case "waiting":
		return "waiting"
	case "error":
		return "error"
	case "stopping":
		return "stopping"
	}
	return string(v)
}
