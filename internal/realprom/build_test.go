package realprom

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPinnedVersions holds tools/promtools/go.mod to the Prometheus version
// the package names (the cache key and the docs use it).
func TestPinnedVersions(t *testing.T) {
	dir, err := toolsDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := PrometheusModule + " " + PrometheusVersion; !strings.Contains(string(b), want) {
		t.Errorf("tools/promtools/go.mod does not require %s", want)
	}
}

// TestBinariesRun builds (or finds) the four programs and runs each one's
// --version.
func TestBinariesRun(t *testing.T) {
	b := Binaries(t)
	for name, path := range map[string]string{"prometheus": b.Prometheus, "promtool": b.Promtool, "alertmanager": b.Alertmanager, "amtool": b.Amtool} {
		out, err := exec.Command(path, "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v\n%s", name, err, out)
			continue
		}
		if !strings.Contains(strings.ToLower(string(out)), "version") {
			t.Errorf("%s --version printed %q", name, out)
		}
	}
}
