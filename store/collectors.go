package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CollectorState is the latest known state of a collector, written as the server
// evaluates scrapes and read back after a restart. Zero times are stored as
// unknown and read back as zero; the others come back in UTC, to the millisecond.
type CollectorState struct {
	ID       string            // the collector's identity (its collector label)
	Job      string            // scrape job
	Instance string            // host:port scraped
	URL      string            // full URL scraped
	Labels   map[string]string // target labels; read back as a non-nil map
	Provider string            // discovery provider that found it (static, file_sd, registry)
	Source   string            // discovery source (file, registry id …)

	Status      string    // online, offline, stale … (see DESIGN.md)
	Reason      string    // why it has that status
	StatusSince time.Time // when it entered the status
	LastSeen    time.Time // last successful scrape
	LastItem    time.Time // event time of the newest item collected
	// FirstSeen is when the collector was first seen; once stored, later upserts
	// keep the stored value.
	FirstSeen time.Time
	// UpdatedAt is when the state was written; UpsertCollectors sets it to the
	// current time when it is zero.
	UpdatedAt time.Time
}

// CollectorWriter stores collector states.
type CollectorWriter interface {
	// UpsertCollectors inserts or replaces the states, by ID, in one transaction.
	UpsertCollectors(ctx context.Context, cs []CollectorState) error
}

// CollectorReader reads collector states.
type CollectorReader interface {
	// Collectors returns every stored state, ordered by ID.
	Collectors(ctx context.Context) ([]CollectorState, error)
	// Collector returns the state of one collector, or an error wrapping ErrNotFound.
	Collector(ctx context.Context, id string) (CollectorState, error)
}

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
func (s *Store) UpsertCollectors(ctx context.Context, cs []CollectorState) error {
	if len(cs) == 0 {
		return nil
	}
	cs = lastPerKey(cs, func(c *CollectorState) string { return text(c.ID) })
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
			a[7], a[8] = text(c.Status), text(c.Reason)
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
func (s *Store) Collectors(ctx context.Context) ([]CollectorState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+collectorColumns+` FROM collectors ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list collectors: %w", err)
	}
	defer rows.Close()
	var out []CollectorState
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
func (s *Store) Collector(ctx context.Context, id string) (CollectorState, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+collectorColumns+` FROM collectors WHERE id = $1`, text(id))
	c, err := scanCollector(row)
	if errors.Is(err, sql.ErrNoRows) {
		return CollectorState{}, fmt.Errorf("collector %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return CollectorState{}, fmt.Errorf("read collector %q: %w", id, err)
	}
	return c, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanCollector(r scanner) (CollectorState, error) {
	var (
		c                        CollectorState
		labels                   string
		since, seen, item, first sql.NullInt64
		updated                  int64
	)
	err := r.Scan(&c.ID, &c.Job, &c.Instance, &c.URL, &labels, &c.Provider, &c.Source, &c.Status, &c.Reason,
		&since, &seen, &item, &first, &updated)
	if err != nil {
		return CollectorState{}, err
	}
	if c.Labels, err = decodeMap(labels, "labels of collector "+c.ID); err != nil {
		return CollectorState{}, err
	}
	c.StatusSince, c.LastSeen, c.LastItem, c.FirstSeen = fromMillis(since), fromMillis(seen), fromMillis(item), fromMillis(first)
	c.UpdatedAt = time.UnixMilli(updated).UTC()
	return c, nil
}

// lastPerKey returns xs without the elements whose key comes again later: a
// multi-row upsert must not touch one row twice (PostgreSQL refuses). xs itself is
// returned when its keys are distinct.
func lastPerKey[T any, K comparable](xs []T, key func(*T) K) []T {
	if len(xs) < 2 {
		return xs
	}
	last := make(map[K]int, len(xs))
	for i := range xs {
		last[key(&xs[i])] = i
	}
	if len(last) == len(xs) {
		return xs
	}
	out := make([]T, 0, len(last))
	for i := range xs {
		if last[key(&xs[i])] == i {
			out = append(out, xs[i])
		}
	}
	return out
}
