package testdb_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/corral-dev/corral/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func pgConnect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"select", "SELECT 'hello'", "hello"},
		{"pg_stat_statements", "CREATE EXTENSION pg_stat_statements; SELECT count(*)::text FROM pg_stat_statements WHERE false", "0"},
		{"utf8", "SELECT pg_encoding_to_char(encoding)::text FROM pg_database WHERE datname = current_database()", "UTF8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := pgConnect(t, testdb.Postgres(t))
			var got string
			if strings.Contains(tt.query, ";") {
				stmts := strings.Split(tt.query, ";")
				for _, s := range stmts[:len(stmts)-1] {
					if _, err := conn.Exec(ctx, s); err != nil {
						t.Fatalf("%s: %v", s, err)
					}
				}
				tt.query = stmts[len(stmts)-1]
			}
			if err := conn.QueryRow(ctx, tt.query).Scan(&got); err != nil {
				t.Fatalf("%s: %v", tt.query, err)
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

func TestPostgresDatabasesAreFreshAndDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var first string
	t.Run("create", func(t *testing.T) {
		a, b := testdb.Postgres(t), testdb.Postgres(t)
		if a == b {
			t.Fatalf("two calls returned the same database %s", a)
		}
		conn := pgConnect(t, a)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&first); err != nil {
			t.Fatal(err)
		}
	})
	// The databases of the subtest are gone now.
	conn := pgConnect(t, testdb.Postgres(t))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", first).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", first)
	}
}

func TestPostgresServerStopStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.PostgresServer(t, "shared_preload_libraries=")
	url := s.URL(t)
	conn := pgConnect(t, url)
	var libs string
	if err := conn.QueryRow(ctx, "SHOW shared_preload_libraries").Scan(&libs); err != nil {
		t.Fatal(err)
	}
	if libs != "" {
		t.Errorf("shared_preload_libraries = %q, want it empty as asked", libs)
	}
	conn.Close(ctx)

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if c, err := pgx.Connect(cctx, url); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	conn = pgConnect(t, url)
	if err := conn.Ping(ctx); err != nil {
		t.Errorf("ping after restart: %v", err)
	}
}

func TestPostgresServerGoneAfterItsTest(t *testing.T) {
	t.Parallel()
	var admin string
	t.Run("server", func(t *testing.T) {
		s := testdb.PostgresServer(t)
		admin = s.AdminURL()
		pgConnect(t, s.URL(t))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, admin); err == nil {
		c.Close(context.Background())
		t.Fatal("the server of a finished test still accepts connections")
	}
}

func mariaConnect(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"select", "SELECT 'hello'", "hello"},
		{"database", "SELECT LEFT(DATABASE(), 5)", "test_"},
		{"performance_schema", "SELECT @@performance_schema", "1"},
		{"slow log table", "SELECT CONCAT(@@log_output, ' ', @@long_query_time)", "TABLE 0.000000"},
		{"slow log on", "SELECT COUNT(*) FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'SLOW_QUERY_LOG' AND VARIABLE_VALUE = 'ON'", "1"},
		{"root over tcp", "SELECT CURRENT_USER()", "root@127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := mariaConnect(t, testdb.MariaDB(t))
			var got string
			if err := db.QueryRowContext(ctx, tt.query).Scan(&got); err != nil {
				t.Fatalf("%s: %v", tt.query, err)
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

func TestMariaDBServerOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdb.MariaDBServer(t, "--performance-schema=OFF")
	dsn := s.DSN(t)
	db := mariaConnect(t, dsn)
	var ps int
	if err := db.QueryRowContext(ctx, "SELECT @@performance_schema").Scan(&ps); err != nil {
		t.Fatal(err)
	}
	if ps != 0 {
		t.Errorf("performance_schema = %d, want 0 as asked", ps)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping of a stopped server succeeded")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := mariaConnect(t, dsn).PingContext(ctx); err != nil {
		t.Errorf("ping after restart: %v", err)
	}
}
