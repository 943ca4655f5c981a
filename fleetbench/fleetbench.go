// Package fleetbench measures corral scraping a simulated fleet: the CPU and
// memory of the server, how late scrapes start, the same fleet fetched by a
// plain GET-and-discard loop (the floor), and how long a killed agent takes to
// show as offline. Loopback only, bounded in time. cmd/corral-fleetbench runs
// it; `make bench` runs that.
package fleetbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// RunOptions of a benchmark run; the kong tags are the command line of
// corral-fleetbench.
type RunOptions struct {
	Bin        string        `default:"bin" help:"Folder with the corral and corral-agent binaries."`
	Agents     int           `short:"n" default:"1000" help:"Simulated agents."`
	Series     int           `default:"150" help:"synthetic_value series per agent (150 ≈ 200 samples per scrape)."`
	Interval   time.Duration `default:"5s" help:"Scrape and collection interval."`
	Warmup     time.Duration `default:"20s" help:"Time before measuring."`
	Window     time.Duration `default:"60s" help:"Measurement window."`
	BasePort   int           `default:"21000" help:"First port of the simulated agents."`
	Storage    string        `help:"Store URL for corral (default: SQLite in the temporary folder)."`
	NoFloor    bool          `help:"Skip the floor measurement."`
	PerProcess int           `default:"5000" help:"Agents per simulate process (each needs two open files per agent)."`
	Gzip       bool          `default:"true" negatable:"" help:"Ask the agents for gzip (corral's enable_compression and the floor alike)."`
	Logs       bool          `default:"true" negatable:"" help:"Let corral pull the agents' /logs as well (logs.pull), which the floor does not do."`
}

// FloorOptions of the floor: GET-and-discard every target of the file_sd
// files on a schedule.
type FloorOptions struct {
	SDFile   []string      `required:""`
	Interval time.Duration `required:""`
	Gzip     bool
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 9480
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func start(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout = io.Discard
	logf, err := os.CreateTemp("", filepath.Base(name)+"-*.log")
	if err == nil {
		cmd.Stderr = logf
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

func stopProc(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
	}
}

// procStat reads utime+stime (seconds) and RSS (bytes) of a process.
func procStat(pid int) (cpu float64, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	pages, _ := strconv.ParseInt(fields[21], 10, 64)
	return (ut + st) / 100, pages * int64(os.Getpagesize()), nil
}

type measure struct {
	cores  float64
	rssMax int64
}

// watch measures a process over the window: cores used and peak RSS.
func watch(ctx context.Context, pid int, window time.Duration) (measure, error) {
	cpu0, _, err := procStat(pid)
	if err != nil {
		return measure{}, err
	}
	t0 := time.Now()
	var m measure
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for time.Since(t0) < window {
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-tick.C:
		}
		_, rss, err := procStat(pid)
		if err != nil {
			return m, err
		}
		m.rssMax = max(m.rssMax, rss)
	}
	cpu1, _, err := procStat(pid)
	if err != nil {
		return m, err
	}
	m.cores = (cpu1 - cpu0) / time.Since(t0).Seconds()
	return m, nil
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricValue returns the value of the first line starting with prefix.
func metricValue(body, prefix string) (float64, bool) {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// histogram reads the cumulative buckets of a histogram.
func histogram(body, name string) map[float64]float64 {
	out := map[float64]float64{}
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name+"_bucket{") {
			continue
		}
		i := strings.Index(l, `le="`)
		j := strings.Index(l[i+4:], `"`)
		le, _ := strconv.ParseFloat(l[i+4:i+4+j], 64)
		f := strings.Fields(l)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[le] = v
	}
	return out
}

// quantile of the difference of two cumulative histograms, interpolated within the bucket.
func quantile(q float64, before, after map[float64]float64) float64 {
	var les []float64
	for le := range after {
		les = append(les, le)
	}
	sort.Float64s(les)
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, le := range les {
		c := after[le] - before[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLe
			}
			return prevLe + (le-prevLe)*(rank-prevCount)/math.Max(c-prevCount, 1e-9)
		}
		prevLe, prevCount = le, c
	}
	return prevLe
}

// Run runs the benchmark and prints its figures on stdout.
func Run(ctx context.Context, o RunOptions) error {
	dir, err := os.MkdirTemp("", "corral-fleetbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sdDir := filepath.Join(dir, "sd")
	os.MkdirAll(sdDir, 0o755)
	fmt.Printf("corral-fleetbench: %d agents × %d series, interval %s, gzip %v, log pulls %v, warm-up %s, window %s, %d cores\n",
		o.Agents, o.Series, o.Interval, o.Gzip, o.Logs, o.Warmup, o.Window, numCPU())

	// One simulate process holds a listener and an accepted connection per agent:
	// split the fleet so each stays well under the open-file limit.
	per := min(o.Agents, o.PerProcess)
	var sdFiles []string
	// A simulate process that exits (a port in use, say) ends the run at once.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for first := 0; first < o.Agents; first += per {
		n := min(per, o.Agents-first)
		sd := filepath.Join(sdDir, fmt.Sprintf("fleet-%d.yml", first))
		sim, err := start(filepath.Join(o.Bin, "corral-agent"), "simulate", "-n", strconv.Itoa(n), "--base-port", strconv.Itoa(o.BasePort+first),
			"--interval", o.Interval.String(), "--series", strconv.Itoa(o.Series), "--sd-file", sd, "--log.level", "error",
			"--seed", strconv.Itoa(first+1), "--first-index", strconv.Itoa(first))
		if err != nil {
			return err
		}
		defer stopProc(sim)
		go func() {
			err := sim.Wait()
			cancel(fmt.Errorf("simulate (agents %d…%d) exited: %v; see its log in %s", first, first+n-1, err, os.TempDir()))
		}()
		sdFiles = append(sdFiles, sd)
	}
	for _, sd := range sdFiles {
		if err := waitFile(ctx, sd, 120*time.Second); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return fmt.Errorf("simulate did not write its file_sd file: %w", err)
		}
	}

	// One real agent process to kill for the offline measurement.
	single := freePort()
	agentCfg := filepath.Join(dir, "single.yml")
	os.WriteFile(agentCfg, []byte(fmt.Sprintf("collector: {name: bench-single, kind: synthetic, interval: %s}\nlisten: {address: '127.0.0.1:%d'}\n", o.Interval, single)), 0o644)
	agent, err := start(filepath.Join(o.Bin, "corral-agent"), "run", "--config", agentCfg)
	if err != nil {
		return err
	}
	defer stopProc(agent)
	os.WriteFile(filepath.Join(sdDir, "single.yml"), []byte(fmt.Sprintf("- targets: ['127.0.0.1:%d']\n  labels: {collector: bench-single}\n", single)), 0o644)

	grace := 15 * time.Second
	port := freePort()
	storage := o.Storage
	if storage == "" {
		storage = "sqlite:" + filepath.Join(dir, "corral.db")
	}
	cfg := map[string]any{
		"global": map[string]any{"scrape_interval": o.Interval.String(), "scrape_timeout": (o.Interval * 8 / 10).String(),
			"thresholds": map[string]any{"offline_after": grace.String()}},
		"scrape_configs": []any{map[string]any{"job_name": "fleet", "enable_compression": o.Gzip,
			"file_sd_configs": []any{map[string]any{"files": []string{filepath.Join(sdDir, "*.yml")}}}}},
		"storage": map[string]any{"url": storage},
		"logs":    map[string]any{"pull": o.Logs},
	}
	cb, _ := yaml.Marshal(cfg)
	cfgPath := filepath.Join(dir, "corral.yml")
	os.WriteFile(cfgPath, cb, 0o644)
	srv, err := start(filepath.Join(o.Bin, "corral"), "--config.file", cfgPath, "--web.listen-address", fmt.Sprintf("127.0.0.1:%d", port), "--log.level", "warn")
	if err != nil {
		return err
	}
	defer stopProc(srv)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	want := float64(o.Agents + 1)
	deadline := time.Now().Add(2*time.Minute + time.Duration(o.Agents/1000)*10*time.Second)
	for {
		body, err := get(base + "/metrics")
		if err == nil {
			if v, _ := metricValue(body, `corral_collectors{status="online"}`); v >= want {
				break
			}
		}
		if time.Now().After(deadline) {
			v, _ := metricValue(body, `corral_collectors{status="online"}`)
			return fmt.Errorf("corral saw %v of %v collectors online by the deadline", v, want)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("all %d collectors online; warming up %s\n", int(want), o.Warmup)
	if err := sleep(ctx, o.Warmup); err != nil {
		return err
	}
	before, _ := get(base + "/metrics")
	m, err := watch(ctx, srv.Process.Pid, o.Window)
	if err != nil {
		return err
	}
	after, _ := get(base + "/metrics")
	lagP99 := quantile(0.99, histogram(before, "corral_scrape_start_lag_seconds"), histogram(after, "corral_scrape_start_lag_seconds"))
	s0, _ := metricValue(before, "corral_scrapes_total")
	s1, _ := metricValue(after, "corral_scrapes_total")
	f0, _ := metricValue(before, "corral_scrape_samples_total")
	f1, _ := metricValue(after, "corral_scrape_samples_total")
	scrapesPerSec := (s1 - s0) / o.Window.Seconds()

	// Offline: kill the single agent, time until corral says offline.
	killed := time.Now()
	_ = agent.Process.Kill()
	_, _ = agent.Process.Wait()
	var offlineAfter time.Duration
	for {
		body, err := get(base + "/metrics")
		if err == nil && strings.Contains(body, `corral_collector_status{collector="bench-single"`) {
			if v, _ := metricValue(body, `corral_collector_status{collector="bench-single",instance="127.0.0.1:`+strconv.Itoa(single)+`",job="fleet",status="offline"}`); v == 1 {
				offlineAfter = time.Since(killed)
				break
			}
		}
		if time.Since(killed) > grace+10*o.Interval {
			offlineAfter = -1
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	stopProc(srv)

	fmt.Println()
	fmt.Println("| measure | corral | floor (GET and discard) |")
	fmt.Println("|---|---|---|")
	var fm measure
	if !o.NoFloor {
		self, _ := os.Executable()
		args := []string{"floor", "--interval", o.Interval.String()}
		for _, sd := range sdFiles {
			args = append(args, "--sd-file", sd)
		}
		if o.Gzip {
			args = append(args, "--gzip")
		}
		fl, err := start(self, args...)
		if err != nil {
			return err
		}
		if err := sleep(ctx, o.Warmup); err != nil {
			stopProc(fl)
			return err
		}
		fm, err = watch(ctx, fl.Process.Pid, o.Window)
		stopProc(fl)
		if err != nil {
			return err
		}
	}
	fmt.Printf("| CPU (cores) | %.3f | %.3f |\n", m.cores, fm.cores)
	fmt.Printf("| peak RSS | %.1f MiB | %.1f MiB |\n", float64(m.rssMax)/(1<<20), float64(fm.rssMax)/(1<<20))
	fmt.Printf("| scrapes/s | %.1f | |\n", scrapesPerSec)
	fmt.Printf("| samples/s | %.0f | |\n", (f1-f0)/o.Window.Seconds())
	fmt.Printf("| scrape start lag p99 | %.2f ms | |\n", lagP99*1000)
	if fm.cores > 0 {
		fmt.Printf("\ncorral CPU / floor CPU = %.2f (target ≤ 1.3); RSS target ≤ 150 MiB\n", m.cores/fm.cores)
	}
	if offlineAfter > 0 {
		fmt.Printf("killed agent shown offline after %s (grace %s + interval %s = %s)\n", offlineAfter.Round(100*time.Millisecond), grace, o.Interval, grace+o.Interval)
	} else {
		fmt.Println("killed agent was not shown offline in time")
	}
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func waitFile(ctx context.Context, path string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s missing after %s", path, within)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// Floor fetches every target on the same schedule corral uses (offsets spread
// over the interval) and discards the body: the least any scraper must spend.
// Run starts it as "corral-fleetbench floor" in its own process.
func Floor(ctx context.Context, o FloorOptions) error {
	var addrs []string
	for _, f := range o.SDFile {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var groups []struct {
			Targets []string `yaml:"targets"`
		}
		if err := yaml.Unmarshal(b, &groups); err != nil {
			return err
		}
		for _, g := range groups {
			addrs = append(addrs, g.Targets...)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	var wg sync.WaitGroup
	for i, a := range addrs {
		offset := time.Duration(int64(o.Interval) * int64(i) / int64(len(addrs)))
		wg.Go(func() {
			t := time.NewTimer(offset)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				t.Reset(o.Interval)
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a+"/metrics", nil)
				if o.Gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, bufio.NewReader(resp.Body))
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	return nil
}
