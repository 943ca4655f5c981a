// Package fleet is the vocabulary corral uses for the state of a collector:
// its status, the status history and the completeness buckets. The health
// evaluator produces these values, the store keeps them, the API and the
// server's /metrics show them. It depends on nothing but the standard library,
// so every side can import it.
package fleet

import "time"

// Status is what corral says of a collector (DESIGN.md, "Health, freshness,
// completeness").
type Status string

// Statuses, worst first.
const (
	StatusOffline    Status = "offline"    // no successful scrape within the grace period
	StatusError      Status = "error"      // the agent reports an error
	StatusStale      Status = "stale"      // the newest item is older than the threshold
	StatusIncomplete Status = "incomplete" // fewer items than expected
	StatusSlow       Status = "slow"       // scrape or collection over its threshold
	StatusPaused     Status = "paused"     // paused on purpose
	StatusWaiting    Status = "waiting"    // outside its active time (e.g. market hours)
	StatusOnline     Status = "online"
	StatusUnknown    Status = "unknown"  // never scraped
	StatusArchived   Status = "archived" // unregistered, data kept
)

// Statuses lists every status, worst first.
func Statuses() []Status {
	return []Status{StatusOffline, StatusError, StatusStale, StatusIncomplete, StatusSlow,
		StatusPaused, StatusWaiting, StatusOnline, StatusUnknown, StatusArchived}
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if s == v {
			return true
		}
	}
	return false
}

// Windows of completeness: aligned hours and UTC days.
const (
	Window1h  = "1h"
	Window24h = "24h"
)

// Kinds of status history rows.
const (
	KindStatus    = "status"    // a change of status
	KindReconcile = "reconcile" // what the reconciler did to bring an agent back to its desired state
)

// StatusChange is one row of a collector's status history.
type StatusChange struct {
	ID        int64  // assigned by the store; ignored when appending
	Collector string // collector ID
	// From and To are the statuses before and after; for a KindReconcile row
	// the observed and desired agent states.
	From, To string
	Reason   string // why the status changed
	// At is when the status changed; the store uses the current time when it is zero.
	At time.Time
	// Kind is KindStatus (the default when empty) or KindReconcile.
	Kind string
	// Key, when not empty, makes the append idempotent: a change whose Key is
	// already stored is skipped. The store's writer sets one on every change
	// so that a write retried after a lost commit acknowledgement is never
	// stored twice.
	Key string
}

// Bucket is the completeness of a collector over one aligned window.
type Bucket struct {
	Collector string    // collector ID
	Window    string    // Window1h or Window24h
	Start     time.Time // start of the window, aligned; UTC to the millisecond when read from the store

	ExpectedItems float64 // items the window should bring (only active time counts)
	ActualItems   float64 // items collected in the window
	ActiveSeconds float64 // seconds the collector was meant to be active
	ScrapesOK     int64   // successful scrapes
	ScrapesTotal  int64   // attempted scrapes
	// UpdatedAt is when the bucket was written; the store sets it to the
	// current time when it is zero.
	UpdatedAt time.Time
}

// CollectorState is the latest known state of a collector, written as the server
// evaluates scrapes and read back after a restart. Zero times are stored as
// unknown and read back as zero; the others come back in UTC, to the millisecond.
type CollectorState struct {
	ID       string            // the collector's identity (its collector label)
	Job      string            // scrape job
	Instance string            // host:port scraped
	URL      string            // full URL scraped
	Labels   map[string]string // target labels; read back as a non-nil map
	Provider string            // discovery provider that found it (static, file_sd, registry)
	Source   string            // discovery source (file, registry id …)

	Status      Status    // online, offline, stale … (see DESIGN.md)
	Reason      string    // why it has that status
	StatusSince time.Time // when it entered the status
	LastSeen    time.Time // last successful scrape
	LastItem    time.Time // event time of the newest item collected
	// FirstSeen is when the collector was first seen; once stored, later upserts
	// keep the stored value.
	FirstSeen time.Time
	// UpdatedAt is when the state was written; UpsertCollectors sets it to the
	// current time when it is zero.
	UpdatedAt time.Time
}
