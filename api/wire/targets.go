package wire

import "time"

// Targets answers GET /targets in the shape of Prometheus's /api/v1/targets.
type Targets struct {
	Status string          `json:"status"`
	Data   TargetDiscovery `json:"data"`
}

// TargetDiscovery is the data of Targets.
type TargetDiscovery struct {
	ActiveTargets  []ActiveTarget  `json:"activeTargets"`
	DroppedTargets []DroppedTarget `json:"droppedTargets"`
}

// ActiveTarget is one scraped target as Prometheus shows it, plus corral's
// collector, status and reason.
type ActiveTarget struct {
	DiscoveredLabels   map[string]string `json:"discoveredLabels,omitempty"`
	Labels             map[string]string `json:"labels"`
	ScrapePool         string            `json:"scrapePool"`
	ScrapeURL          string            `json:"scrapeUrl"`
	GlobalURL          string            `json:"globalUrl"`
	LastError          string            `json:"lastError"`
	LastScrape         time.Time         `json:"lastScrape"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
	Health             string            `json:"health"`

	Collector string `json:"collector"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
}

// DroppedTarget is a target discovery lists but corral ignores: its
// collector is unregistered.
type DroppedTarget struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	ScrapePool       string            `json:"scrapePool"`
	Collector        string            `json:"collector"`
	Reason           string            `json:"reason"`
	ArchiveID        string            `json:"archived_collector_id"`
}

// SDFile is one file_sd file of GET /sd-files (a List).
type SDFile struct {
	File         string     `json:"file"`
	Targets      int        `json:"targets"`
	LastGoodRead *time.Time `json:"last_good_read"`
	Error        string     `json:"error"`
	ErrorSince   *time.Time `json:"error_since"`
	// Dropped are targets of the last good read that are not scraped, as
	// Prometheus drops them (no address, a URL or a path); the rest are.
	Dropped []SDDropped `json:"dropped"`
}

// SDDropped is one target of an SDFile that is not scraped, and why.
type SDDropped struct {
	Group  int    `json:"group"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// SDGroup is one target group of GET /sd, in the format of Prometheus's
// http_sd_config (the answer is a JSON array of them).
type SDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Conflict is one collector identity discovered more than once, an item of
// GET /conflicts (a List): Kept is scraped, Dropped is not, and Reason says
// why that one was kept.
type Conflict struct {
	Collector string         `json:"collector"`
	Reason    string         `json:"reason"`
	Kept      ConflictTarget `json:"kept"`
	Dropped   ConflictTarget `json:"dropped"`
}

// ConflictTarget is one side of a Conflict: where discovery found it.
type ConflictTarget struct {
	ScrapePool string            `json:"scrapePool"`
	Provider   string            `json:"provider"`
	Source     string            `json:"source"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Labels     map[string]string `json:"labels"`
}
