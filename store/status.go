package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// StatusChange is one row of a collector's status history.
type StatusChange struct {
	ID        int64  // assigned by the store; ignored by AppendStatusChanges
	Collector string // collector ID
	From, To  string // statuses before and after
	Reason    string // why the status changed
	// At is when the status changed; AppendStatusChanges uses the current time
	// when it is zero.
	At time.Time
	// Kind is KindStatus (the default when empty) for a change of status, or
	// KindReconcile for what the reconciler did to bring the agent back to its
	// desired state; From and To are then the observed and desired agent states.
	Kind string
	// Key, when not empty, makes the append idempotent: a change whose Key is
	// already stored is skipped. The Writer sets one on every change so that a
	// write retried after a lost commit acknowledgement is never stored twice.
	Key string
}

// Kinds of history rows.
const (
	KindStatus    = "status"
	KindReconcile = "reconcile"
)

// StatusWriter appends to the status history.
type StatusWriter interface {
	// AppendStatusChanges appends the changes, in order, in one transaction.
	AppendStatusChanges(ctx context.Context, cs []StatusChange) error
}

// StatusReader reads the status history.
type StatusReader interface {
	// StatusHistory returns the changes of collector ("" for every collector)
	// with from <= At <= to, newest first, at most limit of them (limit <= 0: no
	// limit). A zero from or to leaves that end of the range open.
	StatusHistory(ctx context.Context, collector string, from, to time.Time, limit int) ([]StatusChange, error)
}

const statusChangeCols = 7

func insertStatusChangesSQL(rows int, dialect string) string {
	return `INSERT INTO status_changes (collector, from_status, to_status, reason, at, dedup_key, kind) VALUES ` +
		valuesList(rows, statusChangeCols, dialect) + `
ON CONFLICT (dedup_key) DO NOTHING`
}

// AppendStatusChanges appends the changes in one transaction. Their IDs, assigned
// by the database, follow the order of cs.
func (s *Store) AppendStatusChanges(ctx context.Context, cs []StatusChange) error {
	if len(cs) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.execBatched(ctx, tx, len(cs), statusChangeCols, s.bulk.statusChanges, insertStatusChangesSQL, func(i int, a []any) error {
			c := &cs[i]
			at := now
			if !c.At.IsZero() {
				at = c.At.UnixMilli()
			}
			var key any
			if c.Key != "" {
				key = text(c.Key)
			}
			kind := c.Kind
			if kind == "" {
				kind = KindStatus
			}
			a[0], a[1], a[2], a[3], a[4], a[5], a[6] = text(c.Collector), text(c.From), text(c.To), text(c.Reason), at, key, text(kind)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("append %d status changes: %w", len(cs), err)
	}
	return nil
}

// StatusHistory returns the status changes of collector ("" for all collectors)
// with from <= At <= to, newest first (ties in the order they were appended,
// reversed), at most limit (limit <= 0: all). A zero from or to is an open end.
func (s *Store) StatusHistory(ctx context.Context, collector string, from, to time.Time, limit int) ([]StatusChange, error) {
	lim := int64(limit)
	if limit <= 0 {
		lim = math.MaxInt64
	}
	const cols = `SELECT id, collector, from_status, to_status, reason, at, dedup_key, kind FROM status_changes`
	var (
		rows *sql.Rows
		err  error
	)
	if collector == "" {
		rows, err = s.db.QueryContext(ctx, cols+`
WHERE at >= $1 AND at <= $2 ORDER BY at DESC, id DESC LIMIT $3`,
			bound(from, false), bound(to, true), lim)
	} else {
		rows, err = s.db.QueryContext(ctx, cols+`
WHERE collector = $1 AND at >= $2 AND at <= $3 ORDER BY at DESC, id DESC LIMIT $4`,
			text(collector), bound(from, false), bound(to, true), lim)
	}
	if err != nil {
		return nil, fmt.Errorf("read status history of %q: %w", collector, err)
	}
	defer rows.Close()
	var out []StatusChange
	for rows.Next() {
		var (
			c   StatusChange
			at  int64
			key sql.NullString
		)
		if err := rows.Scan(&c.ID, &c.Collector, &c.From, &c.To, &c.Reason, &at, &key, &c.Kind); err != nil {
			return nil, fmt.Errorf("read status history of %q: %w", collector, err)
		}
		c.At, c.Key = time.UnixMilli(at).UTC(), key.String
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read status history of %q: %w", collector, err)
	}
	return out, nil
}
