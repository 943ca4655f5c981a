package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStorageURLRelativeToFile: a relative SQLite path in the file resolves
// from the file's folder, as every other path does (issue 12); what is not a
// relative SQLite path, and the default when the file sets none, stay as given.
func TestStorageURLRelativeToFile(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:data/corral.db", "sqlite:/etc/corral/data/corral.db"},
		{"sqlite:../data/corral.db", "sqlite:/etc/data/corral.db"},
		{"sqlite://data/corral.db", "sqlite:///etc/corral/data/corral.db"},
		{"file:corral.db?_pragma=busy_timeout(5000)", "file:/etc/corral/corral.db?_pragma=busy_timeout(5000)"},
		{"corral.db", "/etc/corral/corral.db"},
		{"sqlite:/var/lib/corral/corral.db", "sqlite:/var/lib/corral/corral.db"},
		{"sqlite::memory:", "sqlite::memory:"},
		{"postgres://corral@db/corral", "postgres://corral@db/corral"},
		{"postgresql://corral@db/corral?sslmode=disable", "postgresql://corral@db/corral?sslmode=disable"},
		{"host=db dbname=corral", "host=db dbname=corral"},
	} {
		c, err := Parse([]byte("storage:\n  url: \""+tc.in+"\"\n"), "/etc/corral")
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if c.Storage.URL != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, c.Storage.URL, tc.want)
		}
	}
	for _, doc := range []string{"", "storage: {}\n", "storage: {url: \"\"}\n", "global: {}\n"} {
		c, err := Parse([]byte(doc), "/etc/corral")
		if err != nil {
			t.Fatal(err)
		}
		if c.Storage.URL != DefaultStorageURL {
			t.Errorf("%q: %s, want the default %s, relative to the working directory", doc, c.Storage.URL, DefaultStorageURL)
		}
	}
	if got := Default().Storage.URL; got != DefaultStorageURL {
		t.Errorf("Default: %s, want %s", got, DefaultStorageURL)
	}

	// Load gives Parse the file's folder, whatever the working directory.
	dir := t.TempDir()
	path := filepath.Join(dir, "corral.yml")
	if err := os.WriteFile(path, []byte("storage:\n  url: sqlite:data/corral.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "sqlite:" + filepath.Join(dir, "data/corral.db"); c.Storage.URL != want {
		t.Errorf("Load: %s, want %s", c.Storage.URL, want)
	}
}
