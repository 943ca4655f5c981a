package main

import (
	"encoding/json"
	"time"
)

// The fields of the control plane's answers that corralctl shows (-o json
// prints the answers as they come; api/openapi.json is the contract). They
// are declared here rather than imported from api/dispatch or
// targets/lifecycle for the reason logRecord is: those packages link the
// server's store and database drivers.

// actor is who did something (store.Actor).
type actor struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// commandJSON is one command to one agent (dispatch.CommandJSON).
type commandJSON struct {
	ID            string          `json:"id"`
	Collector     string          `json:"collector"`
	Command       string          `json:"command"`
	Args          json.RawMessage `json:"args,omitempty"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	Error         string          `json:"error,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
	Progress      *float64        `json:"progress,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Actor         actor           `json:"actor"`
	BulkID        string          `json:"bulk_id,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	SentAt        *time.Time      `json:"sent_at,omitempty"`
	AcknowledgeAt *time.Time      `json:"acknowledged_at,omitempty"`
	FinishedAt    *time.Time      `json:"finished_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	ExpiresAt     time.Time       `json:"expires_at"`
}

// final reports whether the command has ended (store.CommandFinal).
func (c commandJSON) final() bool {
	return c.State == "confirmed" || c.State == "failed" || c.State == "expired"
}

// actResponse answers an action on a collector: the command it sent, if
// any, and the desired state it changed.
type actResponse struct {
	Command *commandJSON `json:"command"`
	Desired *struct {
		Tags  []string `json:"tags"`
		Group string   `json:"group"`
	} `json:"desired"`
}

// scrapeJSON answers POST /collectors/{id}/scrape.
type scrapeJSON struct {
	Collector    string  `json:"collector"`
	Up           bool    `json:"up"`
	Duration     float64 `json:"duration_seconds"`
	Samples      int     `json:"samples"`
	Error        string  `json:"error"`
	Reason       string  `json:"reason"`
	AgentState   string  `json:"agent_state"`
	Status       string  `json:"status"`
	StatusReason string  `json:"status_reason"`
}

// registration is a registered collector (lifecycle.Registration); Token and
// AgentConfig come only in the answer that made the token.
type registration struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Org         string `json:"org"`
	Team        string `json:"team"`
	Token       string `json:"scrape_token"`
	AgentConfig string `json:"agent_config"`
	Note        string `json:"note"`
}

// archive is an unregistered collector (api's archiveJSON).
type archive struct {
	ID              string     `json:"id"`
	Collector       string     `json:"collector"`
	Provider        string     `json:"provider"`
	Reason          string     `json:"reason"`
	ArchivedBy      string     `json:"archived_by"`
	ArchivedAt      time.Time  `json:"archived_at"`
	MetricsArchived bool       `json:"metrics_archived"`
	MetricsCount    int64      `json:"metrics_count"`
	RetainUntil     *time.Time `json:"retain_until"`
	PurgedAt        *time.Time `json:"purged_at"`
	StillDiscovered bool       `json:"still_discovered"`
}

// bulkRequest is POST /collectors/bulk-action (dispatch.BulkRequest).
type bulkRequest struct {
	Action       string          `json:"action"`
	CollectorIDs []string        `json:"collector_ids,omitempty"`
	Selector     string          `json:"selector,omitempty"`
	Status       []string        `json:"status,omitempty"`
	Params       json.RawMessage `json:"params,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	DryRun       bool            `json:"dry_run,omitempty"`
	ScheduleAt   *time.Time      `json:"schedule_at,omitempty"`
}

// bulkResult is a bulk operation with its items (dispatch.BulkResult).
type bulkResult struct {
	ID         string     `json:"id"`
	Action     string     `json:"action"`
	State      string     `json:"state"`
	DryRun     bool       `json:"dry_run"`
	ScheduleAt *time.Time `json:"schedule_at"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	CreatedBy  string     `json:"created_by"`
	Total      int        `json:"total"`
	Succeeded  int        `json:"succeeded"`
	Failed     int        `json:"failed"`
	Pending    int        `json:"pending"`
	Results    []struct {
		Collector string `json:"collector_id"`
		Status    string `json:"status"` // ok, failed, pending or (dry run) would
		CommandID string `json:"command_id"`
		State     string `json:"state"`
		Message   string `json:"message"`
		Error     string `json:"error"`
	} `json:"results"`
	Error   string `json:"error"`
	Request *struct {
		CollectorIDs []string `json:"collector_ids"`
		Selector     string   `json:"selector"`
	} `json:"request"`
}

// auditRow is one row of the audit trail.
type auditRow struct {
	At        time.Time `json:"at"`
	Actor     actor     `json:"actor"`
	Action    string    `json:"action"`
	Collector string    `json:"collector"`
	Reason    string    `json:"reason"`
	Result    string    `json:"result"`
	Error     string    `json:"error"`
	CommandID string    `json:"command_id"`
	BulkID    string    `json:"bulk_id"`
}

// rotation is GET /keys: the server's keys and a rotation under way
// (dispatch.Rotation).
type rotation struct {
	Active *struct {
		KID         string     `json:"kid"`
		PublicKey   string     `json:"public_key"`
		ActivatedAt *time.Time `json:"activated_at"`
	} `json:"active"`
	Next *struct {
		KID       string    `json:"kid"`
		PublicKey string    `json:"public_key"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"next"`
	InProgress bool `json:"in_progress"`
	Agents     []struct {
		Collector string `json:"collector"`
		State     string `json:"state"`
		CommandID string `json:"command_id"`
		Error     string `json:"error"`
	} `json:"agents"`
	Acknowledged int `json:"acknowledged"`
	Pending      int `json:"pending"`
	Missed       int `json:"missed"`
}
