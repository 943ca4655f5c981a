// Package realprom gives tests the real Prometheus, promtool, Alertmanager
// and amtool: built once from the Go module proxy at the versions pinned in
// tools/promtools/go.mod into a cache shared by every test package and run
// (a file lock keeps parallel packages from building twice), or taken from
// the environment (CORRAL_TEST_PROMETHEUS, CORRAL_TEST_PROMTOOL,
// CORRAL_TEST_ALERTMANAGER, CORRAL_TEST_AMTOOL) when installed ones should
// be used. StartAlertmanager and StartPrometheus run them on a free loopback
// port with a temporary config and data folder, and stop them on cleanup.
package realprom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/toolbin"
)

// The pinned versions. tools/promtools/go.mod holds Prometheus's (a test
// checks); Alertmanager builds in its own module at this version.
const (
	PrometheusModule    = "github.com/prometheus/prometheus"
	PrometheusVersion   = "v0.316.0"
	AlertmanagerModule  = "github.com/prometheus/alertmanager"
	AlertmanagerVersion = "v0.35.0"
)

// Bins are the paths of the four programs.
type Bins struct {
	Prometheus, Promtool, Alertmanager, Amtool string
	// Built is how long this process spent building them (0: cached or installed).
	Built time.Duration
}

// program is one binary and its env override.
type program struct {
	name, env string
}

var programs = []program{
	{"prometheus", "CORRAL_TEST_PROMETHEUS"},
	{"promtool", "CORRAL_TEST_PROMTOOL"},
	{"alertmanager", "CORRAL_TEST_ALERTMANAGER"},
	{"amtool", "CORRAL_TEST_AMTOOL"},
}

var (
	once    sync.Once
	bins    Bins
	binsErr error
)

// Binaries returns the programs, building them on first use in this
// process (minutes the first time on a machine, then a stat). A failure
// fails the test: these tests exist to run the real programs.
func Binaries(t testing.TB) Bins {
	t.Helper()
	once.Do(func() { bins, binsErr = resolve() })
	if binsErr != nil {
		t.Fatalf("realprom: %v", binsErr)
	}
	if bins.Built > 0 {
		t.Logf("realprom: built prometheus %s and alertmanager %s in %s", PrometheusVersion, AlertmanagerVersion, bins.Built.Round(time.Second))
	}
	return bins
}

func resolve() (Bins, error) {
	paths := map[string]string{}
	var missing []program
	for _, p := range programs {
		if v := os.Getenv(p.env); v != "" {
			if _, err := os.Stat(v); err != nil {
				return Bins{}, fmt.Errorf("%s=%s: %w", p.env, v, err)
			}
			paths[p.name] = v
			continue
		}
		missing = append(missing, p)
	}
	var built time.Duration
	if len(missing) > 0 {
		dir, d, err := build()
		if err != nil {
			return Bins{}, err
		}
		built = d
		for _, p := range missing {
			paths[p.name] = filepath.Join(dir, p.name)
		}
	}
	return Bins{Prometheus: paths["prometheus"], Promtool: paths["promtool"], Alertmanager: paths["alertmanager"], Amtool: paths["amtool"], Built: built}, nil
}

// toolsDir finds tools/promtools from the working directory.
func toolsDir() (string, error) {
	return toolbin.ModuleDir("promtools", "run the tests from the corral checkout or set CORRAL_TEST_PROMETHEUS, CORRAL_TEST_PROMTOOL, CORRAL_TEST_ALERTMANAGER and CORRAL_TEST_AMTOOL")
}

// CacheDir is where the binaries of this tools module and Go version go:
// $XDG_CACHE_HOME/corral-test-bin/<versions>-<hash of go.mod and go.sum>.
func CacheDir() (string, error) {
	tools, err := toolsDir()
	if err != nil {
		return "", err
	}
	sum, err := toolbin.Hash(tools, AlertmanagerVersion+runtime.Version()+runtime.GOOS+runtime.GOARCH+"remove_all_sd,enable_dns_sd")
	if err != nil {
		return "", err
	}
	return toolbin.CacheDir(fmt.Sprintf("prometheus-%s_alertmanager-%s_%s", PrometheusVersion, AlertmanagerVersion, sum))
}

// build makes the four binaries in the cache unless they are there, under
// a lock other test processes wait on. It returns the folder and how long
// the build took here (0 when another process or run had built them).
//
// Prometheus and promtool build in tools/promtools, which pins their
// version and go.sum. Alertmanager and amtool build in a copy of
// Alertmanager's own module, with the go.sum it was released with: put in
// one module with Prometheus, the newer dependencies Prometheus needs
// break it (automemlimit's API changed). The copy is needed because the
// module as published lacks the web UI's generated files (ui/app/dist,
// made by npm in Alertmanager's release build), which its ui package
// embeds; the copy gets a placeholder page. The API, which the tests use,
// is untouched.
func build() (string, time.Duration, error) {
	tools, err := toolsDir()
	if err != nil {
		return "", 0, err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", 0, err
	}
	unlock, err := toolbin.Lock(filepath.Join(cache, ".lock"))
	if err != nil {
		return "", 0, fmt.Errorf("lock %s: %w", cache, err)
	}
	defer unlock()
	bin := filepath.Join(cache, "bin")
	if _, err := os.Stat(filepath.Join(bin, ".complete")); err == nil {
		return bin, 0, nil
	}
	start := time.Now()
	tmp := filepath.Join(cache, "bin.tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", 0, err
	}
	out := "-o=" + tmp + string(os.PathSeparator)
	// remove_all_sd, enable_dns_sd: Prometheus's own build tags for a
	// binary with only the file, http, static and DNS discovery the tests
	// use; the cloud SDKs of the other SDs are most of its build time.
	if _, err := goCmd(tools, "build", "-trimpath", "-tags=remove_all_sd,enable_dns_sd", out,
		PrometheusModule+"/cmd/prometheus", PrometheusModule+"/cmd/promtool"); err != nil {
		return "", 0, fmt.Errorf("build prometheus %s: %w", PrometheusVersion, err)
	}
	am, err := alertmanagerSource(tools, cache)
	if err != nil {
		return "", 0, err
	}
	if _, err := goCmd(am, "build", "-trimpath", out, "./cmd/alertmanager", "./cmd/amtool"); err != nil {
		return "", 0, fmt.Errorf("build alertmanager %s: %w", AlertmanagerVersion, err)
	}
	took := time.Since(start)
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(fmt.Sprintf("built in %s with %s\n", took.Round(time.Second), runtime.Version())), 0o644); err != nil {
		return "", 0, err
	}
	os.RemoveAll(bin)
	if err := os.Rename(tmp, bin); err != nil {
		return "", 0, err
	}
	return bin, took, nil
}

// alertmanagerSource downloads Alertmanager's module (through the module
// proxy, checked against the checksum database) and copies it into the
// cache with a placeholder web UI; it returns the copy's folder.
func alertmanagerSource(tools, cache string) (string, error) {
	out, err := goCmd(tools, "mod", "download", "-json", AlertmanagerModule+"@"+AlertmanagerVersion)
	if err != nil {
		return "", err
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no folder in %q", AlertmanagerModule, out)
	}
	src := filepath.Join(cache, "src", "alertmanager@"+AlertmanagerVersion)
	os.RemoveAll(src)
	if err := copyTree(m.Dir, src); err != nil {
		return "", fmt.Errorf("copy %s: %w", m.Dir, err)
	}
	page := []byte("<!doctype html><title>Alertmanager</title><p>The web UI is not part of this test build; the API is.</p>\n")
	for _, d := range []string{"elm", "mantine"} {
		dir := filepath.Join(src, "ui", "app", "dist", d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
			return "", err
		}
	}
	return src, nil
}

func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// The tools module is its own module: no workspace, and a toolchain
	// switch would not match the cache key.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// copyTree copies a folder of regular files, writable (the module cache's are not).
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
