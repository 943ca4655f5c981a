package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Actor is who did something: a person through the UI or the API, or one of the
// server's own components acting on its own or on a person's behalf.
type Actor struct {
	// Kind is one of the Actor* constants.
	Kind string `json:"kind"`
	// Name is the username, or the component ("reconciler", "purge").
	Name string `json:"name"`
	// UserID is the user's ID: the user acting, or on whose behalf a scheduled
	// operation runs. "" for a component acting on its own.
	UserID string `json:"user_id,omitempty"`
}

// Kinds of actor.
const (
	ActorUser       = "user"       // a person, with a browser session
	ActorToken      = "token"      // a person's API token (corralctl, scripts)
	ActorScheduler  = "scheduler"  // a scheduled bulk operation, on behalf of UserID
	ActorReconciler = "reconciler" // brought an agent back to its desired state
	ActorSystem     = "system"     // a background job (retention purge, key rotation)
)

// AuditEntry is one row of the audit trail: one action by one actor on one
// target. It is appended when the action is requested and finished once its
// outcome is known; it is never changed otherwise.
type AuditEntry struct {
	ID int64 // assigned by the store
	// At is when the action was requested; the current time when zero.
	At         time.Time
	FinishedAt time.Time // zero while the outcome is pending
	Actor      Actor
	Remote     string // the client's address, for actions over the API
	Action     string // stop, resume, restart, register, unregister, bulk-action …
	Collector  string // the target; "" for actions on no collector (key rotation)
	// Target is who or what an action changed when it is not a collector: the
	// username of a user, "org:ID", "team:ORG/ID".
	Target    string
	Org, Team string // the target's scope when the action was taken
	Reason    string
	// Params are the action's parameters, secrets already redacted by the caller;
	// nil is stored as {}.
	Params    json.RawMessage
	Result    string // pending, ok, scheduled, confirmed, failed, expired
	Error     string
	CommandID string
	BulkID    string
}

// Audit results besides the final command states.
const (
	ResultPending = "pending"
	ResultOK      = "ok"
	ResultFailed  = "failed"
)

// Scope is part of what a reader may see: the rows of org, or of one team
// of it when Team is set (audit rows and commands carry their collector's).
type Scope struct {
	Org, Team string
}

// AuditFilter selects audit rows. Zero fields match everything.
type AuditFilter struct {
	Collector, Action, Result string
	Target                    string
	Actor                     string // the actor's name
	Since, Until              time.Time
	// All lets every row through; otherwise only the rows within Scopes.
	All    bool
	Scopes []Scope
	Limit  int // ≤ 0: no limit
	Offset int
	// Ascending returns the oldest first; the default is newest first.
	Ascending bool
}

const auditColumns = `id, at, finished_at, actor_kind, actor, actor_id, remote, action, collector, org, team,
	reason, params, result, error, command_id, bulk_id, target`

// AppendAudit appends e and returns its ID.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (int64, error) {
	id, err := appendAudit(ctx, s.db, e)
	if err != nil {
		return 0, fmt.Errorf("append audit %s %s: %w", e.Action, e.Collector, err)
	}
	return id, nil
}

func appendAudit(ctx context.Context, q dbtx, e AuditEntry) (int64, error) {
	params := "{}"
	if len(e.Params) > 0 && string(e.Params) != "null" {
		params = string(e.Params)
	}
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO audit_log (at, finished_at, actor_kind, actor, actor_id, remote, action,
	collector, org, team, reason, params, result, error, command_id, bulk_id, target)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
		nowOr(e.At), millis(e.FinishedAt), text(e.Actor.Kind), text(e.Actor.Name), text(e.Actor.UserID), text(e.Remote),
		text(e.Action), text(e.Collector), text(e.Org), text(e.Team), text(e.Reason), text(params), text(e.Result),
		text(e.Error), text(e.CommandID), text(e.BulkID), text(e.Target)).Scan(&id)
	return id, err
}

// FinishAudit records the outcome of row id, once: a finished row is left as it is.
func (s *Store) FinishAudit(ctx context.Context, id int64, result, errText string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE audit_log SET result = $2, error = $3, finished_at = $4
WHERE id = $1 AND finished_at IS NULL`, id, text(result), text(errText), nowOr(at)); err != nil {
		return fmt.Errorf("finish audit row %d: %w", id, err)
	}
	return nil
}

// finishCommandAudit finishes the audit row of a command.
func finishCommandAudit(ctx context.Context, q dbtx, commandID, result, errText string, at time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE audit_log SET result = $2, error = $3, finished_at = $4
WHERE command_id = $1 AND finished_at IS NULL`, text(commandID), text(result), text(errText), nowOr(at))
	return err
}

// Audit returns the rows matching f, newest first unless f.Ascending, and the
// number of matching rows in all.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error) {
	if !f.All && len(f.Scopes) == 0 {
		return nil, 0, nil
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range []struct{ col, v string }{{"collector", f.Collector}, {"action", f.Action}, {"result", f.Result}, {"actor", f.Actor}, {"target", f.Target}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(text(c.v)))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since.UnixMilli()))
	}
	if !f.Until.IsZero() {
		where = append(where, "at <= "+arg(f.Until.UnixMilli()))
	}
	if !f.All {
		where = append(where, scopeCond(f.Scopes, arg))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM audit_log"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit rows: %w", err)
	}
	order := " ORDER BY at DESC, id DESC"
	if f.Ascending {
		order = " ORDER BY at, id"
	}
	page := " LIMIT " + arg(limitOrAll(f.Limit)) + " OFFSET " + arg(int64(max(0, f.Offset)))
	out, err := queryAll(ctx, s, "read audit rows", "SELECT "+auditColumns+" FROM audit_log"+cond+order+page, args, scanAudit)
	return out, total, err
}

func scanAudit(sc scanner) (AuditEntry, error) {
	var (
		e        AuditEntry
		at       int64
		finished sql.NullInt64
		params   string
	)
	if err := sc.Scan(&e.ID, &at, &finished, &e.Actor.Kind, &e.Actor.Name, &e.Actor.UserID, &e.Remote, &e.Action,
		&e.Collector, &e.Org, &e.Team, &e.Reason, &params, &e.Result, &e.Error, &e.CommandID, &e.BulkID, &e.Target); err != nil {
		return AuditEntry{}, err
	}
	e.At, e.FinishedAt = time.UnixMilli(at).UTC(), fromMillis(finished)
	e.Params = json.RawMessage(params)
	return e, nil
}

// DeleteAudit deletes every audit row of collector and returns how many.
func (s *Store) DeleteAudit(ctx context.Context, collector string) (int64, error) {
	n, err := affected(s.db.ExecContext(ctx, `DELETE FROM audit_log WHERE collector = $1`, text(collector)))
	if err != nil {
		return 0, fmt.Errorf("delete the audit rows of %q: %w", collector, err)
	}
	return n, nil
}
