package wire

import "time"

// Event is one message of the WebSocket GET /api/v1/ws: an event of a
// collector, or one of the server's own messages (the Message* types). D is
// the type of Data: the server sends any value; a client decodes
// json.RawMessage and reads Data by Type.
type Event[D any] struct {
	Type      string    `json:"type"`
	Collector string    `json:"collector,omitempty"`
	Reason    string    `json:"reason,omitempty"` // of a resync: why events were dropped
	Time      time.Time `json:"time"`
	Data      D         `json:"data,omitempty"`
}

// The types of the events of a collector, and what their data holds. A
// client ignores a type it does not know.
const (
	EventConnected     = "collector:connected"      // status
	EventDisconnected  = "collector:disconnected"   // reason
	EventHeartbeat     = "collector:heartbeat"      // each good scrape: status, scrape_duration_seconds, samples, freshness_seconds
	EventMetrics       = "collector:metrics"        // reserved: corral does not send it yet
	EventError         = "collector:error"          // reason
	EventStatusChanged = "collector:status-changed" // old, new, reason
	EventRestarted     = "collector:restarted"      // once a scrape confirmed it: command_id, by, reason, previous_start_time, start_time
	EventStopped       = "collector:stopped"        // once a scrape confirmed it: command_id, by, reason
	EventResumed       = "collector:resumed"        // once a scrape confirmed it: command_id, by, reason
	EventRegistered    = "collector:registered"     // by, and url, or archive_id and restored
	EventUnregistered  = "collector:unregistered"   // archive_id, reason, by, metrics_archived, records
	EventCommandUpdate = "command:updated"          // the Command, at each change of state or progress
	// EventLog is one log record pulled from an agent: the LogRecord, without
	// its id. It is opt-in: only a subscription that names it in its types
	// receives it.
	EventLog = "collector:log"
)

// The types of the server's own messages, and what their data holds.
const (
	MessageSubscribed   = "subscribed"   // id, subscriptions
	MessageUnsubscribed = "unsubscribed" // removed, subscriptions
	MessageError        = "error"        // the client's message was refused: error
	MessageResync       = "resync"       // events were dropped, reload from the REST API: dropped
)
