package targets

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestManagerSendsFullMergedSets(t *testing.T) {
	m := NewManager(nil, nil)
	pa, pb := newFake(KindFileSD), newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{
		{Name: "a", Key: "1", Providers: []Provider{pa}},
		{Name: "b", Key: "1", Providers: []Provider{pb}},
	})
	runManager(t, m)

	pa.push <- []*Group{group("f:0", nil, "h1:1", "h2:1"), group("f:1", nil, "h3:1")}
	pb.push <- []*Group{group("f:0", nil, "h1:1")}
	waitSet(t, m, "both jobs", hasCollectors("a/h1:1", "a/h2:1", "a/h3:1", "b/h1:1"))

	// A change of one source is sent as the full set, with the other job's targets.
	pa.push <- []*Group{group("f:1", nil, "h4:1")}
	waitSet(t, m, "changed source", hasCollectors("a/h1:1", "a/h2:1", "a/h4:1", "b/h1:1"))

	// A source sent without targets is gone.
	pa.push <- []*Group{{Source: "f:0"}}
	waitSet(t, m, "vanished source", hasCollectors("a/h4:1", "b/h1:1"))
}

func TestManagerCoalesces(t *testing.T) {
	m := NewManager(nil, nil)
	p := newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{{Name: "j", Key: "1", Providers: []Provider{p}}})
	runManager(t, m)

	// A burst of 100 updates over ~0.5s must arrive as a few full sets, at least
	// the coalescing window apart.
	const n = 100
	start := time.Now()
	go func() {
		for i := range n {
			p.push <- []*Group{group(fmt.Sprintf("s:%03d", i), nil, fmt.Sprintf("h%03d:1", i))}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var (
		sets  int
		times []time.Time
	)
	waitSet(t, m, "all targets", func(set []*Target) bool {
		sets++
		times = append(times, time.Now())
		return len(set) == n
	})
	elapsed := time.Since(start)
	if max := int(elapsed/coalesceWindow) + 2; sets > max {
		t.Errorf("%d sets in %s, want at most %d", sets, elapsed, max)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < coalesceWindow*8/10 {
			t.Errorf("sets %d and %d only %s apart", i-1, i, gap)
		}
	}
}

func TestManagerNeverBlocksProviders(t *testing.T) {
	m := NewManager(nil, nil)
	p := newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{{Name: "j", Key: "1", Providers: []Provider{p}}})
	runManager(t, m)

	// Nobody reads Updates while the provider sends 500 updates: they must all
	// be taken, and the one pending set must end up being the latest.
	const n = 500
	for i := range n {
		p.push <- []*Group{group("s:0", nil, fmt.Sprintf("h%03d:1", i))}
	}
	eventually(t, "provider drained", func() bool { return len(p.push) == 0 })
	waitSet(t, m, "latest set", hasCollectors(fmt.Sprintf("j/h%03d:1", n-1)))
}

func TestApplyJobsKeepsUnchangedJobs(t *testing.T) {
	m := NewManager(nil, nil)
	pa, pb := newFake(KindFileSD), newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{
		{Name: "a", Key: "k1", Providers: []Provider{pa}},
		{Name: "b", Key: "k1", Providers: []Provider{pb}},
	})
	runManager(t, m)
	pa.push <- []*Group{group("s", nil, "a:1")}
	pb.push <- []*Group{group("s", nil, "b:1")}
	waitSet(t, m, "a and b", hasCollectors("a/a:1", "b/b:1"))

	// Reload: a unchanged, b changed, c new.
	pa2, pb2, pc := newFake(KindFileSD), newFake(KindFileSD), newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{
		{Name: "a", Key: "k1", Providers: []Provider{pa2}},
		{Name: "b", Key: "k2", Providers: []Provider{pb2}},
		{Name: "c", Key: "k1", Providers: []Provider{pc}},
	})
	if got := pb.running.Load(); got != 0 {
		t.Errorf("changed job's old provider still running after ApplyJobs (%d)", got)
	}
	eventually(t, "new providers started", func() bool { return pb2.starts.Load() == 1 && pc.starts.Load() == 1 })
	if pa.starts.Load() != 1 || pa.running.Load() != 1 || pa2.starts.Load() != 0 {
		t.Errorf("unchanged job restarted: old starts %d running %d, new starts %d", pa.starts.Load(), pa.running.Load(), pa2.starts.Load())
	}
	// Until b's new provider has sent its first set, b keeps its old targets.
	pc.push <- []*Group{group("s", nil, "c:1")}
	waitSet(t, m, "b's previous targets standing in", hasCollectors("a/a:1", "b/b:1", "c/c:1"))
	pb2.push <- []*Group{group("s", nil, "b:2")}
	waitSet(t, m, "b's new targets", hasCollectors("a/a:1", "b/b:2", "c/c:1"))

	// An empty Key always restarts; a removed job's targets go at once.
	pa3 := newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{{Name: "a", Providers: []Provider{pa3}}})
	if pa.running.Load() != 0 || pb2.running.Load() != 0 || pc.running.Load() != 0 {
		t.Error("providers of removed or changed jobs still running")
	}
	eventually(t, "restarted provider", func() bool { return pa3.starts.Load() == 1 })
	pa3.push <- []*Group{}
	waitSet(t, m, "only job a, empty", hasCollectors())
}

func TestManagerApplyBeforeRun(t *testing.T) {
	m := NewManager(nil, nil)
	m.ApplyJobs([]ScrapeJob{{Name: "s", Key: "1", Providers: []Provider{NewStatic("s", []StaticConfig{{Targets: []string{"h:1"}}})}}})
	m.ApplyJobs([]ScrapeJob{{Name: "s", Key: "2", Providers: []Provider{NewStatic("s", []StaticConfig{{Targets: []string{"h:2"}}})}}})
	runManager(t, m)
	waitSet(t, m, "the second config", hasCollectors("s/h:2"))
}

func TestResolve(t *testing.T) {
	mk := func(kind, source, job, addr string) *Target {
		ts, err := buildTargets(&ScrapeJob{Name: job}, kind, &Group{Source: source, Targets: []string{addr}, Labels: map[string]string{"collector": "db1"}})
		if err != nil {
			t.Fatal(err)
		}
		return ts[0]
	}
	tests := []struct {
		name        string
		cands       []*Target
		keptSource  string
		conflicts   int
		reasonStart string
	}{
		{"registry beats static beats file_sd", []*Target{mk(KindFileSD, "/a.yml:0", "j", "h:1"), mk(KindStatic, "static_configs[0]", "j", "h:2"), mk(KindRegistry, "id-1", "j", "h:3")}, "id-1", 2, "registry has priority over"},
		{"static beats file_sd", []*Target{mk(KindFileSD, "/a.yml:0", "j", "h:1"), mk(KindStatic, "static_configs[0]", "j", "h:1")}, "static_configs[0]", 1, "static has priority over file_sd"},
		{"same kind: lexical source", []*Target{mk(KindFileSD, "/b.yml:0", "j", "h:1"), mk(KindFileSD, "/a.yml:0", "j", "h:2")}, "/a.yml:0", 1, "both from file_sd"},
		{"same source and job: exact repeat is merged", []*Target{mk(KindFileSD, "/a.yml:0", "j", "h:1"), mk(KindFileSD, "/a.yml:0", "j", "h:1")}, "/a.yml:0", 0, ""},
		{"same source, two jobs", []*Target{mk(KindStatic, "static_configs[0]", "y", "h:1"), mk(KindStatic, "static_configs[0]", "x", "h:1")}, "static_configs[0]", 1, "same static source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][]*Target{tt.cands, reversed(tt.cands)} {
				set, conflicts := resolve(append([]*Target(nil), order...))
				if len(set) != 1 || set[0].Source != tt.keptSource {
					t.Fatalf("kept %v, want source %s", set, tt.keptSource)
				}
				if len(conflicts) != tt.conflicts {
					t.Fatalf("%d conflicts, want %d: %+v", len(conflicts), tt.conflicts, conflicts)
				}
				if tt.conflicts > 0 && (conflicts[0].Collector != "db1" || len(conflicts[0].Reason) < len(tt.reasonStart) || conflicts[0].Reason[:len(tt.reasonStart)] != tt.reasonStart) {
					t.Errorf("conflict %+v, want reason starting %q", conflicts[0], tt.reasonStart)
				}
			}
		})
	}
}

func reversed(ts []*Target) []*Target {
	out := make([]*Target, len(ts))
	for i, t := range ts {
		out[len(ts)-1-i] = t
	}
	return out
}

func TestManagerConflictsAndRejects(t *testing.T) {
	rec := &logRecorder{}
	reg := prometheus.NewPedanticRegistry()
	m := NewManager(slog.New(rec), reg)
	file := newFake(KindFileSD)
	m.ApplyJobs([]ScrapeJob{{Name: "node", Key: "1", Providers: []Provider{
		NewStatic("node", []StaticConfig{
			{Targets: []string{"db:9187"}, Labels: map[string]string{"collector": "pg-main"}},
			{Targets: []string{"x:1", "y:1/metrics"}},
		}),
		file,
	}}})
	runManager(t, m)
	file.push <- []*Group{group("/sd/a.yml:0", map[string]string{"collector": "pg-main"}, "db:9187"), group("/sd/a.yml:1", nil, "other:9100")}
	set := waitSet(t, m, "merged", hasCollectors("node/other:9100", "node/x:1", "pg-main"))
	if set[1].Provider != KindStatic {
		t.Errorf("pg-main from %s, want static", set[1].Provider)
	}
	cs := m.Conflicts()
	if len(cs) != 1 || cs[0].Kept.Provider != KindStatic || cs[0].Dropped.Provider != KindFileSD || cs[0].Dropped.Source != "/sd/a.yml:0" {
		t.Fatalf("conflicts = %+v", cs)
	}
	// More merges of the same state log nothing new.
	file.push <- []*Group{group("/sd/b.yml:0", nil, "b:1")}
	waitSet(t, m, "b", hasCollectors("node/b:1", "node/other:9100", "node/x:1", "pg-main"))
	if n := rec.count(slog.LevelWarn, "collector found more than once"); n != 1 {
		t.Errorf("%d conflict warnings, want 1", n)
	}
	if n := rec.count(slog.LevelWarn, "target dropped"); n != 1 {
		t.Errorf("%d dropped-target warnings, want 1", n)
	}
	for name, want := range map[string]float64{"corral_sd_conflicts": 1, "corral_sd_dropped_targets": 1, "corral_sd_targets": 4} {
		if got := gaugeValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestManagerLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewManager(nil, reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}
