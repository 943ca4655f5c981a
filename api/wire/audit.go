package wire

import (
	"encoding/json"
	"time"
)

// AuditEntry is one row of the audit trail, GET /audit (a Page, or with
// format=json an array of every matching row).
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Actor      Actor           `json:"actor"`
	Remote     string          `json:"remote,omitempty"`
	Action     string          `json:"action"`
	Collector  string          `json:"collector,omitempty"`
	Org        string          `json:"org,omitempty"`
	Team       string          `json:"team,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Params     json.RawMessage `json:"params"` // secrets are stored as xxxxx
	Result     string          `json:"result"`
	Error      string          `json:"error,omitempty"`
	CommandID  string          `json:"command_id,omitempty"`
	BulkID     string          `json:"bulk_id,omitempty"`
	// Target is who or what a change that is not about a collector changed:
	// a username, "org:ID", "team:ORG/ID".
	Target string `json:"target,omitempty"`
}
