// Package scrape is how corral scrapes: one loop per target on its schedule,
// the HTTP fetch with its limits, the parse, and the agent's contract values
// picked out of it. Each result goes to one Sink; what becomes of it (health,
// log pulls) is the business of the Sink's owners (packages health, logpull),
// wired together by the server.
package scrape

import (
	"time"

	"github.com/corral-dev/corral/targets"
)

// Failure reasons of a scrape, as corral_scrape_failures_total{reason} counts them.
const (
	ReasonDNS         = "dns"
	ReasonRefused     = "refused"
	ReasonTimeout     = "timeout"
	ReasonTLS         = "tls"
	ReasonBodyLimit   = "body_limit"
	ReasonSampleLimit = "sample_limit"
	// ReasonLabelLimit: a sample over label_limit, label_name_length_limit
	// or label_value_length_limit.
	ReasonLabelLimit = "label_limit"
	// ReasonTargetLimit: the job has more targets than its target_limit.
	ReasonTargetLimit = "target_limit"
	ReasonParse       = "parse"
	ReasonConnection  = "connection" // reset or closed mid-response
	// ReasonRedirects: the target redirected more often than the HTTP client
	// follows (10, as in Prometheus) — a loop, most likely.
	ReasonRedirects = "redirects"
	// ReasonHeaderLimit: the answer's headers were over the HTTP client's
	// limit (10 MiB), which net/http enforces before the body limit applies.
	ReasonHeaderLimit = "header_limit"
	ReasonOther       = "other"
	// HTTP status failures are "http_<code>", e.g. http_404.
)

// AgentSample is what one scrape says about the agent: the values of the exposition
// contract and of the standard process metrics. Has* flags tell which were present.
type AgentSample struct {
	HasContract bool // corral_collector_state was exposed: this is a corral agent
	State       string
	Kind        string
	Version     string

	Items            float64
	HasItems         bool
	LastItem         float64 // unix seconds; 0: none yet
	ExpectedItems    float64
	ExpectedInterval float64 // seconds
	CollectionsOK    float64
	CollectionsError float64
	// CollectionFailures is corral_collector_consecutive_failures: collection
	// runs failed in a row.
	CollectionFailures float64
	DurationSum        float64
	DurationCount      float64
	LastCollection     float64
	ConfigGeneration   float64
	HasGeneration      bool
	BackfillProgress   float64
	BackfillRunning    bool
	HasBackfill        bool // corral_collector_backfill_running was exposed
	// LogRecords is corral_collector_log_records_total: records the agent has
	// logged for /logs since it started.
	LogRecords    float64
	HasLogRecords bool

	CPUSeconds   float64
	HasCPU       bool
	RSS          float64
	HasRSS       bool
	StartTime    float64
	HasStartTime bool
}

// Sink receives what the loops do, like Prometheus's storage.Appendable: a
// target's results come in order, on its loop's goroutine, so Observe must
// not block.
type Sink interface {
	// Track is called on every Sync for each target scraped, with its
	// effective interval and timeout, before its loop's first result.
	Track(t *targets.Target, interval, timeout time.Duration)
	// Observe gets one result. r and what it points to may be reused after
	// Observe returns, except r.Target and r.Client.
	Observe(r *Result)
	// Forget is called after a Sync with the collectors still scraped; the
	// others' loops have stopped or are stopping.
	Forget(keep map[string]bool)
}

// Sinks hands every call to each of its sinks in order.
type Sinks []Sink

// Track implements Sink.
func (ss Sinks) Track(t *targets.Target, interval, timeout time.Duration) {
	for _, s := range ss {
		s.Track(t, interval, timeout)
	}
}

// Observe implements Sink.
func (ss Sinks) Observe(r *Result) {
	for _, s := range ss {
		s.Observe(r)
	}
}

// Forget implements Sink.
func (ss Sinks) Forget(keep map[string]bool) {
	for _, s := range ss {
		s.Forget(keep)
	}
}

// Result is one scrape of one target.
type Result struct {
	Target *targets.Target
	// Client is the loop's client to the target, for follow-up requests.
	Client *TargetClient
	// Interval and Timeout are the target's effective scrape settings.
	Interval, Timeout time.Duration
	Start             time.Time // when the scrape started
	Duration          time.Duration
	// Lag is how late the scrape started against its schedule.
	Lag time.Duration
	// Err is nil on success; Reason classifies it.
	Err    error
	Reason string
	// Samples and Bytes of a successful scrape.
	Samples int
	Bytes   int
	Agent   AgentSample
}
