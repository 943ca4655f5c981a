package wire

import (
	"encoding/json"
	"time"
)

// LogRecord is one agent log record as GET /collectors/{id}/logs (a Page)
// and the collector:log event carry it. Within a stream (which changes when
// the agent restarts) the cursor only grows.
type LogRecord struct {
	ID         int64           `json:"id,omitempty"` // the store's; absent in live events
	Collector  string          `json:"collector"`
	Stream     string          `json:"stream"`
	Cursor     uint64          `json:"cursor"`
	Time       time.Time       `json:"time"`
	Level      string          `json:"level"`
	Message    string          `json:"msg"`
	Attrs      json.RawMessage `json:"attrs"` // an object
	ReceivedAt time.Time       `json:"received_at,omitzero"`
}
