package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// States of a bulk operation.
const (
	BulkScheduled = wire.BulkScheduled // waits for ScheduleAt
	BulkRunning   = wire.BulkRunning
	BulkDone      = wire.BulkDone // ran; its items may still have failed (see Result)
	BulkCancelled = wire.BulkCancelled
	BulkFailed    = wire.BulkFailed // could not run at all (e.g. its owner lost the right)
)

// BulkOperation is one bulk action over many collectors. A scheduled one is
// kept until it runs, so it outlives a server restart.
type BulkOperation struct {
	ID     string
	Action string
	// Request is the operation as asked for (collectors or selector, params,
	// reason), for running it later.
	Request json.RawMessage
	State   string
	// ScheduleAt is when a scheduled operation runs; zero for one run at once.
	ScheduleAt time.Time
	// CreatedAt is when it was asked for; the current time when zero.
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	UpdatedAt  time.Time // set by the store
	// Actor asked for it; a scheduled run acts on its behalf with its rights
	// at the time of the run.
	Actor  Actor
	Result json.RawMessage // per-item results once run
	Error  string
}

const bulkColumns = `id, action, request, state, schedule_at, created_at, started_at, finished_at, updated_at,
	actor_kind, actor, actor_id, result, error`

// CreateBulk stores b and appends audit, in one transaction; an existing ID is an
// error wrapping ErrExists.
func (s *Store) CreateBulk(ctx context.Context, b BulkOperation, audit AuditEntry) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMilli()
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO bulk_operations (`+bulkColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
			text(b.ID), text(b.Action), text(rawOr(b.Request, "{}")), text(b.State), millis(b.ScheduleAt), nowOr(b.CreatedAt),
			millis(b.StartedAt), millis(b.FinishedAt), now, text(b.Actor.Kind), text(b.Actor.Name), text(b.Actor.UserID),
			text(rawOr(b.Result, "")), text(b.Error)))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrExists
		}
		audit.BulkID = b.ID
		_, err = appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return fmt.Errorf("create bulk operation %q: %w", b.ID, err)
	}
	return nil
}

// ClaimBulk moves operation id from scheduled to running; false when it is not
// scheduled (any more): someone else runs it, or it was cancelled.
func (s *Store) ClaimBulk(ctx context.Context, id string, at time.Time) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE bulk_operations SET state = 'running', started_at = $2, updated_at = $2
WHERE id = $1 AND state = 'scheduled'`, text(id), nowOr(at)))
	if err != nil {
		return false, fmt.Errorf("claim bulk operation %q: %w", id, err)
	}
	return n == 1, nil
}

// FinishBulk records the outcome of operation id.
func (s *Store) FinishBulk(ctx context.Context, id, state string, result json.RawMessage, errText string, at time.Time) error {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE bulk_operations SET state = $2, result = $3, error = $4,
	finished_at = $5, updated_at = $5, started_at = COALESCE(started_at, $5)
WHERE id = $1`, text(id), text(state), text(rawOr(result, "")), text(errText), nowOr(at)))
	if err != nil {
		return fmt.Errorf("finish bulk operation %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("finish bulk operation %q: %w", id, ErrNotFound)
	}
	return nil
}

// CancelBulk cancels operation id if it is still scheduled, appending audit;
// false when it is not scheduled.
func (s *Store) CancelBulk(ctx context.Context, id string, at time.Time, audit AuditEntry) (bool, error) {
	var done bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `UPDATE bulk_operations SET state = 'cancelled', finished_at = $2, updated_at = $2
WHERE id = $1 AND state = 'scheduled'`, text(id), nowOr(at)))
		if err != nil || n == 0 {
			return err
		}
		done = true
		audit.BulkID = id
		_, err = appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("cancel bulk operation %q: %w", id, err)
	}
	return done, nil
}

// Bulk returns operation id, or an error wrapping ErrNotFound.
func (s *Store) Bulk(ctx context.Context, id string) (BulkOperation, error) {
	b, err := scanBulk(s.db.QueryRowContext(ctx, `SELECT `+bulkColumns+` FROM bulk_operations WHERE id = $1`, text(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return BulkOperation{}, fmt.Errorf("bulk operation %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return BulkOperation{}, fmt.Errorf("read bulk operation %q: %w", id, err)
	}
	return b, nil
}

// Bulks returns the operations in state ("" for every state), newest first, at
// most limit (≤ 0: all).
func (s *Store) Bulks(ctx context.Context, state string, limit int) ([]BulkOperation, error) {
	q := `SELECT ` + bulkColumns + ` FROM bulk_operations`
	var args []any
	if state != "" {
		q += ` WHERE state = $1`
		args = append(args, text(state))
	}
	args = append(args, limitOrAll(limit))
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return queryAll(ctx, s, "read bulk operations", q, args, scanBulk)
}

func scanBulk(sc scanner) (BulkOperation, error) {
	var (
		b                        BulkOperation
		req, result              string
		sched, started, finished sql.NullInt64
		created, updated         int64
	)
	if err := sc.Scan(&b.ID, &b.Action, &req, &b.State, &sched, &created, &started, &finished, &updated,
		&b.Actor.Kind, &b.Actor.Name, &b.Actor.UserID, &result, &b.Error); err != nil {
		return BulkOperation{}, err
	}
	b.Request = json.RawMessage(req)
	if result != "" {
		b.Result = json.RawMessage(result)
	}
	b.ScheduleAt, b.StartedAt, b.FinishedAt = fromMillis(sched), fromMillis(started), fromMillis(finished)
	b.CreatedAt, b.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return b, nil
}
