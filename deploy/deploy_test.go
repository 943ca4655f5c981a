// Package deploy holds the systemd units, the docker-compose setup and their
// tests; the Dockerfile is at the repository's root.
package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/internal/realprom"
)

// TestSystemdUnits: both units pass systemd-analyze verify (with ExecStart
// pointed at an executable that exists here) and keep their hardening.
// verify reads the unit files offline and needs no running systemd, so it
// works in a container; without the program the test fails, as the
// database tests do without their servers: .ci/install-deps installs it.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): install the Debian package systemd (.ci/install-deps does it)", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"corral.service", "corral-agent@.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range []string{"ProtectSystem=strict", "StateDirectory=", "Restart=on-failure", "DynamicUser=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", unit, want)
			}
		}
		// verify checks that ExecStart's binary exists: use this test's own.
		text = strings.NewReplacer("/usr/local/bin/corral-agent", exe, "/usr/local/bin/corral", exe).Replace(text)
		name := strings.Replace(unit, "@.", "@test.", 1) // a template is verified as an instance
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
}

// TestCompose: every file the compose file mounts from the repository exists,
// and the corral config it mounts loads.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"corral", "agents", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[s]; !ok {
			t.Errorf("compose has no %s service", s)
		}
	}
	mounts := 0
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				continue // a named volume
			}
			mounts++
			if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
	// Prometheus and Alertmanager run the releases the interop tests ran.
	for svc, want := range map[string]string{
		"prometheus":   "prom/prometheus:" + prometheusRelease(t, realprom.PrometheusVersion),
		"alertmanager": "prom/alertmanager:" + realprom.AlertmanagerVersion,
	} {
		if got := c.Services[svc].Image; got != want {
			t.Errorf("compose %s image %s, want %s (the version internal/realprom tests)", svc, got, want)
		}
	}
	if mounts < 6 {
		t.Errorf("only %d files mounted from the repository", mounts)
	}
	if _, err := configs.Load("compose/corral.yml"); err != nil {
		t.Errorf("compose/corral.yml: %v", err)
	}
}

// prometheusRelease is the release tag of a Prometheus 3 Go module version:
// Prometheus publishes v3.M.P as module v0.3MM.P (v0.316.0 is v3.16.0, as the
// VERSION file of that module says).
func prometheusRelease(t *testing.T, module string) string {
	t.Helper()
	var minor, patch int
	if _, err := fmt.Sscanf(module, "v0.%d.%d", &minor, &patch); err != nil || minor < 300 || minor >= 400 {
		t.Fatalf("%s is not a Prometheus 3 module version (v0.3MM.P): %v", module, err)
	}
	return fmt.Sprintf("v3.%d.%d", minor-300, patch)
}

// TestDockerfile: the UI's stage, static binaries with the UI embedded, a
// non-root user and a health check.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"AS ui", "npm ci", "npm run build", "COPY --from=ui /src/ui/dist ./ui/dist", "AS build", "CGO_ENABLED=0", "-tags embedui", "USER 10001", "HEALTHCHECK", "/-/healthy", "COPY --from=build"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--") && f[1] != "." {
			if _, err := os.Stat(filepath.Join("..", f[1])); err != nil {
				t.Errorf("Dockerfile copies %s: %v", f[1], err)
			}
		}
	}
}

// TestComposePrometheusConfig: the Prometheus config of the compose stack is
// one the real Prometheus loads (syntax only: its rule file path is the
// container's).
func TestComposePrometheusConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds promtool on first use; run without -short")
	}
	out, err := exec.Command(realprom.Binaries(t).Promtool, "check", "config", "--syntax-only", "compose/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config compose/prometheus.yml: %v\n%s", err, out)
	}
	// The documented jobs: both keep the collector's labels, the /federate
	// one tracks the staleness of its timestamped samples, and the /metrics
	// one sets corral_url for the rules' links.
	b, err := os.ReadFile("compose/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			HonorLabels   bool   `yaml:"honor_labels"`
			TrackStale    bool   `yaml:"track_timestamps_staleness"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, j := range cfg.ScrapeConfigs {
		jobs[j.JobName] = true
		if !j.HonorLabels {
			t.Errorf("job %s lacks honor_labels: true", j.JobName)
		}
		switch j.JobName {
		case "corral-fleet":
			if j.MetricsPath != "/federate" || !j.TrackStale {
				t.Errorf("job corral-fleet: metrics_path %q, track_timestamps_staleness %v", j.MetricsPath, j.TrackStale)
			}
		case "corral":
			if len(j.StaticConfigs) != 1 || j.StaticConfigs[0].Labels["corral_url"] == "" {
				t.Errorf("job corral sets no corral_url label")
			}
		}
	}
	if !jobs["corral"] || !jobs["corral-fleet"] {
		t.Errorf("jobs %v, want corral and corral-fleet", jobs)
	}
}
