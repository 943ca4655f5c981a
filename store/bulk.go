package store

import (
	"context"
	"database/sql"
	"fmt"
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

// inTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
