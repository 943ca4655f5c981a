package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/configs/grafana"
	"github.com/corral-dev/corral/internal/realprom"
)

// proc is a corral or corral-agent process of the test.
type proc struct {
	t    *testing.T
	name string
	args []string
	env  []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

func (p *proc) start() {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(bin, p.name), p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

func run(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, env: env}
	p.start()
	t.Cleanup(p.kill)
	return p
}

// waitFor polls cond every 250ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s: %s", what, within, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant PromQL query against the real Prometheus.
func query(t *testing.T, prom, expr string) ([]promSample, error) {
	t.Helper()
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, out.Error)
	}
	if out.Data.ResultType == "scalar" {
		return []promSample{{}}, nil
	}
	var res []promSample
	return res, json.Unmarshal(out.Data.Result, &res)
}

// freePort is a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// agentConfig is a synthetic collector's agent config; extra goes under
// synthetic: (faults such as lag or missing_ratio).
func agentConfig(name, port, key, extra string) string {
	return fmt.Sprintf(`collector:
  name: %s
  kind: synthetic
  interval: 1s
  timeout: 1s
  error_after: 1
  synthetic: {rate: 20, series: 3%s}
listen:
  address: 127.0.0.1:%s
control:
  trusted_keys: [%q]
log: {level: error}
`, name, extra, port, key)
}

// stack is corral with four agents (online, stale, incomplete, error and one
// to kill), Prometheus scraping corral with the documented jobs and the
// shipped rules, and Alertmanager.
type stack struct {
	corral, prom, am string
	agents           map[string]*proc
	addrs            map[string]string
	password         string
}

// The jobs of the Prometheus config that check corral as an HTTP SD
// provider: one with a valid API token, one with a wrong one. Both drop
// every target they discover (scraping the agents directly would duplicate
// the federated series), so Prometheus lists them as dropped.
const (
	sdJob       = "corral-sd"
	sdBadToken  = "corral-sd-bad-token"
	badSDSecret = "not-a-corral-token"
)

func newStack(t *testing.T) *stack {
	t.Helper()
	bins := realprom.Binaries(t)
	dir := t.TempDir()
	s := &stack{agents: map[string]*proc{}, addrs: map[string]string{}, password: "interop-" + strconv.Itoa(os.Getpid())}
	storage := "sqlite:" + filepath.Join(dir, "corral.db")

	// The key the agents trust: the server's, made in the store on first use.
	cfg := filepath.Join(dir, "corral.yml")
	out, err := exec.Command(filepath.Join(bin, "corral"), "keys", "show", "--storage.url", storage).Output()
	if err != nil {
		t.Fatalf("corral keys show: %v", err)
	}
	key := strings.TrimSpace(string(out))

	faults := map[string]string{
		"a-ok":         "",
		"a-stale":      ", lag: 10m",
		"a-incomplete": ", missing_ratio: 0.7",
		"a-error":      ", error_ratio: 1",
		"a-dead":       "",
	}
	var sd strings.Builder
	for name, extra := range faults {
		port := freePort(t)
		path := filepath.Join(dir, name+".yml")
		if err := os.WriteFile(path, []byte(agentConfig(name, port, key, extra)), 0o600); err != nil {
			t.Fatal(err)
		}
		s.agents[name] = run(t, "corral-agent", nil, "run", "--config="+path)
		s.addrs[name] = "127.0.0.1:" + port
		fmt.Fprintf(&sd, "- targets: ['127.0.0.1:%s']\n  labels: {collector: %s, team: team-a}\n", port, name)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sd"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sd", "agents.yml"), []byte(sd.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	corralPort := freePort(t)
	// Prometheus's port first: corral's remote_write sends to its receiver
	// (and retries until it is up).
	p := realprom.NewPrometheus(t, "", nil)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  thresholds: {offline_after: 3s, stale_after: 1m}
scrape_configs:
  - job_name: synthetic
    file_sd_configs: [{files: [sd/*.yml], refresh_interval: 1s}]
remote_write:
  - url: http://127.0.0.1:%d/api/v1/write
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs: [{target_label: via, replacement: remote_write}]
`, p.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "corral", []string{"CORRAL_ADMIN_PASSWORD=" + s.password}, "serve", "--config.file", cfg, "--storage.url", storage,
		"--web.listen-address", "127.0.0.1:"+corralPort, "--log.level", "warn")
	s.corral = "http://127.0.0.1:" + corralPort
	waitFor(t, 30*time.Second, "ready corral", func() (bool, string) {
		resp, err := http.Get(s.corral + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})

	// An API token of the first admin, for Prometheus's http_sd_configs.
	sdToken := apiToken(t, s, "prometheus-http-sd")

	am := realprom.StartAlertmanager(t, "")
	s.am = am.URL()

	// The shipped rules, with every for: shortened so the test need not wait
	// minutes; what they select and how is unchanged.
	rules, err := os.ReadFile("../configs/prometheus/corral.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+for:\s*)\S+`).ReplaceAll(rules, []byte("${1}1s"))
	// The documented jobs (README, docs/configuration.md), at a test's pace.
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [corral.rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['%s']}]
scrape_configs:
  - job_name: corral
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:%s'], labels: {corral_url: '%s'}}]
  - job_name: corral-fleet
    honor_labels: true
    track_timestamps_staleness: true
    metrics_path: /federate
    params: {'match[]': ['{job=~".+"}']}
    static_configs: [{targets: ['127.0.0.1:%s']}]
  - job_name: prometheus
    static_configs: [{targets: ['127.0.0.1:PROMPORT']}]
  - job_name: %s
    http_sd_configs:
      - url: %s/api/v1/sd
        refresh_interval: 1s
        authorization: {credentials: '%s'}
    relabel_configs: [{action: drop, source_labels: [__address__], regex: '.+'}]
  - job_name: %s
    http_sd_configs:
      - url: %s/api/v1/sd
        refresh_interval: 1s
        authorization: {credentials: '%s'}
    relabel_configs: [{action: drop, source_labels: [__address__], regex: '.+'}]
`, strings.TrimPrefix(s.am, "http://"), corralPort, s.corral, corralPort,
		sdJob, s.corral, sdToken, sdBadToken, s.corral, badSDSecret)
	promCfg = strings.ReplaceAll(promCfg, "PROMPORT", strconv.Itoa(p.Port))
	for name, content := range map[string][]byte{"prometheus.yml": []byte(promCfg), "corral.rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(p.Dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := exec.Command(bins.Promtool, "check", "config", filepath.Join(p.Dir, "prometheus.yml"))
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(p.Stop)
	s.prom = p.URL()
	return s
}

// TestPrometheusStack is the end-to-end run with the real programs.
func TestPrometheusStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Prometheus and Alertmanager; run without -short")
	}
	s := newStack(t)

	t.Run("fleet series keep the collector's job and instance", func(t *testing.T) {
		waitFor(t, 60*time.Second, "every collector in Prometheus", func() (bool, string) {
			res, err := query(t, s.prom, `corral_collector_up{job="synthetic"}`)
			if err != nil {
				return false, err.Error()
			}
			got := map[string]string{}
			for _, r := range res {
				got[r.Metric["collector"]] = r.Metric["instance"]
				if _, bad := r.Metric["exported_job"]; bad {
					return false, fmt.Sprintf("exported_job on %v", r.Metric)
				}
			}
			for name, addr := range s.addrs {
				if got[name] != addr {
					return false, fmt.Sprintf("%s: instance %q, want %q (all: %v)", name, got[name], addr, got)
				}
			}
			return true, ""
		})
		// The agents' own series, through /federate, carry the same labels.
		waitFor(t, 30*time.Second, "agents' series through /federate", func() (bool, string) {
			res, err := query(t, s.prom, `corral_collector_items_total{job="synthetic"}`)
			if err != nil {
				return false, err.Error()
			}
			for _, r := range res {
				if r.Metric["instance"] != s.addrs[r.Metric["collector"]] {
					return false, fmt.Sprintf("%v", r.Metric)
				}
			}
			return len(res) == len(s.addrs), fmt.Sprintf("%d series", len(res))
		})
	})

	// Every status the dashboards list, and a command handled, so every panel has data.
	waitFor(t, 90*time.Second, "stale, incomplete and error collectors", func() (bool, string) {
		res, err := query(t, s.prom, `corral_collector_status{job="synthetic"} == 1`)
		if err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, r := range res {
			got[r.Metric["collector"]] = r.Metric["status"]
		}
		return got["a-ok"] == "online" && got["a-stale"] == "stale" && got["a-incomplete"] == "incomplete" && got["a-error"] == "error", fmt.Sprint(got)
	})
	collectNow(t, s)

	t.Run("an agent killed pages through the shipped rules and resolves", func(t *testing.T) {
		// The agent's own series, federated from corral, are in Prometheus
		// while it runs ...
		own := `{collector="a-dead",job="synthetic",via="",__name__=~"corral_collector_items_total|synthetic_value"}`
		waitFor(t, 30*time.Second, "a-dead's own series in Prometheus", func() (bool, string) {
			res, err := query(t, s.prom, own)
			return err == nil && len(res) >= 2, fmt.Sprint(len(res), err)
		})
		s.agents["a-dead"].kill()
		// ... and gone from an instant query once corral's scrape of it
		// failed: corral's /federate then serves only its up 0, so
		// Prometheus marks the rest stale at once (without the marker they
		// would answer for the 5m lookback).
		killed := time.Now()
		waitFor(t, 20*time.Second, "a-dead's federated series stale in Prometheus", func() (bool, string) {
			res, err := query(t, s.prom, own)
			if err != nil {
				return false, err.Error()
			}
			up, err := query(t, s.prom, `up{collector="a-dead",job="synthetic",via=""} == 0`)
			return err == nil && len(res) == 0 && len(up) == 1, fmt.Sprintf("%d own series, %d up == 0 (%v)", len(res), len(up), err)
		})
		t.Logf("a-dead's federated series stale in Prometheus %s after the kill", time.Since(killed).Round(100*time.Millisecond))
		var alert amAlert
		waitFor(t, 60*time.Second, "CollectorDown for a-dead in Alertmanager", func() (bool, string) {
			var ok bool
			var detail string
			alert, ok, detail = findAlert(t, s.am, "CollectorDown", "a-dead")
			return ok, detail
		})
		// The rules' alert is routable as the built-in one: the collector's
		// own job and instance, and the link to its page in corral's UI from
		// the corral_url label of the corral job.
		if alert.Labels["job"] != "synthetic" || alert.Labels["instance"] != s.addrs["a-dead"] {
			t.Errorf("CollectorDown labels %v: want job synthetic, instance %s", alert.Labels, s.addrs["a-dead"])
		}
		if want := s.corral + "/collectors/a-dead"; alert.Annotations["collector_url"] != want {
			t.Errorf("CollectorDown collector_url %q, want %q", alert.Annotations["collector_url"], want)
		}
		waitFor(t, 30*time.Second, "a-dead offline in PromQL", func() (bool, string) {
			res, err := query(t, s.prom, `corral_collector_status{collector="a-dead",status="offline",via=""} == 1`)
			return err == nil && len(res) == 1, fmt.Sprint(err)
		})
		s.agents["a-dead"].start()
		waitFor(t, 60*time.Second, "CollectorDown for a-dead resolved", func() (bool, string) {
			ok, detail := hasAlert(t, s.am, "CollectorDown", "a-dead")
			return !ok, detail
		})
		s.agents["a-dead"].kill() // offline again, for the dashboards' offline table
		waitFor(t, 30*time.Second, "a-dead offline again", func() (bool, string) {
			res, err := query(t, s.prom, `corral_collector_status{collector="a-dead",status="offline",via=""} == 1`)
			return err == nil && len(res) == 1, fmt.Sprint(err)
		})
	})

	t.Run("every dashboard query returns data", func(t *testing.T) {
		vars := strings.NewReplacer(
			"$__rate_interval_ms", "10000", "$__rate_interval", "10s", "$__interval_ms", "5000", "$__interval", "5s",
			"$job", "synthetic", "$team", "team-a", "$collector", "a-ok",
		)
		for file, d := range grafana.Dashboards() {
			for _, q := range d.Queries() {
				expr := vars.Replace(q.Expr)
				if q.Variable {
					m := regexp.MustCompile(`^label_values\((.+), *(\w+)\)$`).FindStringSubmatch(expr)
					expr = "count by (" + m[2] + ") (" + m[1] + ")"
				}
				waitFor(t, 20*time.Second, file+" "+q.Panel+": "+expr, func() (bool, string) {
					res, err := query(t, s.prom, expr)
					if err != nil {
						return false, err.Error()
					}
					return len(res) > 0, "empty result"
				})
			}
		}
	})

	t.Run("no duplicate, out-of-order or type-conflicting samples", func(t *testing.T) {
		fams := scrapeFamilies(t, s.prom+"/metrics")
		for _, name := range []string{
			"prometheus_target_scrapes_sample_duplicate_timestamp_total",
			"prometheus_target_scrapes_sample_out_of_order_total",
			"prometheus_target_scrapes_sample_out_of_bounds_total",
			"prometheus_target_scrapes_exceeded_sample_limit_total",
		} {
			f, ok := fams[name]
			if !ok {
				t.Errorf("Prometheus serves no %s", name)
				continue
			}
			for _, m := range f.GetMetric() {
				if v := m.GetCounter().GetValue(); v != 0 {
					t.Errorf("%s = %v", name, v)
				}
			}
		}
		// One type per name across both jobs.
		resp, err := http.Get(s.prom + "/api/v1/metadata")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md struct {
			Data map[string][]struct {
				Type string `json:"type"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		corralNames := 0
		for name, entries := range md.Data {
			if !strings.HasPrefix(name, "corral_") {
				continue
			}
			corralNames++
			types := map[string]bool{}
			for _, e := range entries {
				types[e.Type] = true
			}
			if len(types) > 1 {
				t.Errorf("%s has %d types in Prometheus: %v", name, len(types), entries)
			}
		}
		if corralNames < 20 {
			t.Errorf("only %d corral_ names in Prometheus's metadata", corralNames)
		}
	})

	t.Run("remote_write reaches Prometheus's receiver", func(t *testing.T) {
		// Both kinds of series corral forwards: an agent's scraped samples
		// (with up) and the fleet series, labelled by write_relabel_configs.
		for _, expr := range []string{
			`up{via="remote_write",job="synthetic",collector="a-ok"}`,
			`corral_collector_items_total{via="remote_write",job="synthetic",collector="a-ok"}`,
			`corral_collector_status{via="remote_write",job="synthetic",collector="a-ok",status="online"}`,
		} {
			waitFor(t, 30*time.Second, expr+" in Prometheus", func() (bool, string) {
				res, err := query(t, s.prom, expr)
				if err != nil {
					return false, err.Error()
				}
				if len(res) == 1 && res[0].Metric["instance"] != s.addrs["a-ok"] {
					return false, fmt.Sprintf("instance %q", res[0].Metric["instance"])
				}
				return len(res) == 1, fmt.Sprintf("%d series", len(res))
			})
		}
	})

	t.Run("/federate selects what Prometheus's /federate selects", func(t *testing.T) {
		// The same match[] on both: corral's /federate over the agents' latest
		// scrapes, Prometheus's over what it federated from corral. via=""
		// leaves out the remote_write copies; a-dead is left out because the
		// two mark it stale at different moments.
		for _, sel := range []string{
			`synthetic_value{collector="a-ok",via=""}`,
			`{__name__=~"corral_collector_(items_total|state|info)",collector!="a-dead",via=""}`,
			`{job="synthetic",collector=~"a-(ok|stale)",__name__!~"ALERTS.*|corral_collector_(up|status|last_seen_timestamp_seconds|freshness_seconds|completeness_ratio|scrape_duration_seconds|consecutive_scrape_failures|collection_mean_seconds|cpu_usage_ratio|memory_bytes|start_time_seconds|restarts_total)",via=""}`,
			`up{job="synthetic",via="",collector!="a-dead"}`,
		} {
			waitFor(t, 20*time.Second, "the same series for "+sel, func() (bool, string) {
				ours := federated(t, s.corral, sel)
				theirs := federated(t, s.prom, sel)
				if len(ours) == 0 {
					return false, "corral's /federate is empty"
				}
				if !slices.Equal(ours, theirs) {
					return false, fmt.Sprintf("corral %d series, Prometheus %d; first differences: %s", len(ours), len(theirs), firstDiff(ours, theirs))
				}
				return true, ""
			})
		}
	})

	t.Run("Prometheus discovers the collectors through corral's /api/v1/sd", func(t *testing.T) {
		want := s.addrs // collector → address
		waitFor(t, 30*time.Second, "every collector discovered by "+sdJob, func() (bool, string) {
			got := droppedTargets(t, s.prom, sdJob)
			for name, addr := range want {
				ls, ok := got[name]
				if !ok || ls["__address__"] != addr || ls["job"] != "synthetic" || ls["instance"] != addr || ls["team"] != "team-a" {
					return false, fmt.Sprintf("%s: %v (all: %v)", name, ls, got)
				}
			}
			return len(got) == len(want), fmt.Sprintf("%d targets", len(got))
		})
		// The job with a wrong token discovers nothing: corral answered 401.
		if got := droppedTargets(t, s.prom, sdBadToken); len(got) != 0 {
			t.Errorf("%s discovered %v", sdBadToken, got)
		}
		waitFor(t, 10*time.Second, "a failed http_sd refresh", func() (bool, string) {
			res, err := query(t, s.prom, `prometheus_sd_http_failures_total > 0`)
			return err == nil && len(res) > 0, fmt.Sprint(err)
		})
	})

	t.Run("promtool check metrics is clean", func(t *testing.T) {
		promtool := realprom.Binaries(t).Promtool
		for what, u := range map[string]string{"server": s.corral + "/metrics", "agent": "http://" + s.addrs["a-ok"] + "/metrics"} {
			body := get(t, u)
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(body)
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("promtool check metrics on the %s's /metrics: %v\n%s", what, err, out)
			}
		}
	})
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func scrapeFamilies(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(get(t, u)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	EndsAt      time.Time         `json:"endsAt"`
}

// hasAlert is whether Alertmanager holds an unresolved alert of that name for
// the collector.
func hasAlert(t *testing.T, am, name, collector string) (bool, string) {
	_, ok, detail := findAlert(t, am, name, collector)
	return ok, detail
}

// findAlert is the unresolved alert of that name for the collector that
// Alertmanager holds, if any: the one from the scraped series, not its twin
// from corral's remote_write copies in the same Prometheus (label via).
func findAlert(t *testing.T, am, name, collector string) (amAlert, bool, string) {
	resp, err := http.Get(am + "/api/v2/alerts")
	if err != nil {
		return amAlert{}, false, err.Error()
	}
	defer resp.Body.Close()
	var alerts []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		return amAlert{}, false, err.Error()
	}
	var seen []string
	for _, a := range alerts {
		seen = append(seen, a.Labels["alertname"]+"/"+a.Labels["collector"])
		if a.Labels["alertname"] == name && a.Labels["collector"] == collector && a.Labels["via"] == "" && a.EndsAt.After(time.Now()) {
			return a, true, ""
		}
	}
	slices.Sort(seen)
	return amAlert{}, false, fmt.Sprintf("alerts: %v", seen)
}

// droppedTargets is the targets Prometheus discovered for a scrape pool and
// dropped, by their __meta_corral_collector, with their discovered labels.
func droppedTargets(t *testing.T, prom, pool string) map[string]map[string]string {
	t.Helper()
	var out struct {
		Data struct {
			Dropped []struct {
				Labels map[string]string `json:"discoveredLabels"`
				Pool   string            `json:"scrapePool"`
			} `json:"droppedTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal(get(t, prom+"/api/v1/targets?state=dropped&scrapePool="+url.QueryEscape(pool)), &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, d := range out.Data.Dropped {
		if d.Pool == pool {
			got[d.Labels["__meta_corral_collector"]] = d.Labels
		}
	}
	return got
}

// login logs in as the first admin: the session cookies and CSRF token.
func login(t *testing.T, s *stack) ([]*http.Cookie, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": s.password})
	resp, err := http.Post(s.corral+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %s %v", resp.Status, err)
	}
	return resp.Cookies(), out.CSRF
}

// post sends a JSON POST as the logged-in admin; the status and body.
func post(t *testing.T, s *stack, path, body string, timeout time.Duration) (int, []byte) {
	t.Helper()
	cookies, csrf := login(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.corral+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", s.corral)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b
}

// collectNow asks a-ok to collect now as the first admin, waiting for the
// scrape that confirms it: the command series then have data.
func collectNow(t *testing.T, s *stack) {
	t.Helper()
	if code, b := post(t, s, "/api/v1/collectors/a-ok/collect?wait=confirmed", `{}`, 60*time.Second); code != 200 {
		t.Fatalf("collect a-ok: %d: %s", code, b)
	}
}

// apiToken creates an API token of the first admin and returns its secret.
func apiToken(t *testing.T, s *stack, name string) string {
	t.Helper()
	code, b := post(t, s, "/api/v1/tokens", fmt.Sprintf(`{"name": %q}`, name), 10*time.Second)
	var out struct {
		Secret string `json:"secret"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Secret == "" {
		t.Fatalf("POST /api/v1/tokens: %d %s", code, b)
	}
	return out.Secret
}

// federated is the sorted label sets (name included, values left out) that
// base's /federate serves for one match[].
func federated(t *testing.T, base, sel string) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(get(t, base+"/federate?match[]="+url.QueryEscape(sel))))
	if err != nil {
		t.Fatalf("%s/federate: %v", base, err)
	}
	var out []string
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			ls := model.LabelSet{}
			for _, lp := range m.GetLabel() {
				ls[model.LabelName(lp.GetName())] = model.LabelValue(lp.GetValue())
			}
			// Prometheus federates a histogram or summary as its
			// _bucket/_sum/_count (or quantile) series, untyped: compare those.
			with := func(n, extra, v string) {
				c := ls.Clone()
				c[model.MetricNameLabel] = model.LabelValue(n)
				if extra != "" {
					c[model.LabelName(extra)] = model.LabelValue(v)
				}
				for _, l := range []model.LabelName{"le", "quantile"} {
					if x, ok := c[l]; ok {
						if f, err := strconv.ParseFloat(string(x), 64); err == nil {
							c[l] = model.LabelValue(strconv.FormatFloat(f, 'g', -1, 64))
						}
					}
				}
				out = append(out, c.String())
			}
			switch {
			case m.GetHistogram() != nil:
				for _, b := range m.GetHistogram().GetBucket() {
					with(name+"_bucket", "le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
				}
				with(name+"_bucket", "le", "+Inf")
				with(name+"_sum", "", "")
				with(name+"_count", "", "")
			case m.GetSummary() != nil:
				for _, q := range m.GetSummary().GetQuantile() {
					with(name, "quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))
				}
				with(name+"_sum", "", "")
				with(name+"_count", "", "")
			default:
				with(name, "", "")
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func firstDiff(a, b []string) string {
	var only []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			only = append(only, "corral only: "+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			only = append(only, "Prometheus only: "+x)
		}
	}
	if len(only) > 4 {
		only = only[:4]
	}
	return strings.Join(only, "; ")
}
