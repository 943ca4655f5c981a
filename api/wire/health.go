package wire

import "encoding/json"

// AgentHealth is the answer of GET /collectors/{id}/health: the agent's own
// /healthz, labelled with where it came from. Body is the agent's answer as a
// JSON value when it was JSON (JSON true), else what it sent as a JSON string.
type AgentHealth struct {
	ID     string `json:"id"`
	URL    string `json:"url"`    // the URL asked, credentials redacted
	Status int    `json:"status"` // the agent's HTTP status
	// ContentType is the agent's own Content-Type, for information only: the
	// answer is always application/json.
	ContentType string          `json:"content_type,omitempty"`
	JSON        bool            `json:"json"`
	Body        json.RawMessage `json:"body"`
}
