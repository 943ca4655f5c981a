package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DesiredState is what the operators want of a collector: the reconciler
// compares it with what the scrapes show and steers the agent back.
type DesiredState struct {
	Collector string
	// Run is DesiredPaused, DesiredRunning or "" (no wish: whatever the agent
	// does stands). Reason says why and ResumeExpected when a pause is expected
	// to end (informational).
	Run            string
	Reason         string
	ResumeExpected time.Time
	// Config holds the agent config keys applied through update-config, merged;
	// read back as a non-nil map.
	Config map[string]json.RawMessage
	// ConfigGeneration is the agent's config generation after the last confirmed
	// update; an agent seen below it has lost the applied changes.
	ConfigGeneration int64
	// Tags and Group are kept by the server only; they are not sent to the agent.
	Tags  []string
	Group string
	// UpdatedBy is the name of the actor of the last change.
	UpdatedBy string
	// UpdatedAt is when it last changed; the current time when zero.
	UpdatedAt time.Time
}

// Desired run states.
const (
	DesiredPaused  = "paused"
	DesiredRunning = "running"
)

// Paused reports whether the collector should be paused.
func (d *DesiredState) Paused() bool { return d.Run == DesiredPaused }

const desiredColumns = `collector, run_state, reason, resume_expected, config, config_generation, tags, grp, updated_by, updated_at`

// SetDesired inserts or replaces d by collector.
func (s *Store) SetDesired(ctx context.Context, d DesiredState) error {
	if err := setDesired(ctx, s.db, d); err != nil {
		return fmt.Errorf("set the desired state of %q: %w", d.Collector, err)
	}
	return nil
}

func setDesired(ctx context.Context, q dbtx, d DesiredState) error {
	if d.Collector == "" {
		return errors.New("empty collector")
	}
	cfg := []byte("{}")
	if len(d.Config) > 0 {
		var err error
		if cfg, err = json.Marshal(d.Config); err != nil {
			return fmt.Errorf("encode config: %w", err)
		}
	}
	tags := []byte("[]")
	if len(d.Tags) > 0 {
		var err error
		if tags, err = json.Marshal(d.Tags); err != nil {
			return fmt.Errorf("encode tags: %w", err)
		}
	}
	_, err := q.ExecContext(ctx, `INSERT INTO desired_state (`+desiredColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (collector) DO UPDATE SET
	run_state = excluded.run_state, reason = excluded.reason, resume_expected = excluded.resume_expected,
	config = excluded.config, config_generation = excluded.config_generation, tags = excluded.tags,
	grp = excluded.grp, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		text(d.Collector), text(d.Run), text(d.Reason), millis(d.ResumeExpected), text(string(cfg)), d.ConfigGeneration,
		text(string(tags)), text(d.Group), text(d.UpdatedBy), nowOr(d.UpdatedAt))
	return err
}

// DesiredStates returns every desired state, ordered by collector.
func (s *Store) DesiredStates(ctx context.Context) ([]DesiredState, error) {
	return queryAll(ctx, s, "read desired states", `SELECT `+desiredColumns+` FROM desired_state ORDER BY collector`, nil, scanDesired)
}

// DesiredStatesOf returns the desired states of the collectors given, ordered
// by collector: a replica reads again what another replica changed.
func (s *Store) DesiredStatesOf(ctx context.Context, collectors []string) ([]DesiredState, error) {
	if len(collectors) == 0 {
		return nil, nil
	}
	ph := make([]string, len(collectors))
	args := make([]any, len(collectors))
	for i, c := range collectors {
		ph[i], args[i] = fmt.Sprintf("$%d", i+1), c
	}
	return queryAll(ctx, s, "read desired states", `SELECT `+desiredColumns+` FROM desired_state WHERE collector IN (`+strings.Join(ph, ", ")+`) ORDER BY collector`, args, scanDesired)
}

func scanDesired(sc scanner) (DesiredState, error) {
	var (
		d         DesiredState
		resume    sql.NullInt64
		cfg, tags string
		updated   int64
	)
	if err := sc.Scan(&d.Collector, &d.Run, &d.Reason, &resume, &cfg, &d.ConfigGeneration, &tags, &d.Group, &d.UpdatedBy, &updated); err != nil {
		return DesiredState{}, err
	}
	d.ResumeExpected, d.UpdatedAt = fromMillis(resume), time.UnixMilli(updated).UTC()
	d.Config = map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(cfg), &d.Config); err != nil {
		return DesiredState{}, fmt.Errorf("decode the desired config of %s: %w", d.Collector, err)
	}
	if tags == "[]" {
		return d, nil
	}
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return DesiredState{}, fmt.Errorf("decode the tags of %s: %w", d.Collector, err)
	}
	return d, nil
}
