package grafana

// sel is the label filter of the fleet dashboard's variables. Fleet series carry
// the collector's job and instance (the documented jobs use honor_labels) and
// its target labels, team and org among them.
const sel = `job=~"$job",team=~"$team"`

// Fleet is the fleet overview: counts per status over time, what needs
// attention now, freshness and completeness per job and team, scraping and
// commands, and corral's own health.
func Fleet() *Dashboard {
	l := &layout{}

	l.row("Fleet now")
	l.add(4, 5, stat("Collectors", "Collectors corral knows, in the selected jobs and teams.", "none", steps("blue"),
		instantQ(`count(corral_collector_up{`+sel+`})`, "collectors")))
	perStatus := stat("By status", "Collectors per status (DESIGN.md's status rules; hover a value for its name).", "none", steps("green"),
		instantQ(`sum by (status) (corral_collector_status{`+sel+`,status!~"unknown|archived"})`, "{{status}}"))
	perStatus.FieldConfig.Overrides = statusOverrides()
	perStatus.Options["orientation"] = "vertical"
	l.add(14, 5, perStatus)
	l.add(6, 5, stat("Items collected / s", "Data items the selected collectors collect per second (from their corral_collector_items_total, through /federate).", "short", steps("blue"),
		instantQ(`sum(rate(corral_collector_items_total{`+sel+`}[$__rate_interval]))`, "items/s")))

	l.row("Status over time")
	overTime := timeseries("Collectors per status", "How many collectors were in each status.", "none",
		rangeQ(`sum by (status) (corral_collector_status{`+sel+`,status!~"unknown|archived"})`, "{{status}}"))
	overTime.FieldConfig.Overrides = statusOverrides()
	overTime.FieldConfig.Defaults.Custom["stacking"] = map[string]any{"mode": "normal"}
	overTime.FieldConfig.Defaults.Custom["fillOpacity"] = 60
	l.add(14, 8, overTime)
	l.add(10, 8, timeseries("Scrape failures by reason", "Failed scrapes per second, by the reason corral gives (timeout, refused, http_status …).", "reqps",
		rangeQ(`sum by (reason) (rate(corral_scrape_failures_total[$__rate_interval]))`, "{{reason}}")))

	l.row("Needs attention")
	l.add(12, 8, table("Offline", "Collectors whose scrapes fail past the grace period. Click a row for its detail.",
		tableQ(`corral_collector_status{`+sel+`,status="offline"} == 1`), "Value", "status"))
	l.add(12, 8, table("Error", "Collectors whose agent reports its collection failing.",
		tableQ(`corral_collector_status{`+sel+`,status="error"} == 1`), "Value", "status"))
	stale := table("Stale (freshness)", "Collectors whose newest item is older than stale_after; Value is its age.",
		tableQ(`corral_collector_freshness_seconds{`+sel+`} and on (collector, job, instance) (corral_collector_status{status="stale"} == 1)`))
	stale.FieldConfig.Defaults.Unit = "s"
	l.add(12, 8, stale)
	incomplete := table("Incomplete (last hour)", "Collectors that brought fewer items than expected; Value is the 1h completeness.",
		tableQ(`corral_collector_completeness_ratio{`+sel+`,window="1h"} and on (collector, job, instance) (corral_collector_status{status="incomplete"} == 1)`), "window")
	incomplete.FieldConfig.Defaults.Unit = "percentunit"
	l.add(12, 8, incomplete)

	l.row("Freshness and completeness")
	l.add(12, 8, timeseries("Freshness, worst per job", "Age of the newest item of the stalest collector of each job.", "s",
		rangeQ(`max by (job) (corral_collector_freshness_seconds{`+sel+`})`, "{{job}}")))
	compl := timeseries("Completeness (1h) per job", "Items collected over items expected in the last hour, mean per job.", "percentunit",
		rangeQ(`avg by (job) (corral_collector_completeness_ratio{`+sel+`,window="1h"})`, "{{job}}"))
	compl.FieldConfig.Defaults.Min = f(0)
	l.add(12, 8, compl)
	for _, w := range []struct{ by, window string }{{"job", "1h"}, {"team", "24h"}} {
		bg := &Panel{
			Type: "bargauge", Title: "Completeness (" + w.window + ") per " + w.by,
			Description: "Mean completeness over the last " + w.window + " per " + w.by + "; red under 90 %, amber under 99 %.",
			Targets:     []Target{instantQ(`avg by (`+w.by+`) (corral_collector_completeness_ratio{`+sel+`,window="`+w.window+`"})`, "{{"+w.by+"}}")},
			FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: "percentunit", Min: f(0), Max: f(1),
				Thresholds: steps("red", 0.9, "orange", 0.99, "green"), Color: map[string]any{"mode": "thresholds"}}},
			Options: map[string]any{"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true,
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		}
		l.add(12, 8, bg)
	}

	l.row("Scraping")
	l.add(8, 8, timeseries("Scrape duration", "Quantiles of the time corral takes to scrape an agent.", "s",
		rangeQ(`histogram_quantile(0.5, sum by (le) (rate(corral_scrape_duration_seconds_bucket[$__rate_interval])))`, "p50"),
		rangeQ(`histogram_quantile(0.99, sum by (le) (rate(corral_scrape_duration_seconds_bucket[$__rate_interval])))`, "p99")))
	l.add(8, 8, timeseries("Slowest collectors to scrape", "The ten longest last scrapes.", "s",
		rangeQ(`topk(10, corral_collector_scrape_duration_seconds{`+sel+`})`, "{{collector}}")))
	l.add(8, 8, timeseries("Scrapes and samples", "Scrapes and samples per second across the fleet; start lag p99 is how late scrapes start.", "short",
		rangeQ(`sum(rate(corral_scrapes_total[$__rate_interval]))`, "scrapes/s"),
		rangeQ(`sum(rate(corral_scrape_samples_total[$__rate_interval]))`, "samples/s"),
		rangeQ(`histogram_quantile(0.99, sum by (le) (rate(corral_scrape_start_lag_seconds_bucket[$__rate_interval])))`, "start lag p99 (s)")))

	l.row("Commands")
	l.add(8, 8, timeseries("Commands by outcome", "Commands that reached a final state: confirmed by a scrape, failed (refused) or expired.", "short",
		rangeQ(`sum by (state) (increase(corral_commands_finished_total[$__rate_interval]))`, "{{state}}")))
	l.add(8, 8, timeseries("Commands submitted", "Commands created through the API, corralctl, bulk operations and the reconciler.", "short",
		rangeQ(`sum by (command) (increase(corral_commands_submitted_total[$__rate_interval]))`, "{{command}}"),
		rangeQ(`sum(increase(corral_reconciliations_total[$__rate_interval]))`, "reconciler")))
	l.add(8, 8, timeseries("Command latency", "From creation to the agent's acknowledgement, and to the confirming scrape (p99); open commands.", "s",
		rangeQ(`histogram_quantile(0.99, sum by (le) (rate(corral_command_acknowledge_seconds_bucket[$__rate_interval])))`, "acknowledged p99"),
		rangeQ(`histogram_quantile(0.99, sum by (le) (rate(corral_command_confirm_seconds_bucket[$__rate_interval])))`, "confirmed p99"),
		rangeQ(`sum(corral_commands_open)`, "open")))

	l.row("corral server")
	l.add(6, 6, stat("Last reload", "Whether the last configuration reload worked.", "none", steps("red", 1.0, "green"),
		instantQ(`min(corral_config_last_reload_successful)`, "reload ok")))
	l.add(6, 6, timeseries("Store writes", "Writes flushed to the store, pending, and errors.", "short",
		rangeQ(`sum(rate(corral_store_writes_total[$__rate_interval]))`, "writes/s"),
		rangeQ(`sum(corral_store_pending_writes)`, "pending"),
		rangeQ(`sum(rate(corral_store_write_errors_total[$__rate_interval]))`, "errors/s")))
	l.add(6, 6, timeseries("Discovery", "Targets discovered, dropped, and file_sd files in error.", "short",
		rangeQ(`sum(corral_sd_targets)`, "targets"),
		rangeQ(`sum(corral_sd_dropped_targets)`, "dropped"),
		rangeQ(`count(corral_sd_file_error == 1) or vector(0)`, "files in error")))
	// process_* series of the server only: agents' own process series come
	// through /federate with their job, so keep the instances that serve
	// corral's own series.
	l.add(6, 6, timeseries("Server memory and UI clients", "Resident memory of each corral server, and WebSocket clients.", "bytes",
		rangeQ(`process_resident_memory_bytes and on (job, instance) corral_config_last_reload_successful`, "{{instance}} RSS"),
		rangeQ(`sum(corral_ws_clients)`, "WebSocket clients")))

	return &Dashboard{
		UID: "corral-fleet", Title: "corral / Fleet overview",
		Description: "Every collector corral scrapes: status, what needs attention, freshness, completeness, scraping and commands.",
		Tags:        []string{"corral"}, Timezone: "browser", SchemaVersion: 39, Version: 1, Editable: true, GraphTooltip: 1,
		Refresh: "30s", Time: TimeRange{From: "now-6h", To: "now"},
		Templating: Templating{List: []Variable{
			datasourceVar(),
			labelVar("job", "Job", "label_values(corral_collector_up, job)", true),
			labelVar("team", "Team", "label_values(corral_collector_up, team)", true),
		}},
		Links:  []Link{{Title: "corral dashboards", Type: "dashboards", Tags: []string{"corral"}, AsDropdown: true, IncludeVars: true, KeepTime: true}},
		Panels: l.panels,
	}
}
