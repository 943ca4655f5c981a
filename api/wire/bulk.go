package wire

import (
	"encoding/json"
	"time"
)

// BulkRequest is the body of POST /collectors/bulk-action: one action on
// many collectors.
type BulkRequest struct {
	Action string `json:"action"`
	// CollectorIDs or Selector (a PromQL series selector over the collectors'
	// target labels, e.g. {team="red",env=~"prod.*"}) choose the collectors;
	// Status narrows either to collectors in these statuses.
	CollectorIDs []string `json:"collector_ids,omitempty"`
	Selector     string   `json:"selector,omitempty"`
	Status       []string `json:"status,omitempty"`
	// Params are the action's parameters, as its single route takes them.
	Params     json.RawMessage `json:"params,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	DryRun     bool            `json:"dry_run,omitempty"`
	ScheduleAt *time.Time      `json:"schedule_at,omitempty"`
}

// BulkItem is the outcome of a bulk operation for one collector.
type BulkItem struct {
	Collector string `json:"collector_id"`
	// Status is ok, failed, pending (sent, not yet acknowledged: the agent may
	// be down; the command keeps being retried until it expires) or, in a dry
	// run, would.
	Status    string `json:"status"`
	Success   bool   `json:"success"`
	CommandID string `json:"command_id,omitempty"`
	State     string `json:"state,omitempty"`
	Message   string `json:"message,omitempty"`
	Error     string `json:"error,omitempty"`
}

// BulkResult is a bulk operation and its outcome, as POST
// /collectors/bulk-action answers it and GET /bulk-actions (a List) lists
// it: partial failure is normal. A dry run has no ID.
type BulkResult struct {
	ID         string       `json:"id"`
	Action     string       `json:"action"`
	State      string       `json:"state"` // one of the Bulk* states
	DryRun     bool         `json:"dry_run,omitempty"`
	ScheduleAt *time.Time   `json:"schedule_at,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	StartedAt  *time.Time   `json:"started_at,omitempty"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
	CreatedBy  string       `json:"created_by"`
	Total      int          `json:"total"`
	Succeeded  int          `json:"succeeded"`
	Failed     int          `json:"failed"`
	Pending    int          `json:"pending"`
	Results    []BulkItem   `json:"results"`
	Error      string       `json:"error,omitempty"`
	Request    *BulkRequest `json:"request,omitempty"`
}

// The states of a BulkResult.
const (
	BulkScheduled = "scheduled"
	BulkRunning   = "running"
	BulkDone      = "done"
	BulkCancelled = "cancelled"
	BulkFailed    = "failed"
)
