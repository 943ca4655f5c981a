package wire

import "time"

// Alert is one alert of corral's built-in alerter, as GET /api/v1/alerts
// lists it and the alert:firing and alert:resolved events carry it.
type Alert struct {
	Name string `json:"name"`
	// State is pending (the condition holds, not yet for its for:), firing,
	// or resolved (kept, and sent to Alertmanager, for 15 minutes).
	State       string            `json:"state"`
	Severity    string            `json:"severity"`
	Collector   string            `json:"collector,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	ActiveAt    time.Time         `json:"active_at"`
	FiredAt     *time.Time        `json:"fired_at,omitempty"`
	ResolvedAt  *time.Time        `json:"resolved_at,omitempty"`
	LastSentAt  *time.Time        `json:"last_sent_at,omitempty"`
}

// The states of an Alert.
const (
	AlertPending  = "pending"
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// The events of the alerter; their data is the Alert.
const (
	EventAlertFiring   = "alert:firing"
	EventAlertResolved = "alert:resolved"
)
