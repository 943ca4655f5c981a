package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/corral-dev/corral/fleet"
)

const collectorCols = 14

const collectorColumns = `id, job, instance, url, labels, provider, source, status, reason,
	status_since, last_seen, last_item, first_seen, updated_at`

func upsertCollectorsSQL(rows int, dialect string) string {
	return `INSERT INTO collectors (` + collectorColumns + `) VALUES ` + valuesList(rows, collectorCols, dialect) + `
ON CONFLICT (id) DO UPDATE SET
	job = excluded.job, instance = excluded.instance, url = excluded.url,
	labels = excluded.labels, provider = excluded.provider, source = excluded.source,
	status = excluded.status, reason = excluded.reason, status_since = excluded.status_since,
	last_seen = excluded.last_seen, last_item = excluded.last_item,
	first_seen = COALESCE(collectors.first_seen, excluded.first_seen),
	updated_at = excluded.updated_at`
}

// UpsertCollectors inserts or replaces the states by ID, all in one transaction.
// Of several states with the same ID the last wins.
func (s *Store) UpsertCollectors(ctx context.Context, cs []fleet.CollectorState) error {
	if len(cs) == 0 {
		return nil
	}
	cs = lastPerKey(cs, func(c *fleet.CollectorState) string { return text(c.ID) })
	now := time.Now().UnixMilli()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.execBatched(ctx, tx, len(cs), collectorCols, s.bulk.collectors, upsertCollectorsSQL, func(i int, a []any) error {
			c := &cs[i]
			labels, err := encodeMap(c.Labels)
			if err != nil {
				return fmt.Errorf("encode labels of %s: %w", c.ID, err)
			}
			updated := now
			if !c.UpdatedAt.IsZero() {
				updated = c.UpdatedAt.UnixMilli()
			}
			a[0], a[1], a[2], a[3] = text(c.ID), text(c.Job), text(c.Instance), text(c.URL)
			a[4], a[5], a[6] = text(labels), text(c.Provider), text(c.Source)
			a[7], a[8] = text(string(c.Status)), text(c.Reason)
			a[9], a[10], a[11], a[12] = millis(c.StatusSince), millis(c.LastSeen), millis(c.LastItem), millis(c.FirstSeen)
			a[13] = updated
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("upsert %d collectors: %w", len(cs), err)
	}
	return nil
}

// Collectors returns every stored collector state, ordered by ID.
func (s *Store) Collectors(ctx context.Context) ([]fleet.CollectorState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+collectorColumns+` FROM collectors ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list collectors: %w", err)
	}
	defer rows.Close()
	var out []fleet.CollectorState
	for rows.Next() {
		c, err := scanCollector(rows)
		if err != nil {
			return nil, fmt.Errorf("list collectors: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list collectors: %w", err)
	}
	return out, nil
}

// Collector returns the state of collector id, or an error wrapping ErrNotFound.
func (s *Store) Collector(ctx context.Context, id string) (fleet.CollectorState, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+collectorColumns+` FROM collectors WHERE id = $1`, text(id))
	c, err := scanCollector(row)
	if errors.Is(err, sql.ErrNoRows) {
		return fleet.CollectorState{}, fmt.Errorf("collector %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fleet.CollectorState{}, fmt.Errorf("read collector %q: %w", id, err)
	}
	return c, nil
}

func scanCollector(r scanner) (fleet.CollectorState, error) {
	var (
		c                        fleet.CollectorState
		labels                   string
		since, seen, item, first sql.NullInt64
		updated                  int64
	)
	err := r.Scan(&c.ID, &c.Job, &c.Instance, &c.URL, &labels, &c.Provider, &c.Source, &c.Status, &c.Reason,
		&since, &seen, &item, &first, &updated)
	if err != nil {
		return fleet.CollectorState{}, err
	}
	if c.Labels, err = decodeMap(labels, "labels of collector "+c.ID); err != nil {
		return fleet.CollectorState{}, err
	}
	c.StatusSince, c.LastSeen, c.LastItem, c.FirstSeen = fromMillis(since), fromMillis(seen), fromMillis(item), fromMillis(first)
	c.UpdatedAt = time.UnixMilli(updated).UTC()
	return c, nil
}
