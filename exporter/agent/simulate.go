package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// Behaviours a simulated agent can have, as --mix names them.
var Behaviours = []string{"online", "slow", "stale", "incomplete", "error", "waiting", "paused"}

// SimulateOptions configure Simulate.
type SimulateOptions struct {
	Count    int           // agents (default 10)
	Address  string        // IP to listen on (default 127.0.0.1)
	BasePort int           // first port; agent i listens on BasePort+i (default 19100)
	Interval time.Duration // collection interval (default 5s)
	Series   int           // synthetic_value series per agent (default 150, ~200 samples in all)
	Rate     float64       // items per second of a healthy agent (default 2)
	// Mix weights the behaviours, e.g. "online=80,slow=4,stale=4,incomplete=4,error=4,waiting=2,paused=2".
	Mix         string
	Job         string // job label in the file_sd file (default simulate)
	SDFile      string // file_sd YAML to write ("" writes none)
	TrustedKeys []string
	Seed        uint64
	// FirstIndex numbers the agents from here (sim-<FirstIndex>…), so several
	// simulate processes can make one fleet without name clashes.
	FirstIndex int
	// StateDir holds each agent's state file (<name>.json), as a real agent's
	// state_file: paused state, applied config and the answers that make
	// commands idempotent survive a restart command. "" uses a temporary
	// folder removed when Simulate returns.
	StateDir string
	Logger   *slog.Logger
	// Ready is called once every agent listens.
	Ready func(agents []SimAgent)
}

// SimAgent describes one simulated agent.
type SimAgent struct {
	Name      string
	Behaviour string
	Address   string
}

// ParseMix parses "online=80,slow=5" into weights.
func ParseMix(s string) (map[string]float64, error) {
	w := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		w["online"] = 1
		return w, nil
	}
	known := map[string]bool{}
	for _, b := range Behaviours {
		known[b] = true
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			val = "1"
		}
		name = strings.TrimSpace(name)
		if !known[name] {
			return nil, fmt.Errorf("--mix: unknown behaviour %q, want one of %s", name, strings.Join(Behaviours, ", "))
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("--mix: weight of %s must be a non-negative number, got %q", name, val)
		}
		w[name] += f
	}
	total := 0.0
	for _, f := range w {
		total += f
	}
	if total == 0 {
		return nil, errors.New("--mix: all weights are zero")
	}
	return w, nil
}

// assign gives each of n agents a behaviour: counts proportional to the weights
// (largest remainder), order shuffled by seed so behaviours spread over the ports.
func assign(n int, weights map[string]float64, seed uint64) []string {
	total := 0.0
	for _, f := range weights {
		total += f
	}
	type share struct {
		name string
		n    int
		rem  float64
	}
	var shares []share
	given := 0
	for _, b := range Behaviours {
		f := weights[b]
		if f == 0 {
			continue
		}
		exact := float64(n) * f / total
		shares = append(shares, share{b, int(exact), exact - float64(int(exact))})
		given += int(exact)
	}
	sort.SliceStable(shares, func(i, j int) bool { return shares[i].rem > shares[j].rem })
	for i := 0; given < n; i = (i + 1) % len(shares) {
		shares[i].n++
		given++
	}
	out := make([]string, 0, n)
	for _, b := range Behaviours {
		for _, s := range shares {
			if s.name == b {
				for range s.n {
					out = append(out, b)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(seed, 42))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// behaviourConfig is the synthetic config and schedule that produce a behaviour.
func behaviourConfig(b string, o SimulateOptions) (synthetic.Config, exporter.Schedule, bool) {
	cfg := synthetic.Config{Rate: o.Rate, Series: o.Series}
	var sched exporter.Schedule
	paused := false
	switch b {
	case "slow":
		cfg.Slow = o.Interval * 6 / 10
	case "stale":
		cfg.Lag = 10 * o.Interval
		if cfg.Lag < 10*time.Minute {
			cfg.Lag = 10 * time.Minute
		}
	case "incomplete":
		cfg.MissingRatio = 0.5
	case "error":
		cfg.ErrorRatio = 1
	case "waiting":
		// A daily window that starts 6 hours from now and lasts one hour.
		now := time.Now().UTC()
		from := now.Add(6 * time.Hour).Truncate(time.Minute)
		s := &exporter.WeeklySchedule{Location: time.UTC}
		for i := range s.Days {
			s.Days[i] = true
		}
		y, m, d := from.Date()
		s.From = from.Sub(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
		s.To = (s.From + time.Hour) % (24 * time.Hour)
		sched = s
	case "paused":
		paused = true
	}
	cfg.Defaults()
	return cfg, sched, paused
}

// slot is one simulated agent's listener; the agent behind it is swapped on restart.
type slot struct {
	info    SimAgent
	handler atomic.Pointer[http.Handler]
}

func (s *slot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.handler.Load()
	if h == nil {
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

// Simulate runs o.Count agents with the synthetic collector in this process, each on
// its own loopback port, and writes a file_sd file listing them. It returns when
// ctx ends.
func Simulate(ctx context.Context, o SimulateOptions) error {
	if o.Count <= 0 {
		o.Count = 10
	}
	if o.Address == "" {
		o.Address = "127.0.0.1"
	}
	if o.BasePort == 0 {
		o.BasePort = 19100
	}
	if o.BasePort+o.Count-1 > 65535 {
		return fmt.Errorf("--base-port %d + --count %d runs past port 65535", o.BasePort, o.Count)
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Series <= 0 {
		o.Series = 150
	}
	if o.Rate <= 0 {
		o.Rate = 2
	}
	if o.Job == "" {
		o.Job = "simulate"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	weights, err := ParseMix(o.Mix)
	if err != nil {
		return err
	}
	var keys []ed25519.PublicKey
	for i, k := range o.TrustedKeys {
		pub, err := control.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("--trusted-key[%d]: %w", i, err)
		}
		keys = append(keys, pub)
	}
	behaviours := assign(o.Count, weights, o.Seed)
	if o.StateDir == "" {
		dir, err := os.MkdirTemp("", "corral-simulate-")
		if err != nil {
			return fmt.Errorf("state folder: %w (set --state-dir)", err)
		}
		defer os.RemoveAll(dir)
		o.StateDir = dir
	} else if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}

	slots := make([]*slot, o.Count)
	listeners := make([]net.Listener, 0, o.Count)
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}
	for i := range o.Count {
		addr := net.JoinHostPort(o.Address, strconv.Itoa(o.BasePort+i))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("simulated agent %d: listen on %s: %w (choose another --base-port or a smaller --count)", i, addr, err)
		}
		listeners = append(listeners, ln)
		slots[i] = &slot{info: SimAgent{Name: fmt.Sprintf("sim-%04d", o.FirstIndex+i), Behaviour: behaviours[i], Address: addr}}
	}

	if o.SDFile != "" {
		if err := writeSDFile(o.SDFile, o.Job, slots); err != nil {
			closeAll()
			return err
		}
	}

	var wg sync.WaitGroup
	servers := make([]*http.Server, o.Count)
	for i, s := range slots {
		servers[i] = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
		wg.Go(func() { _ = servers[i].Serve(listeners[i]) })
		wg.Go(func() { runSimAgent(ctx, s, o, keys, o.Seed+uint64(i)) })
	}
	agents := make([]SimAgent, o.Count)
	for i, s := range slots {
		agents[i] = s.info
	}
	counts := map[string]int{}
	for _, b := range behaviours {
		counts[b]++
	}
	o.Logger.Info("simulated agents listening", "count", o.Count, "first", agents[0].Address, "last", agents[len(agents)-1].Address, "behaviours", fmt.Sprint(counts), "sd_file", o.SDFile)
	if o.Ready != nil {
		o.Ready(agents)
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	wg.Wait()
	return nil
}

// runSimAgent runs one simulated agent, rebuilding it after each restart command.
func runSimAgent(ctx context.Context, s *slot, o SimulateOptions, keys []ed25519.PublicKey, seed uint64) {
	for ctx.Err() == nil {
		cfg, sched, paused := behaviourConfig(s.info.Behaviour, o)
		reg := prometheus.NewRegistry()
		started := time.Now()
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "process_start_time_seconds",
			Help: "Start time of the simulated agent since unix epoch in seconds.",
		}, func() float64 { return float64(started.UnixNano()) / 1e9 }))
		// Its records also go to the agent's /logs, as run's do, so that corral's
		// log viewer has something to show for the simulated fleet.
		logs := exporter.NewLogBuffer(1000)
		opts := exporter.Options{
			Name:             s.info.Name,
			Kind:             "synthetic",
			Version:          "simulate",
			Interval:         o.Interval,
			Jitter:           o.Interval / 10,
			ExpectedItems:    o.Rate * o.Interval.Seconds(),
			Schedule:         sched,
			Retry:            exporter.RetryPolicy{Attempts: 1},
			Registry:         reg,
			Logger:           slog.New(logs.Handler(o.Logger.Handler(), slog.LevelInfo)).With("collector", s.info.Name),
			Logs:             logs,
			StartPaused:      paused, // the state file decides once it exists
			StatePath:        filepath.Join(o.StateDir, s.info.Name+".json"),
			RestartSupported: true,
			StopTimeout:      time.Second,
		}
		opts.TrustedKeys = keys
		a, err := exporter.New(synthetic.New(cfg, seed), opts)
		if err != nil {
			o.Logger.Error("simulated agent failed to start", "collector", s.info.Name, "err", err)
			return
		}
		h := a.Handler()
		s.handler.Store(&h)
		err = a.Run(ctx)
		s.handler.Store(nil)
		if !errors.Is(err, exporter.ErrRestart) {
			return
		}
	}
}

type sdGroup struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// writeSDFile writes the file_sd YAML atomically, so a reader never sees half a file.
func writeSDFile(path, job string, slots []*slot) error {
	groups := make([]sdGroup, len(slots))
	for i, s := range slots {
		groups[i] = sdGroup{
			Targets: []string{s.info.Address},
			Labels:  map[string]string{"collector": s.info.Name, "behaviour": s.info.Behaviour, "job": job},
		}
	}
	b, err := yaml.Marshal(groups)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--sd-file: %w", err)
		}
	}
	tmp := path + ".tmp"
	content := append([]byte("# Written by corral-agent simulate; rewritten on every start.\n"), b...)
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return fmt.Errorf("--sd-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--sd-file: %w", err)
	}
	return nil
}
