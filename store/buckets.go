package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/corral-dev/corral/fleet"
)

const bucketCols = 9

const bucketColumns = `collector, bucket_window, start_at, expected_items, actual_items, active_seconds,
	scrapes_ok, scrapes_total, updated_at`

func upsertBucketsSQL(rows int, dialect string) string {
	return `INSERT INTO buckets (` + bucketColumns + `) VALUES ` + valuesList(rows, bucketCols, dialect) + `
ON CONFLICT (collector, bucket_window, start_at) DO UPDATE SET
	expected_items = excluded.expected_items, actual_items = excluded.actual_items,
	active_seconds = excluded.active_seconds, scrapes_ok = excluded.scrapes_ok,
	scrapes_total = excluded.scrapes_total, updated_at = excluded.updated_at`
}

type bucketKey struct {
	collector, window string
	start             int64
}

func keyOf(b *fleet.Bucket) bucketKey {
	return bucketKey{text(b.Collector), text(b.Window), b.Start.UnixMilli()}
}

// UpsertBuckets inserts the buckets or replaces the values of the stored
// (collector, window, start) rows, all in one transaction. Of several buckets with
// the same key the last wins. A bucket with a NaN or infinite value is an error.
func (s *Store) UpsertBuckets(ctx context.Context, bs []fleet.Bucket) error {
	if len(bs) == 0 {
		return nil
	}
	for i := range bs {
		if b := &bs[i]; !finite(b.ExpectedItems, b.ActualItems, b.ActiveSeconds) {
			return fmt.Errorf("upsert buckets: bucket %s %s %s has a value that is not a finite number (expected %v, actual %v, active %v)",
				b.Collector, b.Window, b.Start.UTC().Format(time.RFC3339), b.ExpectedItems, b.ActualItems, b.ActiveSeconds)
		}
	}
	bs = lastPerKey(bs, keyOf)
	now := time.Now().UnixMilli()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.execBatched(ctx, tx, len(bs), bucketCols, s.bulk.buckets, upsertBucketsSQL, func(i int, a []any) error {
			b := &bs[i]
			updated := now
			if !b.UpdatedAt.IsZero() {
				updated = b.UpdatedAt.UnixMilli()
			}
			a[0], a[1], a[2] = text(b.Collector), text(b.Window), b.Start.UnixMilli()
			a[3], a[4], a[5] = b.ExpectedItems, b.ActualItems, b.ActiveSeconds
			a[6], a[7], a[8] = b.ScrapesOK, b.ScrapesTotal, updated
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("upsert %d buckets: %w", len(bs), err)
	}
	return nil
}

// Buckets returns the buckets of collector in window ("" for every window) with
// from <= Start <= to, oldest first (then by window). A zero from or to is an open
// end; from == to asks for the one bucket starting then.
func (s *Store) Buckets(ctx context.Context, collector, window string, from, to time.Time) ([]fleet.Bucket, error) {
	const cols = `SELECT ` + bucketColumns + ` FROM buckets`
	var (
		rows *sql.Rows
		err  error
	)
	if window == "" {
		rows, err = s.db.QueryContext(ctx, cols+`
WHERE collector = $1 AND start_at >= $2 AND start_at <= $3 ORDER BY start_at, bucket_window`,
			text(collector), bound(from, false), bound(to, true))
	} else {
		rows, err = s.db.QueryContext(ctx, cols+`
WHERE collector = $1 AND bucket_window = $2 AND start_at >= $3 AND start_at <= $4 ORDER BY start_at`,
			text(collector), text(window), bound(from, false), bound(to, true))
	}
	if err != nil {
		return nil, fmt.Errorf("read buckets of %q: %w", collector, err)
	}
	defer rows.Close()
	var out []fleet.Bucket
	for rows.Next() {
		var (
			b              fleet.Bucket
			start, updated int64
		)
		if err := rows.Scan(&b.Collector, &b.Window, &start, &b.ExpectedItems, &b.ActualItems, &b.ActiveSeconds,
			&b.ScrapesOK, &b.ScrapesTotal, &updated); err != nil {
			return nil, fmt.Errorf("read buckets of %q: %w", collector, err)
		}
		b.Start, b.UpdatedAt = time.UnixMilli(start).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read buckets of %q: %w", collector, err)
	}
	return out, nil
}
