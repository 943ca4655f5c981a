package control

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// BackfillMaxFutureSkew is how far in the future a backfill's "to" may lie, for
// clocks that differ between the server and the agent.
const BackfillMaxFutureSkew = time.Minute

// BackfillArgs are the args of backfill: the range [From, To) to collect again.
type BackfillArgs struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// ParseBackfillArgs decodes {"from": RFC3339, "to": RFC3339}. Both are required,
// from must be before to, and to must not be in the future (beyond
// BackfillMaxFutureSkew).
func ParseBackfillArgs(raw json.RawMessage) (BackfillArgs, error) {
	return parseBackfillArgs(raw, time.Now())
}

func parseBackfillArgs(raw json.RawMessage, now time.Time) (BackfillArgs, error) {
	if raw == nil || isNull(raw) {
		return BackfillArgs{}, errors.New(`args: required: {"from": RFC 3339 time, "to": RFC 3339 time}`)
	}
	var fromRaw, toRaw json.RawMessage
	if err := decodeObject(raw, map[string]*json.RawMessage{"from": &fromRaw, "to": &toRaw}); err != nil {
		return BackfillArgs{}, fmt.Errorf("args: %w", err)
	}
	var a BackfillArgs
	var err error
	if a.From, err = timeField("from", fromRaw); err != nil {
		return BackfillArgs{}, err
	}
	if a.To, err = timeField("to", toRaw); err != nil {
		return BackfillArgs{}, err
	}
	if !a.From.Before(a.To) {
		return BackfillArgs{}, fmt.Errorf("from %s is not before to %s", a.From.Format(time.RFC3339), a.To.Format(time.RFC3339))
	}
	if limit := now.Add(BackfillMaxFutureSkew); a.To.After(limit) {
		return BackfillArgs{}, fmt.Errorf("to %s is in the future (now %s); a backfill covers the past only", a.To.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return a, nil
}

func timeField(name string, raw json.RawMessage) (time.Time, error) {
	s, err := stringField(name, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: must be an RFC 3339 time string such as \"2024-05-01T00:00:00Z\"", name)
	}
	if s == "" {
		return time.Time{}, fmt.Errorf("%s: required (RFC 3339 time such as \"2024-05-01T00:00:00Z\")", name)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %s is not an RFC 3339 time such as \"2024-05-01T00:00:00Z\"", name, quote(s))
	}
	return t, nil
}

// RotateArgs are the args of rotate_credentials. All fields are optional; with
// none, the agent only reloads the collector's own credentials.
type RotateArgs struct {
	// AddKeys are public keys to trust from now on ([ParsePublicKey] forms).
	AddKeys []string `json:"add_keys,omitempty"`
	// RemoveKeys are public keys to stop trusting.
	RemoveKeys []string `json:"remove_keys,omitempty"`
	// MetricsTokenSHA256 is the hex SHA-256 of the new bearer token for /metrics.
	MetricsTokenSHA256 string `json:"metrics_token_sha256,omitempty"`
}

// ParseRotateArgs decodes and checks rotate_credentials args: every key must parse
// and the token hash must be 64 hex characters. Absent or null args are empty.
func ParseRotateArgs(raw json.RawMessage) (RotateArgs, error) {
	if raw == nil || isNull(raw) {
		return RotateArgs{}, nil
	}
	var addRaw, removeRaw, hashRaw json.RawMessage
	if err := decodeObject(raw, map[string]*json.RawMessage{"add_keys": &addRaw, "remove_keys": &removeRaw, "metrics_token_sha256": &hashRaw}); err != nil {
		return RotateArgs{}, fmt.Errorf("args: %w", err)
	}
	var a RotateArgs
	var err error
	if a.AddKeys, err = keyList("add_keys", addRaw); err != nil {
		return RotateArgs{}, err
	}
	if a.RemoveKeys, err = keyList("remove_keys", removeRaw); err != nil {
		return RotateArgs{}, err
	}
	if a.MetricsTokenSHA256, err = stringField("metrics_token_sha256", hashRaw); err != nil {
		return RotateArgs{}, err
	}
	if h := a.MetricsTokenSHA256; h != "" {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return RotateArgs{}, errors.New("metrics_token_sha256: must be 64 hex characters (the output of sha256sum on the token)")
		}
	}
	return a, nil
}

func keyList(name string, raw json.RawMessage) ([]string, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	var keys []string
	if raw[0] != '[' || json.Unmarshal(raw, &keys) != nil {
		return nil, fmt.Errorf("%s: must be a list of public key strings", name)
	}
	for i, k := range keys {
		if _, err := ParsePublicKey(k); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
	}
	return keys, nil
}
