package exporter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/corral-dev/corral/exporter/control"
)

// persistedState is what survives an agent restart: the operator's decisions
// (paused, applied config changes, rotated credentials) and the recent command
// answers that make commands idempotent by id across a restart.
type persistedState struct {
	Paused             bool                       `json:"paused"`
	PausedReason       string                     `json:"paused_reason,omitempty"`
	ConfigGeneration   int64                      `json:"config_generation"`
	ConfigPatch        map[string]json.RawMessage `json:"config_patch,omitempty"`
	AddedKeys          []string                   `json:"added_keys,omitempty"`
	RemovedKeys        []string                   `json:"removed_keys,omitempty"`
	MetricsTokenSHA256 string                     `json:"metrics_token_sha256,omitempty"`
	// ReplacedConfigToken is the SHA-256 of the config's token (listen.metrics_token_*)
	// that MetricsTokenSHA256 replaced, "" when the config had none. At start a
	// config whose token differs is newer than the rotation (re-registered, say)
	// and wins. nil: a state file from before this was kept; the rotation wins.
	ReplacedConfigToken *string            `json:"replaced_config_token_sha256,omitempty"`
	PrevTokenSHA256     string             `json:"prev_token_sha256,omitempty"`
	PrevTokenUntil      time.Time          `json:"prev_token_until,omitzero"`
	LastItemTimestamp   float64            `json:"last_item_timestamp,omitempty"`
	RecentCommands      []control.Response `json:"recent_commands,omitempty"`
}

func loadState(path string) (persistedState, error) {
	var s persistedState
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read state file: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("state file %s is corrupt (%v); move it away to start with a clean state", path, err)
	}
	return s, nil
}

// saveState writes the state atomically: a crash leaves either the old or the new file.
func saveState(path string, s persistedState) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}
