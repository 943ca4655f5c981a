// Package interop runs corral with the real programs its users run beside it:
// Prometheus scraping corral with the documented jobs and the shipped rules,
// Alertmanager receiving the alerts, promtool linting the exposition, and the
// Grafana dashboards' queries evaluated by that Prometheus. The programs are
// built from the Go module proxy at pinned versions by internal/realprom.
package interop

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// bin holds corral and corral-agent, built from this checkout by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "corral-interop-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/corral", "./cmd/corral-agent")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "interop: building the binaries:", err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
