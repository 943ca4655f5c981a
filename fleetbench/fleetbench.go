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
	Rounds     int           `default:"2" help:"Rounds of corral, vmagent and the floor, interleaved (the order turns each round)."`
	VMAgent    string        `name:"vmagent" help:"vmagent binary (default: built from tools/vmagent into ~/.cache/corral-test-bin)."`
	NoVMAgent  bool          `name:"no-vmagent" help:"Skip vmagent."`
	Extras     bool          `help:"After corral's first window: /federate of the whole fleet, GET /api/v1/collectors p99, the WebSocket fan-out to 20 clients."`
	ProfileDir string        `help:"Write corral's heap and goroutine profiles (pprof) here after each corral window."`
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
	return startEnv(nil, name, args...)
}

// startEnv starts a program with env added to the environment, its
// stderr in a temporary log file.
func startEnv(env []string, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
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
