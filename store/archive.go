package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ArchivedCollector is an unregistered collector. While it is not re-registered
// discovery ignores it — a registry collector is archived in the registry, a
// file_sd or static one is dropped even while still listed — and its history,
// completeness buckets, logs and audit rows are either kept until RetainUntil
// (MetricsArchived) or were deleted when it was unregistered.
type ArchivedCollector struct {
	ID        string // the archive's own ID: a collector may be archived many times
	Collector string
	Provider  string // registry, file_sd or static
	Source    string
	URL       string
	Labels    map[string]string // read back as a non-nil map
	Org, Team string
	Reason    string
	// ArchivedBy is the name of who unregistered it.
	ArchivedBy string
	// ArchivedAt is when; the current time when zero.
	ArchivedAt      time.Time
	MetricsArchived bool
	// RetainUntil is when the archived data is purged (MetricsArchived only).
	RetainUntil time.Time
	// PurgedAt is when the data was deleted: at unregistration without
	// archiving, or by the retention purge.
	PurgedAt time.Time
	// DeleteAudit asks for the collector's audit rows to go with its data.
	DeleteAudit bool
	// Records counts the data rows (history, buckets, logs) when it was archived.
	Records        int64
	ReregisteredAt time.Time
	ReregisteredBy string
}

// Active reports whether the collector is still unregistered.
func (a *ArchivedCollector) Active() bool { return a.ReregisteredAt.IsZero() }

// dataTable is a table holding rows of one collector, named in column; rows
// count the data archived (a cursor is bookkeeping, not data).
type dataTable struct {
	table, column string
	rows          bool
}

// collectorData are the tables holding a collector's data; unregistering
// without archiving and the retention purge delete from them.
var collectorData = []dataTable{
	{"status_changes", "collector", true},
	{"buckets", "collector", true},
	{"collector_logs", "collector", true},
	{"log_cursors", "collector", false},
	{"collectors", "id", true},
}

// auditData are the tables of a collector's trail: kept unless DeleteAudit.
var auditData = []dataTable{
	{"audit_log", "collector", true},
	{"commands", "collector", true},
}

const archivedColumns = `id, collector, provider, source, url, labels, org, team, reason, archived_by, archived_at,
	metrics_archived, retain_until, purged_at, delete_audit, records, reregistered_at, reregistered_by`

// CountCollectorData counts the data rows of collector: history, buckets, logs.
func (s *Store) CountCollectorData(ctx context.Context, collector string) (int64, error) {
	var total int64
	for _, d := range collectorData {
		if !d.rows {
			continue
		}
		var n int64
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+d.table+` WHERE `+d.column+` = $1`, text(collector)).Scan(&n); err != nil {
			return 0, fmt.Errorf("count the %s rows of %q: %w", d.table, collector, err)
		}
		total += n
	}
	return total, nil
}

func deleteCollectorData(ctx context.Context, q dbtx, collector string, withAudit bool) error {
	tables := collectorData
	if withAudit {
		tables = append(append([]dataTable{}, collectorData...), auditData...)
	}
	for _, d := range tables {
		if _, err := q.ExecContext(ctx, `DELETE FROM `+d.table+` WHERE `+d.column+` = $1`, text(collector)); err != nil {
			return fmt.Errorf("delete the %s rows of %q: %w", d.table, collector, err)
		}
	}
	return nil
}

// Unregister archives a, in one transaction: it records the archive, archives
// the registry row of a registry collector, drops the desired state, fails the
// collector's open commands, deletes its data now unless a.MetricsArchived (and
// its audit rows with it when a.DeleteAudit), and appends audit. A collector
// that is already unregistered is an error wrapping ErrExists.
func (s *Store) Unregister(ctx context.Context, a ArchivedCollector, audit AuditEntry) error {
	if a.ID == "" || a.Collector == "" {
		return errors.New("unregister: the archive needs an ID and a collector")
	}
	at := nowOr(a.ArchivedAt)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		purged := a.PurgedAt
		if !a.MetricsArchived && purged.IsZero() {
			purged = time.UnixMilli(at)
		}
		labels, err := encodeMap(a.Labels)
		if err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO archived_collectors (`+archivedColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, '')
ON CONFLICT DO NOTHING`, text(a.ID), text(a.Collector), text(a.Provider), text(a.Source), text(a.URL), text(labels),
			text(a.Org), text(a.Team), text(a.Reason), text(a.ArchivedBy), at, b2i(a.MetricsArchived), millis(a.RetainUntil),
			millis(purged), b2i(a.DeleteAudit), a.Records))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: %s is unregistered already", ErrExists, a.Collector)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE registered_collectors SET archived_at = $2 WHERE id = $1 AND archived_at IS NULL`,
			text(a.Collector), at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM desired_state WHERE collector = $1`, text(a.Collector)); err != nil {
			return err
		}
		if err := failOpenCommands(ctx, tx, a.Collector, "the collector was unregistered", at); err != nil {
			return err
		}
		if !a.MetricsArchived {
			if err := deleteCollectorData(ctx, tx, a.Collector, a.DeleteAudit); err != nil {
				return err
			}
		}
		_, err = appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return fmt.Errorf("unregister %q: %w", a.Collector, err)
	}
	return nil
}

func failOpenCommands(ctx context.Context, tx *sql.Tx, collector, why string, at int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM commands WHERE collector = $1 AND state IN ('pending', 'sent', 'acknowledged')`, text(collector))
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE commands SET state = 'failed', error = $2, finished_at = $3, updated_at = $3 WHERE id = $1`,
			id, why, at); err != nil {
			return err
		}
		if err := finishCommandAudit(ctx, tx, id, CommandFailed, why, time.UnixMilli(at)); err != nil {
			return err
		}
	}
	return nil
}

// ArchivedCollectors returns the archives, newest first; only the collectors
// still unregistered unless all.
func (s *Store) ArchivedCollectors(ctx context.Context, all bool) ([]ArchivedCollector, error) {
	cond := ` WHERE reregistered_at IS NULL`
	if all {
		cond = ""
	}
	return queryAll(ctx, s, "read archived collectors", `SELECT `+archivedColumns+` FROM archived_collectors`+cond+
		` ORDER BY archived_at DESC, id`, nil, scanArchived)
}

// ArchivedCollector returns archive id, or an error wrapping ErrNotFound.
func (s *Store) ArchivedCollector(ctx context.Context, id string) (ArchivedCollector, error) {
	a, err := scanArchived(s.db.QueryRowContext(ctx, `SELECT `+archivedColumns+` FROM archived_collectors WHERE id = $1`, text(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return ArchivedCollector{}, fmt.Errorf("archived collector %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return ArchivedCollector{}, fmt.Errorf("read archived collector %q: %w", id, err)
	}
	return a, nil
}

func scanArchived(sc scanner) (ArchivedCollector, error) {
	var (
		a                     ArchivedCollector
		labels                string
		at                    int64
		metrics, delAudit     int64
		retain, purged, rereg sql.NullInt64
	)
	if err := sc.Scan(&a.ID, &a.Collector, &a.Provider, &a.Source, &a.URL, &labels, &a.Org, &a.Team, &a.Reason,
		&a.ArchivedBy, &at, &metrics, &retain, &purged, &delAudit, &a.Records, &rereg, &a.ReregisteredBy); err != nil {
		return ArchivedCollector{}, err
	}
	var err error
	if a.Labels, err = decodeMap(labels, "labels of archived collector "+a.ID); err != nil {
		return ArchivedCollector{}, err
	}
	a.ArchivedAt = time.UnixMilli(at).UTC()
	a.MetricsArchived, a.DeleteAudit = metrics != 0, delAudit != 0
	a.RetainUntil, a.PurgedAt, a.ReregisteredAt = fromMillis(retain), fromMillis(purged), fromMillis(rereg)
	return a, nil
}

// Reregistration is how an archived collector comes back.
type Reregistration struct {
	ArchiveID string
	By        string    // name of who re-registers it
	At        time.Time // the current time when zero
	// Fresh deletes what is left of the archived data (its history starts over);
	// otherwise it is restored as it was.
	Fresh bool
	// Registry, for a registry collector, is its registry row to activate again
	// (with the new or the archived token).
	Registry *RegisteredCollector
}

// Reregister brings an archived collector back, in one transaction: it marks the
// archive re-registered, deletes the archived data when r.Fresh, activates
// r.Registry, and appends audit. An archive that was re-registered already is an
// error wrapping ErrNotFound, as is an unknown one.
func (s *Store) Reregister(ctx context.Context, r Reregistration, audit AuditEntry) (ArchivedCollector, error) {
	var a ArchivedCollector
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		a, err = scanArchived(tx.QueryRowContext(ctx, `SELECT `+archivedColumns+` FROM archived_collectors WHERE id = $1`, text(r.ArchiveID)))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !a.Active()) {
			return fmt.Errorf("archived collector %q: %w (not archived, or re-registered already)", r.ArchiveID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		at := nowOr(r.At)
		if _, err := tx.ExecContext(ctx, `UPDATE archived_collectors SET reregistered_at = $2, reregistered_by = $3 WHERE id = $1`,
			text(a.ID), at, text(r.By)); err != nil {
			return err
		}
		a.ReregisteredAt, a.ReregisteredBy = time.UnixMilli(at).UTC(), r.By
		if r.Fresh {
			if err := deleteCollectorData(ctx, tx, a.Collector, false); err != nil {
				return err
			}
		}
		if r.Registry != nil {
			if err := register(ctx, tx, *r.Registry); err != nil {
				return fmt.Errorf("registry: %w", err)
			}
		}
		_, err = appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return ArchivedCollector{}, fmt.Errorf("re-register: %w", err)
	}
	return a, nil
}

// PurgeExpiredArchives deletes the data of every collector still unregistered
// whose archive's retention ended by now (and its audit rows where asked), marks
// the archives purged, and returns them. A re-registered collector took its
// data back and is left alone.
func (s *Store) PurgeExpiredArchives(ctx context.Context, now time.Time) ([]ArchivedCollector, error) {
	due, err := queryAll(ctx, s, "read expired archives", `SELECT `+archivedColumns+` FROM archived_collectors
WHERE purged_at IS NULL AND reregistered_at IS NULL AND retain_until IS NOT NULL AND retain_until <= $1
ORDER BY retain_until, id`,
		[]any{now.UnixMilli()}, scanArchived)
	if err != nil {
		return nil, err
	}
	var done []ArchivedCollector
	for _, a := range due {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if err := deleteCollectorData(ctx, tx, a.Collector, a.DeleteAudit); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE archived_collectors SET purged_at = $2 WHERE id = $1`, text(a.ID), now.UnixMilli())
			return err
		})
		if err != nil {
			return done, fmt.Errorf("purge the archive of %q: %w", a.Collector, err)
		}
		a.PurgedAt = now.UTC().Truncate(time.Millisecond)
		done = append(done, a)
	}
	return done, nil
}
