package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the versioned schema files, one folder per dialect. A change
// to the schema is a new numbered file in both folders, never an edit of an
// applied one.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrate applies the migrations the database has not seen yet. On PostgreSQL a
// session advisory lock keeps two servers starting at once from racing.
func (s *Store) migrate(ctx context.Context) error {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == DialectPostgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	opts = append(opts,
		goose.WithDisableGlobalRegistry(true),
		// goose logs "no migrations to run" at every start; say only what changed.
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	)
	p, err := goose.NewProvider(dialect, s.db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s schema: %w", s.dialect, err)
	}
	for _, r := range results {
		s.log.Info("store schema migrated", "dialect", s.dialect, "version", r.Source.Version,
			"file", r.Source.Path, "duration_seconds", r.Duration.Seconds())
	}
	return nil
}
