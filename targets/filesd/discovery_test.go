package filesd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/corral-dev/corral/targets"
)

const deadline = 5 * time.Second

// harness runs a Discovery and keeps the groups it sent, as the Manager does.
type harness struct {
	t   *testing.T
	d   *Discovery
	reg *prometheus.Registry
	log *logRecorder

	mu     sync.Mutex
	groups map[string]*targets.Group
	sends  int
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return startShared(t, cfg, NewMetrics(reg), reg)
}

func startShared(t *testing.T, cfg Config, metrics *Metrics, reg *prometheus.Registry) *harness {
	t.Helper()
	if err := cfg.Validate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, reg: reg, log: &logRecorder{}, groups: map[string]*targets.Group{}}
	h.d = New("job", cfg, slog.New(h.log), metrics)
	ctx, cancel := context.WithCancel(t.Context())
	up := make(chan []*targets.Group)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.d.Run(ctx, up) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case gs := <-up:
				h.mu.Lock()
				h.sends++
				for _, g := range gs {
					if len(g.Targets) == 0 {
						delete(h.groups, g.Source)
					} else {
						h.groups[g.Source] = g
					}
				}
				h.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	h.waitSends(1)
	return h
}

func (h *harness) targets() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, g := range h.groups {
		out = append(out, g.Targets...)
	}
	slices.Sort(out)
	return out
}

func (h *harness) sendCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sends
}

func (h *harness) waitSends(n int) {
	h.t.Helper()
	eventually(h.t, "updates", func() bool { return h.sendCount() >= n })
}

func (h *harness) waitTargets(want ...string) {
	h.t.Helper()
	slices.Sort(want)
	end := time.Now().Add(deadline)
	for {
		got := h.targets()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(end) {
			h.t.Fatalf("targets = %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) status(path string) (FileStatus, bool) {
	for _, s := range h.d.Status() {
		if s.Path == path {
			return s, true
		}
	}
	return FileStatus{}, false
}

// metric returns the value of name{file=path}, and whether the series exists.
func (h *harness) metric(name, path string) (float64, bool) {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "file" && l.GetValue() == path {
					if c := m.GetCounter(); c != nil {
						return c.GetValue(), true
					}
					return m.GetGauge().GetValue(), true
				}
			}
			if path == "" {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic writes as editors and config tools do: a temp file renamed over.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.json"), filepath.Join(dir, "c.yml")
	write(t, a, "- targets: ['a:1']\n")
	write(t, b, `[{"targets": ["b:1", "b:2"], "labels": {"team": "x"}}]`)
	write(t, filepath.Join(dir, "ignored.txt"), "- targets: ['no:1']\n")
	// An hour-long refresh: every change below must come through fsnotify.
	h := start(t, Config{Files: []string{filepath.Join(dir, "*.yml"), filepath.Join(dir, "*.json")}, RefreshInterval: time.Hour})
	h.waitTargets("a:1", "b:1", "b:2")
	h.mu.Lock()
	g := h.groups[b+":0"]
	h.mu.Unlock()
	if g == nil || g.Labels[targets.LabelFilePath] != b || g.Labels["team"] != "x" {
		t.Fatalf("group of b.json = %+v", g)
	}

	t.Run("in-place edit", func(t *testing.T) {
		write(t, a, "- targets: ['a:1', 'a:2']\n")
		h.waitTargets("a:1", "a:2", "b:1", "b:2")
	})
	t.Run("write to temp and rename is one update", func(t *testing.T) {
		before := h.sendCount()
		writeAtomic(t, a, "- targets: ['a:3']\n- targets: ['a:4']\n")
		h.waitTargets("a:3", "a:4", "b:1", "b:2")
		time.Sleep(3 * settle) // let any further event settle
		if n := h.sendCount() - before; n != 1 {
			t.Errorf("%d updates for one rename, want 1", n)
		}
	})
	t.Run("fewer groups send the vanished sources empty", func(t *testing.T) {
		writeAtomic(t, a, "- targets: ['a:5']\n")
		h.waitTargets("a:5", "b:1", "b:2")
	})
	t.Run("new file matching the glob", func(t *testing.T) {
		writeAtomic(t, c, "- targets: ['c:1']\n")
		h.waitTargets("a:5", "b:1", "b:2", "c:1")
	})
	t.Run("valid empty file is zero targets", func(t *testing.T) {
		write(t, c, "[]\n")
		h.waitTargets("a:5", "b:1", "b:2")
		st, ok := h.status(c)
		if !ok || st.Error != "" || st.Targets != 0 || st.LastGoodRead.IsZero() {
			t.Errorf("status of c = %+v", st)
		}
	})
	t.Run("deletion removes targets, status and series", func(t *testing.T) {
		if _, ok := h.metric("corral_sd_file_targets", b); !ok {
			t.Fatal("no series for b before deletion")
		}
		if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
		h.waitTargets("a:5")
		eventually(t, "b gone from status", func() bool { _, ok := h.status(b); return !ok })
		for _, name := range []string{"corral_sd_file_targets", "corral_sd_file_error", "corral_sd_file_read_errors_total", "corral_sd_file_last_good_read_timestamp_seconds"} {
			if _, ok := h.metric(name, b); ok {
				t.Errorf("%s{file=%q} still there", name, b)
			}
		}
		if n, _ := h.metric("corral_sd_files_watched", ""); n != 2 {
			t.Errorf("corral_sd_files_watched = %v, want 2", n)
		}
	})
}

func TestDiscoveryBrokenFileKeepsLastGood(t *testing.T) {
	const good = "- targets: ['x:1', 'y:1']\n  labels: {team: a}\n"
	tests := []struct {
		name    string
		broken  string
		wantErr string
	}{
		{"null item", good + "- null\n", "group 1 is null"},
		{"unknown field", good + "  owner: bob\n", `unknown field "owner"`},
		{"gibberish", "\x00\x01 }}{{ ::: not yaml", "yaml"},
		{"half written", good[:17], "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sd.yml")
			write(t, path, good)
			h := start(t, Config{Files: []string{path}, RefreshInterval: 20 * time.Millisecond})
			h.waitTargets("x:1", "y:1")
			firstGood, _ := h.status(path)

			broke := time.Now()
			write(t, path, tt.broken)
			var st FileStatus
			eventually(t, "error in status", func() bool { st, _ = h.status(path); return st.Error != "" })
			if !strings.Contains(st.Error, tt.wantErr) || st.ErrorAt.Before(broke) || st.Targets != 2 {
				t.Errorf("status = %+v, want error containing %q and 2 targets", st, tt.wantErr)
			}
			if got := h.targets(); !slices.Equal(got, []string{"x:1", "y:1"}) {
				t.Errorf("targets = %v, want the last good ones", got)
			}
			// Several refreshes later: still one warning, the error metric set and counting.
			eventually(t, "repeated failed reads", func() bool {
				n, _ := h.metric("corral_sd_file_read_errors_total", path)
				return n >= 3
			})
			if n := h.log.count(slog.LevelWarn, "unreadable"); n != 1 {
				t.Errorf("%d warnings for one error, want 1", n)
			}
			if v, _ := h.metric("corral_sd_file_error", path); v != 1 {
				t.Errorf("corral_sd_file_error = %v, want 1", v)
			}
			if v, _ := h.metric("corral_sd_file_targets", path); v != 2 {
				t.Errorf("corral_sd_file_targets = %v, want 2 (the last good read)", v)
			}
			if st2, _ := h.status(path); st2.ErrorAt != st.ErrorAt {
				t.Errorf("ErrorAt moved from %v to %v for the same error", st.ErrorAt, st2.ErrorAt)
			}

			// Fixing the file clears the error and takes the new targets.
			write(t, path, "- targets: ['z:1']\n")
			h.waitTargets("z:1")
			eventually(t, "error cleared", func() bool { st, _ = h.status(path); return st.Error == "" })
			if !st.ErrorAt.IsZero() || st.Targets != 1 || !st.LastGoodRead.After(firstGood.LastGoodRead) {
				t.Errorf("status after fix = %+v", st)
			}
			if v, _ := h.metric("corral_sd_file_error", path); v != 0 {
				t.Errorf("corral_sd_file_error = %v after the fix", v)
			}
			if v, _ := h.metric("corral_sd_file_last_good_read_timestamp_seconds", path); v < float64(broke.Unix()) {
				t.Errorf("last good read %v, before the fix", v)
			}
			if n := h.log.count(slog.LevelInfo, "readable again"); n != 1 {
				t.Errorf("%d recovery lines, want 1", n)
			}
		})
	}
}

// TestDiscoveryAsPrometheus: what Prometheus reads, corral reads the same
// way: an empty file has no targets, and one bad target is dropped alone,
// reported in the status, a metric and one warning, while the rest is scraped.
func TestDiscoveryAsPrometheus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sd.yml")
	write(t, path, "- targets: ['x:1']\n")
	h := start(t, Config{Files: []string{path}, RefreshInterval: 20 * time.Millisecond})
	h.waitTargets("x:1")

	write(t, path, "- targets: ['http://x:1', 'y:1']\n  labels: {team: a}\n- targets: [z]\n")
	h.waitTargets("y:1", "z")
	st, _ := h.status(path)
	if st.Error != "" || st.Targets != 2 || len(st.Dropped) != 1 || st.Dropped[0].Target != "http://x:1" || st.Dropped[0].Group != 0 ||
		!strings.Contains(st.Dropped[0].Reason, "without a scheme") {
		t.Errorf("status = %+v, want 2 targets and http://x:1 dropped", st)
	}
	if v, _ := h.metric("corral_sd_file_dropped_targets", path); v != 1 {
		t.Errorf("corral_sd_file_dropped_targets = %v, want 1", v)
	}
	time.Sleep(100 * time.Millisecond) // five refreshes of the same bytes
	if n := h.log.count(slog.LevelWarn, "target dropped"); n != 1 {
		t.Errorf("%d warnings for one dropped target, want 1", n)
	}

	write(t, path, "")
	h.waitTargets()
	st, _ = h.status(path)
	if st.Error != "" || st.Targets != 0 || len(st.Dropped) != 0 {
		t.Errorf("status of the empty file = %+v, want no error and no targets", st)
	}
	if v, _ := h.metric("corral_sd_file_dropped_targets", path); v != 0 {
		t.Errorf("corral_sd_file_dropped_targets = %v, want 0", v)
	}
}

func TestDiscoveryPeriodicRefresh(t *testing.T) {
	// The directory does not exist at start, so there is nothing to watch: only
	// the periodic refresh can find the file.
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "sd.json")
	h := start(t, Config{Files: []string{filepath.Join(dir, "*.json")}, RefreshInterval: 30 * time.Millisecond})
	if got := h.targets(); len(got) != 0 {
		t.Fatalf("targets = %v", got)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, path, `[{"targets": ["p:1"]}]`)
	h.waitTargets("p:1")
	if n := h.log.count(slog.LevelWarn, "cannot watch directory"); n != 1 {
		t.Errorf("%d warnings about the missing directory, want 1", n)
	}
	// Once the directory exists it is watched too: with the refresh stopped in
	// effect (the file is already known), an edit still arrives.
	write(t, path, `[{"targets": ["p:2"]}]`)
	h.waitTargets("p:2")
}

func TestDiscoveryConfigMapSymlinkSwap(t *testing.T) {
	// A Kubernetes ConfigMap volume: sd.yml -> ..data/sd.yml, ..data -> ..v1; an
	// update writes ..v2, points ..data_tmp at it and renames ..data_tmp over ..data.
	dir := t.TempDir()
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	version := func(name, content string) {
		mustDo(os.Mkdir(filepath.Join(dir, name), 0o755))
		write(t, filepath.Join(dir, name, "sd.yml"), content)
	}
	version("..v1", "- targets: ['k:1']\n")
	mustDo(os.Symlink("..v1", filepath.Join(dir, "..data")))
	mustDo(os.Symlink(filepath.Join("..data", "sd.yml"), filepath.Join(dir, "sd.yml")))

	h := start(t, Config{Files: []string{filepath.Join(dir, "*.yml")}, RefreshInterval: time.Hour})
	h.waitTargets("k:1")

	version("..v2", "- targets: ['k:2']\n")
	mustDo(os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	mustDo(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	mustDo(os.RemoveAll(filepath.Join(dir, "..v1")))
	h.waitTargets("k:2")
}

func TestDiscoveryCoalescesBursts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sd.yml")
	write(t, path, "- targets: ['b:1000']\n")
	h := start(t, Config{Files: []string{path}, RefreshInterval: time.Hour})
	h.waitTargets("b:1000")
	before := h.sendCount()
	for i := 1; i <= 20; i++ {
		write(t, path, fmt.Sprintf("- targets: ['b:%d', 'last:1']\n", 1000+i%10))
	}
	h.waitTargets("b:1000", "last:1")
	time.Sleep(3 * settle)
	if n := h.sendCount() - before; n > 2 {
		t.Errorf("%d updates for one burst of 20 writes, want 1 or 2", n)
	}
}

func TestMetricsSharedByPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sd.yml")
	write(t, path, "- targets: ['s:1']\n")
	reg := prometheus.NewPedanticRegistry()
	metrics := NewMetrics(reg)

	ctx, cancel := context.WithCancel(t.Context())
	d1 := New("one", Config{Files: []string{path}}, nil, metrics)
	up := make(chan []*targets.Group, 1)
	done := make(chan struct{})
	go func() { defer close(done); d1.Run(ctx, up) }()
	<-up

	h := startShared(t, Config{Files: []string{path}, RefreshInterval: time.Hour}, metrics, reg)
	h.waitTargets("s:1")
	if v, ok := h.metric("corral_sd_file_targets", path); !ok || v != 1 {
		t.Fatalf("corral_sd_file_targets = %v %v", v, ok)
	}
	cancel()
	<-done
	// The other Discovery still reads the file: its series stay.
	if _, ok := h.metric("corral_sd_file_targets", path); !ok {
		t.Error("series removed while another job still reads the file")
	}
	if n, _ := h.metric("corral_sd_files_watched", ""); n != 1 {
		t.Errorf("corral_sd_files_watched = %v, want 1", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// logRecorder is a slog handler that keeps the records.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(level slog.Level, msgPart string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level && strings.Contains(rec.Message, msgPart) {
			n++
		}
	}
	return n
}
