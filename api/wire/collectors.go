package wire

import "time"

// Collector is one row of GET /collectors: identity, scope and health.
type Collector struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Reason          string            `json:"reason"`
	StatusSince     *time.Time        `json:"status_since"`
	Job             string            `json:"job"`
	Instance        string            `json:"instance"`
	Org             string            `json:"org"`
	Team            string            `json:"team"`
	Labels          map[string]string `json:"labels"`
	Provider        string            `json:"provider"`
	Up              bool              `json:"up"`
	LastSeen        *time.Time        `json:"last_seen"`
	Freshness       *float64          `json:"freshness_seconds"`
	Completeness1h  *float64          `json:"completeness_1h"`
	Completeness24h *float64          `json:"completeness_24h"`
	CPU             *float64          `json:"cpu"`
	Memory          *float64          `json:"memory_bytes"`
	Items           *float64          `json:"items_collected"`
	Tags            []string          `json:"tags"`
	Group           string            `json:"group"`
}

// CollectorDetail answers GET /collectors/{id}: the row and everything else
// the server knows of the collector.
type CollectorDetail struct {
	Collector
	Kind           string     `json:"kind"`
	Version        string     `json:"version"`
	URL            string     `json:"url"`
	Source         string     `json:"source"`
	ScrapeJob      string     `json:"scrape_job"`
	FirstSeen      *time.Time `json:"first_seen"`
	LastScrape     *time.Time `json:"last_scrape"`
	ScrapeDuration float64    `json:"scrape_duration_seconds"`
	Samples        int        `json:"samples"`
	AgentState     string     `json:"agent_state"`
	LastItem       *time.Time `json:"last_item"`
	Uptime         *float64   `json:"uptime_seconds"`
	Restarts       int        `json:"restarts"`
	// LastError and LastErrorReason are the last scrape's failure; "" once
	// a scrape succeeds. CollectionError is the agent's own: its collection
	// runs failing in a row, from its latest successful scrape.
	LastError           string      `json:"last_error"`
	LastErrorReason     string      `json:"last_error_reason"`
	ConsecutiveFailures int         `json:"consecutive_failures"`
	CollectionError     string      `json:"collection_error"`
	Collection          Collection  `json:"collection"`
	Thresholds          *Thresholds `json:"thresholds"`
	// Desired is what operators asked for through corral (stop, resume,
	// update-config, tags); nil when nobody steered the collector yet.
	Desired *Desired `json:"desired"`
}

// Collection is what the agent reports of its own collections.
type Collection struct {
	Succeeded        float64    `json:"succeeded"`
	Failed           float64    `json:"failed"`
	MeanDuration     float64    `json:"mean_duration_seconds"`
	LastCollection   *time.Time `json:"last_collection"`
	ExpectedItems    float64    `json:"expected_items"`
	ExpectedInterval float64    `json:"expected_interval_seconds"`
	ConfigGeneration *float64   `json:"config_generation"`
}

// Thresholds are the health thresholds the collector is judged by.
type Thresholds struct {
	OfflineAfter    float64 `json:"offline_after_seconds"`
	StaleAfter      float64 `json:"stale_after_seconds"`
	SlowScrape      float64 `json:"slow_scrape_seconds"`
	SlowCollection  float64 `json:"slow_collection_seconds"`
	IncompleteBelow float64 `json:"incomplete_below"`
}

// CollectorList answers GET /collectors: a page of rows; Total, Summary and
// Groups count every collector that passes the caller's scope and the
// filters, not only the page.
type CollectorList struct {
	Data       []Collector `json:"data"`
	Page       int         `json:"page"`
	Limit      int         `json:"limit"`
	Total      int         `json:"total"`
	TotalPages int         `json:"total_pages"`
	Summary    Summary     `json:"summary"`
	Groups     []Group     `json:"groups,omitempty"` // with group_by
}

// Summary counts the collectors of a CollectorList.
type Summary struct {
	Total          int            `json:"total"`
	ByStatus       map[string]int `json:"by_status"`
	ItemsCollected float64        `json:"items_collected"`
}

// Group is one value of group_by and how many collectors have it.
type Group struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Status answers GET /collectors/{id}/status.
type Status struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason"`
	StatusSince *time.Time `json:"status_since"`
	Up          bool       `json:"up"`
	LastSeen    *time.Time `json:"last_seen"`
	LastScrape  *time.Time `json:"last_scrape"`
}

// History answers GET /collectors/{id}/history: changes, newest first.
type History struct {
	ID   string   `json:"id"`
	Data []Change `json:"data"`
}

// Change is one row of a collector's history.
type Change struct {
	// Kind is status (a change of status) or reconcile (what the reconciler
	// did; from and to are then the observed and the desired agent state).
	Kind   string    `json:"kind"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Completeness answers GET /collectors/{id}/completeness: the aligned buckets
// of the window from From to To, oldest first; Missing counts those without
// data.
type Completeness struct {
	ID      string    `json:"id"`
	Window  string    `json:"window"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Data    []Bucket  `json:"data"`
	Missing int       `json:"missing"`
}

// Bucket is one window of a collector's completeness; one the store has no
// row for is {start, missing: true}.
type Bucket struct {
	Start         time.Time `json:"start"`
	Missing       bool      `json:"missing,omitempty"`
	Expected      *float64  `json:"expected_items,omitempty"`
	Actual        *float64  `json:"actual_items,omitempty"`
	Completeness  *float64  `json:"completeness,omitempty"`
	ActiveSeconds *float64  `json:"active_seconds,omitempty"`
	ScrapesOK     *int64    `json:"scrapes_ok,omitempty"`
	ScrapesTotal  *int64    `json:"scrapes_total,omitempty"`
	Availability  *float64  `json:"availability,omitempty"`
}
