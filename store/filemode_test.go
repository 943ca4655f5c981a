package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestSQLiteFileModes: the store holds the private key and the scrape tokens, so
// a new SQLite file, its -wal and -shm are 0600 in a 0700 directory; an existing
// file or directory open to others is kept as it is, with a warning.
func TestSQLiteFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	ctx := context.Background()
	mode := func(t *testing.T, path string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}

	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "corral.db")
		var logs logBuffer
		s, err := Open(ctx, "sqlite:"+path, slogTo(&logs))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateOrg(ctx, Org{ID: "o", Name: "o"}); err != nil { // a write: the WAL is in use
			t.Fatal(err)
		}
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("data directory: %#o, want 0700", m)
		}
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if m := mode(t, f); m != 0o600 {
				t.Errorf("%s: %#o, want 0600", filepath.Base(f), m)
			}
		}
		if l := logs.lines("level=WARN"); len(l) != 0 {
			t.Errorf("warnings on a new store: %q", l)
		}
	})

	t.Run("existing open to others", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "corral.db")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil { // past the umask
			t.Fatal(err)
		}
		var logs logBuffer
		s, err := Open(ctx, "sqlite:"+path, slogTo(&logs))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if m := mode(t, path); m != 0o644 {
			t.Errorf("existing file: %#o, want it kept at 0644", m)
		}
		if l := logs.lines(`path=` + path + ` mode=0644`); len(l) != 1 {
			t.Errorf("want one warning about the file; log:\n%s", logs.buf.String())
		}
		if l := logs.lines(`path=` + dir + ` mode=0755`); len(l) != 1 {
			t.Errorf("want one warning about the directory; log:\n%s", logs.buf.String())
		}
	})
}
