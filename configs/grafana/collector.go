package grafana

// one is the label filter of the collector dashboard: one collector of one job.
const one = `job="$job",collector="$collector"`

// Collector is one collector's detail: status now and over time, items per
// interval against what it should bring, freshness, completeness, its
// collection runs, CPU, memory, restarts and commands.
func Collector() *Dashboard {
	l := &layout{}

	l.row("Now")
	status := stat("Status", "The collector's status as corral derives it from its scrapes.", "none", steps("text"),
		instantQ(`corral_collector_status{`+one+`} == 1`, "{{status}}"))
	status.Options["textMode"] = "name"
	status.FieldConfig.Overrides = statusOverrides()
	l.add(4, 4, status)
	up := stat("Last scrape", "Whether corral's last scrape of the agent succeeded.", "none", steps("red", 1.0, "green"),
		instantQ(`corral_collector_up{`+one+`}`, "up"))
	up.Options["textMode"] = "value"
	up.FieldConfig.Defaults.Mappings = []any{map[string]any{"type": "value", "options": map[string]any{
		"0": map[string]any{"text": "failed", "index": 0}, "1": map[string]any{"text": "good", "index": 1}}}}
	l.add(4, 4, up)
	seen := stat("Last seen", "Time since the last good scrape (the heartbeat).", "s", steps("green", 60.0, "orange", 300.0, "red"),
		instantQ(`time() - corral_collector_last_seen_timestamp_seconds{`+one+`}`, "ago"))
	seen.Options["textMode"] = "value"
	l.add(4, 4, seen)
	fresh := stat("Freshness", "Age of the newest item the collector brought, at the last scrape.", "s", steps("green", 900.0, "orange", 3600.0, "red"),
		instantQ(`corral_collector_freshness_seconds{`+one+`}`, "freshness"))
	fresh.Options["textMode"] = "value"
	l.add(4, 4, fresh)
	l.add(4, 4, stat("Completeness", "Items collected over items expected, last hour and last day.", "percentunit", steps("red", 0.9, "orange", 0.99, "green"),
		instantQ(`corral_collector_completeness_ratio{`+one+`}`, "{{window}}")))
	restarts := stat("Restarts (24h)", "How often the agent's process start time changed in the last day.", "none", steps("green", 1.0, "orange", 3.0, "red"),
		instantQ(`changes(corral_collector_start_time_seconds{`+one+`}[24h])`, "restarts"))
	restarts.Options["textMode"] = "value"
	l.add(4, 4, restarts)

	timeline := &Panel{
		Type: "state-timeline", Title: "Status timeline", Description: "The collector's status over time.",
		Targets: []Target{rangeQ(`max by (status) (corral_collector_status{`+one+`}) == 1`, "{{status}}")},
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{Color: map[string]any{"mode": "fixed", "fixedColor": "text"},
				Custom: map[string]any{"fillOpacity": 80, "lineWidth": 0}},
			Overrides: statusOverrides(),
		},
		Options: map[string]any{"showValue": "never", "mergeValues": true, "rowHeight": 0.8, "legend": map[string]any{"showLegend": false}},
	}
	l.add(24, 6, timeline)

	l.row("Collection")
	items := timeseries("Items per interval", "Items collected in each interval, against what the collector should bring (corral_collector_expected_items per expected interval).", "short",
		rangeQ(`increase(corral_collector_items_total{`+one+`}[$__rate_interval])`, "collected"),
		rangeQ(`corral_collector_expected_items{`+one+`} * $__rate_interval_ms / 1000 / corral_collector_expected_interval_seconds{`+one+`}`, "expected"))
	items.FieldConfig.Overrides = []Override{{
		Matcher:    map[string]any{"id": "byName", "options": "expected"},
		Properties: []map[string]any{{"id": "custom.lineStyle", "value": map[string]any{"fill": "dash", "dash": []int{10, 10}}}, {"id": "custom.fillOpacity", "value": 0}},
	}}
	l.add(12, 8, items)
	compl := timeseries("Completeness", "Rolling completeness over the last hour and the last day.", "percentunit",
		rangeQ(`corral_collector_completeness_ratio{`+one+`}`, "{{window}}"))
	compl.FieldConfig.Defaults.Min = f(0)
	l.add(12, 8, compl)
	l.add(8, 8, timeseries("Freshness", "Age of the newest item at each scrape.", "s",
		rangeQ(`corral_collector_freshness_seconds{`+one+`}`, "freshness")))
	l.add(8, 8, timeseries("Collection runs", "The agent's collection runs by result.", "short",
		rangeQ(`sum by (result) (increase(corral_collector_collections_total{`+one+`}[$__rate_interval]))`, "{{result}}"),
		rangeQ(`corral_collector_consecutive_failures{`+one+`}`, "failures in a row")))
	l.add(8, 8, timeseries("Collection duration", "How long one collection run takes: p90 from the agent's histogram, and the mean corral computes.", "s",
		rangeQ(`histogram_quantile(0.9, sum by (le) (rate(corral_collector_collection_duration_seconds_bucket{`+one+`}[$__rate_interval])))`, "p90"),
		rangeQ(`corral_collector_collection_mean_seconds{`+one+`}`, "mean")))

	l.row("Process and scraping")
	l.add(8, 8, timeseries("CPU", "CPU cores the agent process used between scrapes.", "none",
		rangeQ(`corral_collector_cpu_usage_ratio{`+one+`}`, "cores")))
	l.add(8, 8, timeseries("Memory", "Resident memory of the agent process.", "bytes",
		rangeQ(`corral_collector_memory_bytes{`+one+`}`, "RSS")))
	l.add(8, 8, timeseries("Scrapes", "Duration of corral's scrapes of the agent, and failed scrapes in a row.", "s",
		rangeQ(`corral_collector_scrape_duration_seconds{`+one+`}`, "scrape duration"),
		rangeQ(`corral_collector_consecutive_scrape_failures{`+one+`}`, "failed scrapes in a row")))

	l.row("Commands")
	l.add(12, 8, timeseries("Commands handled", "Control commands the agent handled, by command and result.", "short",
		rangeQ(`sum by (command, result) (increase(corral_collector_commands_total{`+one+`}[$__rate_interval]))`, "{{command}} {{result}}")))
	bf := timeseries("Backfill", "Progress of a running backfill, and the items it brought.", "percentunit",
		rangeQ(`corral_collector_backfill_progress_ratio{`+one+`}`, "progress"),
		rangeQ(`corral_collector_backfill_running{`+one+`}`, "running"))
	bf.FieldConfig.Defaults.Min = f(0)
	bf.FieldConfig.Defaults.Max = f(1)
	l.add(12, 8, bf)

	return &Dashboard{
		UID: "corral-collector", Title: "corral / Collector",
		Description: "One collector: status, items per interval, freshness, completeness, collection runs, CPU, memory, restarts and commands.",
		Tags:        []string{"corral"}, Timezone: "browser", SchemaVersion: 39, Version: 1, Editable: true, GraphTooltip: 1,
		Refresh: "30s", Time: TimeRange{From: "now-6h", To: "now"},
		Templating: Templating{List: []Variable{
			datasourceVar(),
			labelVar("job", "Job", "label_values(corral_collector_up, job)", false),
			labelVar("collector", "Collector", `label_values(corral_collector_up{job="$job"}, collector)`, false),
		}},
		Links:  []Link{{Title: "corral dashboards", Type: "dashboards", Tags: []string{"corral"}, AsDropdown: true, IncludeVars: true, KeepTime: true}},
		Panels: l.panels,
	}
}
