package wire

import "time"

// RegisterRequest is the body of POST /collectors/register.
type RegisterRequest struct {
	Name       string            `json:"name"`
	URL        string            `json:"url"`
	Labels     map[string]string `json:"labels,omitempty"`
	Org        string            `json:"org,omitempty"` // default: the server's default org
	Team       string            `json:"team,omitempty"`
	Thresholds map[string]string `json:"thresholds,omitempty"`
}

// Registration is a registered collector. Token (the scrape token) and
// AgentConfig come only in the answer that made the token.
type Registration struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Labels      map[string]string `json:"labels"`
	Org         string            `json:"org"`
	Team        string            `json:"team,omitempty"`
	Thresholds  map[string]string `json:"thresholds,omitempty"`
	Token       string            `json:"scrape_token,omitempty"`
	TokenSHA256 string            `json:"scrape_token_sha256,omitempty"`
	// AgentConfig is a corral-agent config for the collector: its name, the
	// token's SHA-256 and the server's public key.
	AgentConfig string    `json:"agent_config,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Note says what the answer did not do (no new token for a file_sd collector …).
	Note string `json:"note,omitempty"`
}

// Registered answers POST /collectors/register (201).
type Registered struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Registration
}

// UnregisterRequest is the body of DELETE /collectors/{id}; the same options
// may come as query parameters.
type UnregisterRequest struct {
	Reason string `json:"reason"`
	// ArchiveMetrics keeps the history, buckets, logs and audit for
	// RetentionDays (default true); false deletes them now.
	ArchiveMetrics *bool `json:"archive_metrics,omitempty"`
	RetentionDays  int   `json:"retention_days,omitempty"`
	// DeleteAudit deletes the collector's audit rows with its data (now, or when
	// the retention ends); by default they are kept.
	DeleteAudit bool `json:"delete_audit,omitempty"`
}

// Unregistered answers DELETE /collectors/{id}.
type Unregistered struct {
	Success       bool    `json:"success"`
	Message       string  `json:"message"`
	ArchivedCount int64   `json:"archived_metrics_count"`
	Archive       Archive `json:"archive"`
}

// Archive is an unregistered collector, as GET /collectors/archived (a List)
// lists it.
type Archive struct {
	ID              string            `json:"id"`
	Collector       string            `json:"collector"`
	Name            string            `json:"name"`
	Provider        string            `json:"provider"`
	Source          string            `json:"source,omitempty"`
	URL             string            `json:"url,omitempty"`
	Labels          map[string]string `json:"labels"`
	Org             string            `json:"org"`
	Team            string            `json:"team,omitempty"`
	Reason          string            `json:"reason"`
	ArchivedBy      string            `json:"archived_by"`
	ArchivedAt      time.Time         `json:"archived_at"`
	MetricsArchived bool              `json:"metrics_archived"`
	MetricsCount    int64             `json:"metrics_count"`
	RetainUntil     *time.Time        `json:"retain_until,omitempty"`
	PurgedAt        *time.Time        `json:"purged_at,omitempty"`
	DeleteAudit     bool              `json:"delete_audit,omitempty"`
	// StillDiscovered: discovery lists it, and corral ignores it until it is
	// re-registered.
	StillDiscovered bool       `json:"still_discovered"`
	ReregisteredAt  *time.Time `json:"reregistered_at,omitempty"`
}

// ReregisterRequest is the body of POST /collectors/re-register.
type ReregisterRequest struct {
	ArchiveID string `json:"archived_collector_id"`
	// GenerateNewToken (default true) gives a registry collector a new scrape
	// token; false keeps the archived one (not recommended).
	GenerateNewToken *bool `json:"generate_new_token,omitempty"`
	// RestoreMetrics (default true) keeps the archived history; false starts fresh.
	RestoreMetrics *bool `json:"restore_metrics,omitempty"`
}

// Reregistered answers POST /collectors/re-register.
type Reregistered struct {
	Success      bool         `json:"success"`
	Message      string       `json:"message"`
	Registration Registration `json:"registration"`
	Archive      Archive      `json:"archive"`
}
