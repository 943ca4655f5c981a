package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/corral-dev/corral/fleet"
)

const statusChangeCols = 7

func insertStatusChangesSQL(rows int, dialect string) string {
	return `INSERT INTO status_changes (collector, from_status, to_status, reason, at, dedup_key, kind) VALUES ` +
		valuesList(rows, statusChangeCols, dialect) + `
ON CONFLICT (dedup_key) DO NOTHING`
}

// AppendStatusChanges appends the changes in one transaction. Their IDs, assigned
// by the database, follow the order of cs.
func (s *Store) AppendStatusChanges(ctx context.Context, cs []fleet.StatusChange) error {
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
				kind = fleet.KindStatus
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
func (s *Store) StatusHistory(ctx context.Context, collector string, from, to time.Time, limit int) ([]fleet.StatusChange, error) {
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
	var out []fleet.StatusChange
	for rows.Next() {
		var (
			c   fleet.StatusChange
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
