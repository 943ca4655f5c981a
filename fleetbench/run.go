package fleetbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// corralRound is what one corral round measured.
type corralRound struct {
	measure
	toLoops, toOnline time.Duration // from the start of the process
	scrapesPerSec     float64
	samplesPerSec     float64
	lagP99            float64 // seconds
	storeWrites       float64 // rows per second
	heapInuse         float64 // bytes, at the end of the window
	stackInuse        float64 // bytes, at the end of the window
	goroutines        float64
}

// bench is one run's shared state: the fleet, and what corral and vmagent are given.
type bench struct {
	o        RunOptions
	dir      string
	sdDir    string
	sdFiles  []string // the fleet's file_sd files (not the single agent's)
	single   int      // port of the agent killed for the offline measurement
	agent    *exec.Cmd
	vmagent  string
	sink     *discard
	sinkURL  string
	password string
	cfgPath  string
	grace    time.Duration
	timeout  time.Duration
}

// Run runs the benchmark and prints its figures on stdout: rounds of corral,
// vmagent and the floor on the same fleet, interleaved, then a table of
// each with their ratios.
func Run(ctx context.Context, o RunOptions) error {
	dir, err := os.MkdirTemp("", "corral-fleetbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Grace before offline: 15 s, or three intervals for a longer one.
	b := &bench{o: o, dir: dir, sdDir: filepath.Join(dir, "sd"), grace: max(15*time.Second, 3*o.Interval), timeout: o.Interval * 8 / 10}
	if err := os.MkdirAll(b.sdDir, 0o755); err != nil {
		return err
	}
	fmt.Printf("corral-fleetbench: %d agents × %d series, interval %s, gzip %v, log pulls %v, warm-up %s, window %s, %d rounds, %d cores, load %s\n",
		o.Agents, o.Series, o.Interval, o.Gzip, o.Logs, o.Warmup, o.Window, o.Rounds, numCPU(), loadavg())

	if !o.NoVMAgent {
		b.vmagent = o.VMAgent
		if b.vmagent == "" {
			bin, took, err := BuildVMAgent()
			if err != nil {
				return err
			}
			if took > 0 {
				fmt.Printf("built vmagent %s in %s\n", VMVersion, took.Round(time.Second))
			}
			b.vmagent = bin
		}
		b.sink = &discard{}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: b.sink, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		defer hs.Close()
		b.sinkURL = "http://" + ln.Addr().String() + "/api/v1/write"
	}

	// Other programs on this machine (tests) listen on ports of their own:
	// take the first window of free ones from --base-port up.
	base, err := freeRange(o.BasePort, o.Agents)
	if err != nil {
		return err
	}
	if base != o.BasePort {
		fmt.Printf("ports %d… are partly taken: the agents listen on %d…%d\n", o.BasePort, base, base+o.Agents-1)
	}
	o.BasePort = base
	b.o.BasePort = base

	// One simulate process holds a listener and an accepted connection per agent:
	// split the fleet so each stays well under the open-file limit.
	per := min(o.Agents, o.PerProcess)
	// A simulate process that exits (a port in use, say) ends the run at once.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for first := 0; first < o.Agents; first += per {
		n := min(per, o.Agents-first)
		sd := filepath.Join(b.sdDir, fmt.Sprintf("fleet-%d.yml", first))
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
		b.sdFiles = append(b.sdFiles, sd)
	}
	for _, sd := range b.sdFiles {
		if err := waitFile(ctx, sd, 120*time.Second); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return fmt.Errorf("simulate did not write its file_sd file: %w", err)
		}
	}

	// One real agent process to kill for the offline measurement.
	b.single = freePort()
	agentCfg := filepath.Join(dir, "single.yml")
	os.WriteFile(agentCfg, []byte(fmt.Sprintf("collector: {name: bench-single, kind: synthetic, interval: %s}\nlisten: {address: '127.0.0.1:%d'}\n", o.Interval, b.single)), 0o644)
	b.agent, err = start(filepath.Join(o.Bin, "corral-agent"), "run", "--config", agentCfg)
	if err != nil {
		return err
	}
	defer stopProc(b.agent)
	os.WriteFile(filepath.Join(b.sdDir, "single.yml"), []byte(fmt.Sprintf("- targets: ['127.0.0.1:%d']\n  labels: {collector: bench-single}\n", b.single)), 0o644)
	if err := b.writeCorralConfig(); err != nil {
		return err
	}

	subjects := []string{"corral"}
	if !o.NoVMAgent {
		subjects = append(subjects, "vmagent")
	}
	if !o.NoFloor {
		subjects = append(subjects, "floor")
	}
	var (
		cr     []corralRound
		vm, fl []measure
	)
	for r := range o.Rounds {
		for k := range subjects {
			name := subjects[(k+r)%len(subjects)]
			fmt.Printf("round %d: %s\n", r+1, name)
			switch name {
			case "corral":
				c, err := b.corral(ctx, r)
				if err != nil {
					return fmt.Errorf("corral, round %d: %w", r+1, err)
				}
				cr = append(cr, c)
			case "vmagent":
				m, err := b.runVMAgent(ctx, r)
				if err != nil {
					return fmt.Errorf("vmagent, round %d: %w", r+1, err)
				}
				vm = append(vm, m)
			case "floor":
				m, err := b.floor(ctx)
				if err != nil {
					return fmt.Errorf("floor, round %d: %w", r+1, err)
				}
				fl = append(fl, m)
			}
		}
	}
	printTable(o, cr, vm, fl)
	return nil
}

// freeRange finds n consecutive free loopback ports from first up, below
// the ephemeral range (the kernel hands those out for outgoing connections).
func freeRange(first, n int) (int, error) {
	limit := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				limit = v
			}
		}
	}
	for base := first; base+n <= limit; {
		ok := true
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				base, ok = p+1, false
				break
			}
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports between %d and the ephemeral range (%d); pass another --base-port", n, first, limit)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func (b *bench) writeCorralConfig() error {
	storage := b.o.Storage
	if storage == "" {
		storage = "sqlite:" + filepath.Join(b.dir, "corral.db")
	}
	cfg := map[string]any{
		"global": map[string]any{"scrape_interval": b.o.Interval.String(), "scrape_timeout": b.timeout.String(),
			"thresholds": map[string]any{"offline_after": b.grace.String()}},
		"scrape_configs": []any{map[string]any{"job_name": "fleet", "enable_compression": b.o.Gzip,
			"file_sd_configs": []any{map[string]any{"files": []string{filepath.Join(b.sdDir, "*.yml")}}}}},
		"storage": map[string]any{"url": storage},
		"logs":    map[string]any{"pull": b.o.Logs},
	}
	cb, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	b.cfgPath = filepath.Join(b.dir, "corral.yml")
	pw := make([]byte, 12)
	_, _ = rand.Read(pw)
	b.password = hex.EncodeToString(pw)
	return os.WriteFile(b.cfgPath, cb, 0o644)
}

// targets corral should see: the fleet, and the single agent until it is killed.
func (b *bench) targets() int {
	n := b.o.Agents
	if _, err := os.Stat(filepath.Join(b.sdDir, "single.yml")); err == nil {
		n++
	}
	return n
}

// corral runs the server for one round: start (timed to all loops running
// and all collectors online), warm-up, the window; in the first round then
// the offline measurement and the extras.
func (b *bench) corral(ctx context.Context, round int) (corralRound, error) {
	var c corralRound
	port := freePort()
	args := []string{"--config.file", b.cfgPath, "--web.listen-address", fmt.Sprintf("127.0.0.1:%d", port), "--log.level", "warn"}
	if b.o.ProfileDir != "" {
		args = append(args, "--web.enable-pprof")
	}
	t0 := time.Now()
	srv, err := startEnv([]string{"CORRAL_ADMIN_PASSWORD=" + b.password}, filepath.Join(b.o.Bin, "corral"), args...)
	if err != nil {
		return c, err
	}
	defer stopProc(srv)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	want := float64(b.targets())
	deadline := time.Now().Add(2*time.Minute + time.Duration(b.o.Agents/1000)*10*time.Second)
	for {
		body, err := get(base + "/metrics")
		if err == nil {
			if v, _ := metricValue(body, "corral_scrape_loops "); v >= want && c.toLoops == 0 {
				c.toLoops = time.Since(t0)
			}
			// Scraped: any status but unknown and offline. On a loaded
			// machine some show slow (the scrape took longer than the
			// threshold), which is still a collector being scraped.
			if v := metricSum(body, "corral_collectors") - metricSum(body, `corral_collectors{status="unknown"}`) -
				metricSum(body, `corral_collectors{status="offline"}`); v >= want {
				c.toOnline = time.Since(t0)
				fmt.Printf("  statuses: %s\n", statuses(body))
				break
			}
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("corral did not scrape all %v collectors by the deadline: %s", want, statuses(body))
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return c, err
		}
	}
	fmt.Printf("  all %d collectors scraped after %s (all loops running after %s); warming up %s\n",
		int(want), c.toOnline.Round(100*time.Millisecond), c.toLoops.Round(100*time.Millisecond), b.o.Warmup)
	if err := sleep(ctx, b.o.Warmup); err != nil {
		return c, err
	}
	before, _ := get(base + "/metrics")
	c.measure, err = watch(ctx, srv.Process.Pid, b.o.Window)
	if err != nil {
		return c, err
	}
	after, _ := get(base + "/metrics")
	c.lagP99 = quantile(0.99, histogram(before, "corral_scrape_start_lag_seconds"), histogram(after, "corral_scrape_start_lag_seconds"))
	win := b.o.Window.Seconds()
	c.scrapesPerSec = (metricSum(after, "corral_scrapes_total") - metricSum(before, "corral_scrapes_total")) / win
	c.samplesPerSec = (metricSum(after, "corral_scrape_samples_total") - metricSum(before, "corral_scrape_samples_total")) / win
	c.storeWrites = (metricSum(after, "corral_store_writes_total") - metricSum(before, "corral_store_writes_total")) / win
	c.heapInuse, _ = metricValue(after, "go_memstats_heap_inuse_bytes ")
	c.goroutines, _ = metricValue(after, "go_goroutines ")
	c.stackInuse, _ = metricValue(after, "go_memstats_stack_inuse_bytes ")

	api, err := login(base, b.password)
	if err != nil {
		return c, err
	}
	if b.o.ProfileDir != "" {
		if err := b.profiles(api, base, round); err != nil {
			return c, err
		}
	}
	if round == 0 {
		if err := b.offline(ctx, api, base); err != nil {
			return c, err
		}
		if b.o.Extras {
			if err := b.extras(ctx, api, base, srv.Process.Pid, c.scrapesPerSec); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// statuses lists the non-zero corral_collectors{status} of a /metrics body.
func statuses(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, `corral_collectors{status="`); ok {
			name, v, _ := strings.Cut(rest, `"} `)
			if v != "0" {
				out = append(out, name+" "+v)
			}
		}
	}
	return strings.Join(out, ", ")
}

// login returns a client with a session of the admin.
func login(base, password string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute}
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": password})
	resp, err := c.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("login: %s: %s", resp.Status, b)
	}
	return c, nil
}

// profiles saves corral's heap (after a GC), goroutine and a 10 s CPU profile.
func (b *bench) profiles(api *http.Client, base string, round int) error {
	if err := os.MkdirAll(b.o.ProfileDir, 0o755); err != nil {
		return err
	}
	for _, p := range []string{"heap?gc=1", "goroutine", "profile?seconds=10"} {
		resp, err := api.Get(base + "/debug/pprof/" + p)
		if err != nil {
			return err
		}
		kind, _, _ := strings.Cut(p, "?")
		name := fmt.Sprintf("corral-%d-gzip-%v-%s-r%d.pb.gz", b.o.Agents, b.o.Gzip, kind, round+1)
		f, err := os.Create(filepath.Join(b.o.ProfileDir, name))
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("pprof %s: %s", p, resp.Status)
		}
	}
	fmt.Printf("  profiles in %s\n", b.o.ProfileDir)
	return nil
}

// offline kills the single agent and times until corral says it is offline.
func (b *bench) offline(ctx context.Context, api *http.Client, base string) error {
	killed := time.Now()
	_ = b.agent.Process.Kill()
	_, _ = b.agent.Process.Wait()
	for {
		resp, err := api.Get(base + "/api/v1/collectors/bench-single/status")
		if err == nil {
			var st struct {
				Status string `json:"status"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Status == "offline" {
				fmt.Printf("  killed agent shown offline after %s (grace %s + interval %s = %s)\n",
					time.Since(killed).Round(100*time.Millisecond), b.grace, b.o.Interval, b.grace+b.o.Interval)
				break
			}
		}
		if time.Since(killed) > b.grace+10*b.o.Interval {
			fmt.Println("  killed agent was not shown offline in time")
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	// The later rounds scrape the fleet alone, as vmagent and the floor do.
	return os.Remove(filepath.Join(b.sdDir, "single.yml"))
}

// runVMAgent runs vmagent for one round: started, all targets up, warm-up, window.
func (b *bench) runVMAgent(ctx context.Context, round int) (measure, error) {
	cfg, err := vmagentConfig(b.sdFiles, b.o.Interval, b.timeout, b.o.Gzip)
	if err != nil {
		return measure{}, err
	}
	cfgPath := filepath.Join(b.dir, "vmagent.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return measure{}, err
	}
	tmpData := filepath.Join(b.dir, fmt.Sprintf("vmagent-data-%d", round))
	port := freePort()
	vm, err := start(b.vmagent, vmagentArgs(cfgPath, b.sinkURL, tmpData, port)...)
	if err != nil {
		return measure{}, err
	}
	defer stopProc(vm)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(2*time.Minute + time.Duration(b.o.Agents/1000)*10*time.Second)
	t0 := time.Now()
	for {
		body, err := get(base + "/metrics")
		if err == nil && vmagentUp(body) >= float64(b.o.Agents) {
			break
		}
		if time.Now().After(deadline) {
			return measure{}, fmt.Errorf("vmagent saw %v of %d targets up by the deadline", vmagentUp(body), b.o.Agents)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return measure{}, err
		}
	}
	fmt.Printf("  all %d targets up after %s; warming up %s\n", b.o.Agents, time.Since(t0).Round(100*time.Millisecond), b.o.Warmup)
	if err := sleep(ctx, b.o.Warmup); err != nil {
		return measure{}, err
	}
	req0, bytes0 := b.sink.requests.Load(), b.sink.bytes.Load()
	before, _ := get(base + "/metrics")
	m, err := watch(ctx, vm.Process.Pid, b.o.Window)
	after, _ := get(base + "/metrics")
	win := b.o.Window.Seconds()
	fmt.Printf("  vmagent: %.1f scrapes/s, %.0f samples/s, remote write %.0f requests/s, %.0f KiB/s to the discard sink\n",
		(metricSum(after, "vm_promscrape_scrapes_total")-metricSum(before, "vm_promscrape_scrapes_total"))/win,
		(metricSum(after, "vm_promscrape_scraped_samples_sum")-metricSum(before, "vm_promscrape_scraped_samples_sum"))/win,
		float64(b.sink.requests.Load()-req0)/win, float64(b.sink.bytes.Load()-bytes0)/win/1024)
	return m, err
}

// floor runs the GET-and-discard loop for one round: warm-up, window.
func (b *bench) floor(ctx context.Context) (measure, error) {
	self, _ := os.Executable()
	args := []string{"floor", "--interval", b.o.Interval.String()}
	for _, sd := range b.sdFiles {
		args = append(args, "--sd-file", sd)
	}
	if b.o.Gzip {
		args = append(args, "--gzip")
	}
	fl, err := start(self, args...)
	if err != nil {
		return measure{}, err
	}
	defer stopProc(fl)
	if err := sleep(ctx, b.o.Warmup); err != nil {
		return measure{}, err
	}
	return watch(ctx, fl.Process.Pid, b.o.Window)
}

// metricSum adds up the values of every series of a family (lines starting
// with name followed by { or a space).
func metricSum(body, name string) float64 {
	var sum float64
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name) || len(l) == len(name) || (l[len(name)] != '{' && l[len(name)] != ' ') {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// printTable prints every round of each subject and the ratios of their means.
func printTable(o RunOptions, cr []corralRound, vm, fl []measure) {
	var cores, rss []float64
	for _, c := range cr {
		cores = append(cores, c.cores)
		rss = append(rss, mib(c.rssMax))
	}
	col := func(ms []measure) (cs, rs []float64) {
		for _, m := range ms {
			cs = append(cs, m.cores)
			rs = append(rs, mib(m.rssMax))
		}
		return
	}
	vc, vr := col(vm)
	fc, fr := col(fl)
	fmt.Println()
	fmt.Printf("%d agents, gzip %v, log pulls %v, window %s, rounds %d, load %s\n", o.Agents, o.Gzip, o.Logs, o.Window, len(cr), loadavg())
	fmt.Println()
	fmt.Println("| measure | corral | vmagent | floor (GET and discard) |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| CPU (cores), each round | %s | %s | %s |\n", list(cores, "%.3f"), list(vc, "%.3f"), list(fc, "%.3f"))
	fmt.Printf("| peak RSS (MiB), each round | %s | %s | %s |\n", list(rss, "%.0f"), list(vr, "%.0f"), list(fr, "%.0f"))
	var heap, stack, gor, sps, smp, lag, wr, loops, online []float64
	for _, c := range cr {
		heap = append(heap, c.heapInuse/(1<<20))
		stack = append(stack, c.stackInuse/(1<<20))
		gor = append(gor, c.goroutines)
		sps = append(sps, c.scrapesPerSec)
		smp = append(smp, c.samplesPerSec)
		lag = append(lag, c.lagP99*1000)
		wr = append(wr, c.storeWrites)
		loops = append(loops, c.toLoops.Seconds())
		online = append(online, c.toOnline.Seconds())
	}
	fmt.Printf("| heap in use (MiB) | %s | | |\n", list(heap, "%.0f"))
	fmt.Printf("| goroutine stacks (MiB) | %s | | |\n", list(stack, "%.1f"))
	fmt.Printf("| goroutines | %s | | |\n", list(gor, "%.0f"))
	fmt.Printf("| scrapes/s | %s | | |\n", list(sps, "%.1f"))
	fmt.Printf("| samples/s | %s | | |\n", list(smp, "%.0f"))
	fmt.Printf("| scrape start lag p99 (ms) | %s | | |\n", list(lag, "%.2f"))
	fmt.Printf("| store rows written/s | %s | | |\n", list(wr, "%.1f"))
	fmt.Printf("| start → all loops running (s) (round 1: empty store) | %s | | |\n", list(loops, "%.1f"))
	fmt.Printf("| start → all scraped (s) | %s | | |\n", list(online, "%.1f"))
	fmt.Println()
	if f := mean(fc); f > 0 {
		fmt.Printf("CPU / floor: corral %.2f (%s), vmagent %.2f (target for corral ≤ 1.3)\n", mean(cores)/f, spread(cores, f), mean(vc)/f)
	}
	if v := mean(vr); v > 0 {
		fmt.Printf("peak RSS / vmagent's: corral %.2f (%.0f vs %.0f MiB; target ≤ 1.0); per target: corral %.1f KiB, vmagent %.1f KiB\n",
			mean(rss)/v, mean(rss), v, mean(rss)*1024/float64(o.Agents), v*1024/float64(o.Agents))
	}
	if v := mean(vc); v > 0 {
		fmt.Printf("CPU corral / vmagent = %.2f\n", mean(cores)/v)
	}
}

func list(v []float64, format string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " / ")
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// spread of the per-round ratios to the floor's mean, as "min–max".
func spread(v []float64, floor float64) string {
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf("rounds %.2f–%.2f", slices.Min(v)/floor, slices.Max(v)/floor)
}
