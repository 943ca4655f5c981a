package wire

import "time"

// Rotation answers GET /keys and the rotation routes: the server's signing
// keys and a rotation under way.
type Rotation struct {
	Active     *KeyInfo        `json:"active"`
	Next       *KeyInfo        `json:"next,omitempty"`
	InProgress bool            `json:"in_progress"`
	Agents     []RotationAgent `json:"agents"`
	// Counts of Agents by state.
	Acknowledged int `json:"acknowledged"`
	Pending      int `json:"pending"`
	Missed       int `json:"missed"`
}

// KeyInfo describes a server key; the private key never leaves the server.
type KeyInfo struct {
	KID         string     `json:"kid"`
	PublicKey   string     `json:"public_key"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
}

// RotationAgent is one agent's part in a key rotation.
type RotationAgent struct {
	Collector string `json:"collector"`
	// State is acknowledged, pending (still being delivered) or missed (its
	// command failed or expired, or it joined after the rotation started).
	State     string `json:"state"`
	CommandID string `json:"command_id,omitempty"`
	Error     string `json:"error,omitempty"`
}
