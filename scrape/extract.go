package scrape

import (
	"github.com/corral-dev/corral/exporter/contract"
	"github.com/corral-dev/corral/scrape/expo"
)

// ExtractAgent picks the exposition contract and the process metrics out of a
// parsed scrape. It runs on every scrape: a switch on the name, no allocation.
// prev, the previous scrape's values, lets strings that did not change be reused.
func ExtractAgent(samples []expo.Sample, prev *AgentSample) AgentSample {
	var a AgentSample
	if prev != nil {
		a.Kind, a.Version = prev.Kind, prev.Version
	}
	for i := range samples {
		s := &samples[i]
		switch string(s.Name) {
		case contract.MetricState:
			a.HasContract = true
			if s.Value == 1 {
				if v, ok := expo.LabelValue(s.Labels, contract.LabelState); ok {
					a.State = internState(v)
				}
			}
		case contract.MetricInfo:
			if v, ok := expo.LabelValue(s.Labels, contract.LabelKind); ok && string(v) != a.Kind {
				a.Kind = string(v)
			}
			if v, ok := expo.LabelValue(s.Labels, contract.LabelVersion); ok && string(v) != a.Version {
				a.Version = string(v)
			}
		case contract.MetricItems:
			a.Items, a.HasItems = s.Value, true
		case contract.MetricLastItem:
			a.LastItem = s.Value
		case contract.MetricExpectedItems:
			a.ExpectedItems = s.Value
		case contract.MetricExpectedInterval:
			a.ExpectedInterval = s.Value
		case contract.MetricCollections:
			if v, ok := expo.LabelValue(s.Labels, contract.LabelResult); ok {
				switch string(v) {
				case contract.ResultSuccess:
					a.CollectionsOK = s.Value
				case contract.ResultError:
					a.CollectionsError = s.Value
				}
			}
		case contract.MetricDuration + "_sum":
			a.DurationSum = s.Value
		case contract.MetricDuration + "_count":
			a.DurationCount = s.Value
		case contract.MetricLastCollection:
			a.LastCollection = s.Value
		case contract.MetricConfigGeneration:
			a.ConfigGeneration, a.HasGeneration = s.Value, true
		case contract.MetricBackfillProgress:
			a.BackfillProgress = s.Value
		case contract.MetricLogRecords:
			a.LogRecords, a.HasLogRecords = s.Value, true
		case contract.MetricConsecutiveFailures:
			a.CollectionFailures = s.Value
		case contract.MetricBackfillRunning:
			a.BackfillRunning, a.HasBackfill = s.Value == 1, true
		case contract.MetricProcessCPU:
			a.CPUSeconds, a.HasCPU = s.Value, true
		case contract.MetricProcessRSS:
			a.RSS, a.HasRSS = s.Value, true
		case contract.MetricProcessStartTime:
			a.StartTime, a.HasStartTime = s.Value, true
		}
	}
	return a
}

// internState returns the state name without allocating for the known states.
func internState(v []byte) string {
	switch string(v) {
	case contract.StateStarting:
		return contract.StateStarting
	case contract.StateRunning:
		return contract.StateRunning
	case contract.StatePaused:
		return contract.StatePaused
	case contract.StateWaiting:
		return contract.StateWaiting
	case contract.StateError:
		return contract.StateError
	case contract.StateStopping:
		return contract.StateStopping
	}
	return string(v)
}
