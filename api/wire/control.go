package wire

import (
	"encoding/json"
	"time"
)

// Actor is who did something: a user (kind user, or token for an API
// token), or one of the server's own components (reconciler, scheduler,
// system).
type Actor struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	UserID string `json:"user_id,omitempty"`
}

// Command is one command to one agent, as GET /commands/{id}, the actions and
// the command:updated event show it.
type Command struct {
	ID            string          `json:"id"`
	Collector     string          `json:"collector"`
	Command       string          `json:"command"` // the agent's name for it: pause, resume, backfill …
	Args          json.RawMessage `json:"args,omitempty"`
	State         string          `json:"state"` // one of the Command* states
	Attempts      int             `json:"attempts"`
	Error         string          `json:"error,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`   // the agent's, e.g. a test_connection's
	Progress      *float64        `json:"progress,omitempty"` // a backfill's, 0 to 1
	Reason        string          `json:"reason,omitempty"`
	Actor         Actor           `json:"actor"`
	BulkID        string          `json:"bulk_id,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	SentAt        *time.Time      `json:"sent_at,omitempty"`
	AcknowledgeAt *time.Time      `json:"acknowledged_at,omitempty"`
	FinishedAt    *time.Time      `json:"finished_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"` // while pending
	ExpiresAt     time.Time       `json:"expires_at"`
}

// The states of a Command: pending → sent → acknowledged → confirmed, or
// failed or expired on the way. The last three are final.
const (
	CommandPending      = "pending"
	CommandSent         = "sent"
	CommandAcknowledged = "acknowledged"
	CommandConfirmed    = "confirmed"
	CommandFailed       = "failed"
	CommandExpired      = "expired"
)

// Desired is a collector's desired state: what operators asked for through
// corral, which the server keeps and the reconciler restores.
type Desired struct {
	RunState         string                     `json:"run_state,omitempty"`
	Reason           string                     `json:"reason,omitempty"`
	ResumeExpected   *time.Time                 `json:"resume_expected,omitempty"`
	Config           map[string]json.RawMessage `json:"config,omitempty"`
	ConfigGeneration int64                      `json:"config_generation,omitempty"`
	Tags             []string                   `json:"tags"`
	Group            string                     `json:"group,omitempty"`
	UpdatedBy        string                     `json:"updated_by"`
	UpdatedAt        time.Time                  `json:"updated_at"`
}

// CommandResponse answers an action, POST /collectors/{id}/{action}: the
// command it sent, if any, and the desired state it changed, if it did.
type CommandResponse struct {
	Success bool     `json:"success"`
	Message string   `json:"message"`
	Command *Command `json:"command,omitempty"`
	Desired *Desired `json:"desired,omitempty"`
}

// ScrapeResult answers POST /collectors/{id}/scrape: the scrape the server
// made at once, and the collector's status after it.
type ScrapeResult struct {
	Collector        string    `json:"collector"`
	Up               bool      `json:"up"`
	ScrapedAt        time.Time `json:"scraped_at"`
	Duration         float64   `json:"duration_seconds"`
	Samples          int       `json:"samples"`
	Bytes            int       `json:"bytes"`
	Error            string    `json:"error,omitempty"`
	Reason           string    `json:"reason,omitempty"`      // why it failed, e.g. refused
	AgentState       string    `json:"agent_state,omitempty"` // of a good scrape
	Status           string    `json:"status"`
	StatusReason     string    `json:"status_reason"`
	ConfigGeneration *float64  `json:"config_generation,omitempty"`
	ItemsCollected   *float64  `json:"items_collected,omitempty"`
}
