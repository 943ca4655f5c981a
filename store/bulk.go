package store

import (
	"context"
	"database/sql"
)

// rowsPerStatement is how many rows one multi-row INSERT carries. At 14 columns
// that is 7,000 parameters, well under SQLite's 32,766 and PostgreSQL's 65,535.
// BenchmarkUpsertCollectors10k measured 100 to 2,000 rows within 20% of each
// other on both backends, 100 and 250 the slowest; one statement per row would
// mean 10,000 round trips to PostgreSQL.
const rowsPerStatement = 500

// bulkStatements are the multi-row statements of full batches, built once per
// Store; a shorter last batch builds its own.
type bulkStatements struct {
	collectors, statusChanges, buckets, logs string
}

func newBulkStatements(dialect string) bulkStatements {
	return bulkStatements{
		collectors:    upsertCollectorsSQL(rowsPerStatement, dialect),
		statusChanges: insertStatusChangesSQL(rowsPerStatement, dialect),
		buckets:       upsertBucketsSQL(rowsPerStatement, dialect),
		logs:          insertLogsSQL(rowsPerStatement, dialect),
	}
}

// execBatched inserts n rows of cols columns in statements of up to
// rowsPerStatement rows: full is the statement of a full batch, build makes one
// for fewer rows in the given dialect, and row fills the arguments of row i into
// args (len cols).
func (s *Store) execBatched(ctx context.Context, tx *sql.Tx, n, cols int, full string, build func(rows int, dialect string) string, row func(i int, args []any) error) error {
	_, err := s.execBatchedN(ctx, tx, n, cols, full, build, row)
	return err
}

// execBatchedN is execBatched returning the number of rows the statements
// changed (an INSERT … ON CONFLICT DO NOTHING counts only the new rows).
func (s *Store) execBatchedN(ctx context.Context, tx *sql.Tx, n, cols int, full string, build func(rows int, dialect string) string, row func(i int, args []any) error) (int64, error) {
	var changed int64
	args := make([]any, min(n, rowsPerStatement)*cols)
	for start := 0; start < n; start += rowsPerStatement {
		end := min(start+rowsPerStatement, n)
		rows := end - start
		a := args[:rows*cols]
		for i := range rows {
			if err := row(start+i, a[i*cols:(i+1)*cols]); err != nil {
				return changed, err
			}
		}
		q := full
		if rows != rowsPerStatement {
			q = build(rows, s.dialect)
		}
		k, err := affected(tx.ExecContext(ctx, q, a...))
		if err != nil {
			return changed, err
		}
		changed += k
	}
	return changed, nil
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
