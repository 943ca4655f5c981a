package fleetbench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/internal/toolbin"
)

// The vmagent the benchmark measures corral against: built from the Go module
// proxy at this version, in tools/vmagent (its own module, so vmagent's
// dependencies stay out of corral's go.mod). A test checks that the two agree.
const (
	VMModule  = "github.com/VictoriaMetrics/VictoriaMetrics"
	VMVersion = "v1.151.0"
)

// vmagentCacheKey names the cached binary: the version, a hash of the tools
// module's go.mod and go.sum, and the Go toolchain that builds it.
func vmagentCacheKey(tools string) (string, error) {
	sum, err := toolbin.Hash(tools, runtime.Version()+runtime.GOOS+runtime.GOARCH)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("vmagent-%s_%s", VMVersion, sum), nil
}

// BuildVMAgent returns the path of vmagent, building it into
// $XDG_CACHE_HOME/corral-test-bin/<key>/vmagent on first use (about a minute
// here), and how long the build took (0 when cached).
func BuildVMAgent() (string, time.Duration, error) {
	tools, err := toolbin.ModuleDir("vmagent", "run from the corral checkout or pass --vmagent")
	if err != nil {
		return "", 0, err
	}
	key, err := vmagentCacheKey(tools)
	if err != nil {
		return "", 0, err
	}
	dir, err := toolbin.CacheDir(key)
	if err != nil {
		return "", 0, err
	}
	bin := filepath.Join(dir, "vmagent")
	if _, err := os.Stat(bin); err == nil {
		return bin, 0, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	unlock, err := toolbin.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", 0, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, 0, nil
	}
	start := time.Now()
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, VMModule+"/app/vmagent")
	cmd.Dir = tools
	// Its own module: no workspace, the pinned go.sum, and no toolchain
	// switch (it would not match the cache key).
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("build vmagent %s in %s: %w\n%s", VMVersion, tools, err, stderr.Bytes())
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", 0, err
	}
	return bin, time.Since(start), nil
}

// vmagentConfig is vmagent's -promscrape.config for the fleet: the same
// file_sd files, interval and timeout corral gets, gzip asked for or not.
func vmagentConfig(sdFiles []string, interval, timeout time.Duration, gzip bool) ([]byte, error) {
	job := map[string]any{
		"job_name":        "fleet",
		"file_sd_configs": []any{map[string]any{"files": sdFiles}},
	}
	if !gzip {
		job["disable_compression"] = true
	}
	return yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": interval.String(), "scrape_timeout": timeout.String()},
		"scrape_configs": []any{job},
	})
}

// vmagentArgs are vmagent's flags: its config, remote write to the bench's
// discard sink, its buffer folder, and its own HTTP port on loopback.
func vmagentArgs(cfg, sinkURL, tmpData string, port int) []string {
	return []string{
		"-promscrape.config=" + cfg,
		"-remoteWrite.url=" + sinkURL,
		"-remoteWrite.tmpDataPath=" + tmpData,
		fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port),
		"-loggerLevel=ERROR",
	}
}

// discard is the remote_write endpoint vmagent sends to: it reads every body
// and counts requests and bytes, so that vmagent pays its whole send path.
type discard struct {
	requests, bytes atomic.Int64
}

func (d *discard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	d.requests.Add(1)
	d.bytes.Add(n)
	w.WriteHeader(http.StatusNoContent)
}

// vmagentUp reads how many of vmagent's targets are up from its /metrics.
func vmagentUp(body string) float64 {
	var n float64
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, `vm_promscrape_targets{`) && strings.Contains(l, `status="up"`) {
			v, _ := metricValue(l, "vm_promscrape_targets{")
			n += v
		}
	}
	return n
}
