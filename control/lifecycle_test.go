package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	agentcfg "github.com/corral-dev/corral/exporter/agent"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

type fixture struct {
	l       *Lifecycle
	st      *store.Store
	current fakeFleet
	changed int
	events  []string
}

// fakeFleet is a fleet of collectors "scraped now" that a test sets.
type fakeFleet map[string]health.Health

func (f fakeFleet) Get(id string) (health.Health, bool) { h, ok := f[id]; return h, ok }
func (f fakeFleet) Each(fn func(health.Health) bool) {
	for _, h := range f {
		if !fn(h) {
			return
		}
	}
}

// eventList records the events published.
type eventList struct{ f *fixture }

func (e eventList) Publish(ev events.Event) {
	e.f.events = append(e.f.events, ev.Type+" "+ev.Collector)
}

func newFixture(t *testing.T, jobs ...string) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, current: fakeFleet{}}
	// The whole plane, for the server key the agent configs carry.
	p, err := New(context.Background(), Options{Store: st, Fleet: f.current,
		RegistryJobs: func() []string { return jobs },
		Changed:      func() { f.changed++ },
		Events:       eventList{f},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Dispatcher.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-p.Dispatcher.Ready()
	f.l = p.Lifecycle
	return f
}

var alice = store.Actor{Kind: store.ActorUser, Name: "alice", UserID: "u1"}

func TestRegisterValidates(t *testing.T) {
	f := newFixture(t, "registry")
	for _, tc := range []struct {
		r     wire.RegisterRequest
		field string
	}{
		{wire.RegisterRequest{URL: "http://h:1/metrics"}, "name"},
		{wire.RegisterRequest{Name: "has space", URL: "http://h:1/metrics"}, "name"},
		{wire.RegisterRequest{Name: "archived", URL: "http://h:1/metrics"}, "name"},
		{wire.RegisterRequest{Name: "a"}, "url"},
		{wire.RegisterRequest{Name: "a", URL: "ftp://h/x"}, "url"},
		{wire.RegisterRequest{Name: "a", URL: "http://user:pw@h:1/metrics"}, "url"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Labels: map[string]string{"1bad": "x"}}, "labels"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Labels: map[string]string{"__scheme__": "https"}}, "labels"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Labels: map[string]string{"job": "x"}}, "labels"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Labels: map[string]string{"org": "x"}}, "labels"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Team: "red"}, "org"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Thresholds: map[string]string{"stale": "1m"}}, "thresholds"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Thresholds: map[string]string{"stale_after": "soon"}}, "thresholds"},
		// Invalid UTF-8 is refused, not stored (issue 12).
		{wire.RegisterRequest{Name: "a", URL: "http://h:1/m\xff"}, "url"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Org: "ac\xffme"}, "org"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Org: "acme", Team: "r\xc3"}, "team"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Labels: map[string]string{"env": "pr\xffod"}}, "labels"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Labels: map[string]string{"en\xffv": "prod"}}, "labels"},
		{wire.RegisterRequest{Name: "a", URL: "http://h:1", Thresholds: map[string]string{"stale_after": "1m\xff"}}, "thresholds"},
	} {
		_, err := f.l.Register(context.Background(), tc.r, alice, "")
		var bad *BadRequest
		if !errors.As(err, &bad) || bad.Field != tc.field {
			t.Errorf("%+v: %v, want a bad %s", tc.r, err, tc.field)
		}
	}
}

func TestRegisterAnswersOnceAndConflicts(t *testing.T) {
	f := newFixture(t, "registry")
	ctx := context.Background()
	reg, err := f.l.Register(ctx, wire.RegisterRequest{Name: "pg-1", URL: "http://10.0.0.5:9187", Org: "acme", Thresholds: map[string]string{"stale_after": "5m"}}, alice, "10.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	if reg.URL != "http://10.0.0.5:9187/metrics" || !strings.HasPrefix(reg.Token, "corral_scrape_") || len(reg.TokenSHA256) != 64 {
		t.Fatalf("registration %+v", reg)
	}
	if f.changed != 1 || len(f.events) != 1 || f.events[0] != "collector:registered pg-1" {
		t.Errorf("changed %d, events %v", f.changed, f.events)
	}
	// The agent config it answers loads as it is and listens on the URL's port.
	path := filepath.Join(t.TempDir(), "pg-1.yml")
	if err := os.WriteFile(path, []byte(reg.AgentConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agentcfg.LoadConfig(path)
	if err != nil {
		t.Fatalf("agent config: %v\n%s", err, reg.AgentConfig)
	}
	if cfg.Listen.Address != ":9187" || cfg.Listen.MetricsTokenSHA256 != reg.TokenSHA256 || cfg.Collector.Name != "pg-1" {
		t.Errorf("agent config %+v", cfg)
	}
	// The store keeps the token for scraping; the registry row is there.
	rc, err := f.st.Registered(ctx, "pg-1")
	if err != nil || rc.Token != reg.Token || rc.Thresholds["stale_after"] != "5m" {
		t.Fatalf("registry row %+v, %v", rc, err)
	}
	var conflict *Conflict
	if _, err := f.l.Register(ctx, wire.RegisterRequest{Name: "pg-1", URL: "http://h:1"}, alice, ""); !errors.As(err, &conflict) {
		t.Errorf("second registration: %v", err)
	}
	f.current["fs-1"] = health.Health{Target: &targets.Target{Collector: "fs-1", Provider: targets.KindFileSD, Source: "file_sd:/etc/sd/x.yml"}}
	if _, err := f.l.Register(ctx, wire.RegisterRequest{Name: "fs-1", URL: "http://h:1"}, alice, ""); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "file_sd") {
		t.Errorf("a name file_sd has: %v", err)
	}
	rows, _, _ := f.st.Audit(ctx, store.AuditFilter{All: true, Action: "register"})
	if len(rows) != 1 || rows[0].Remote != "10.1.1.1" || strings.Contains(string(rows[0].Params), reg.Token) {
		t.Errorf("audit of the registration: %+v", rows)
	}
}

func TestRegisterNeedsARegistryJob(t *testing.T) {
	f := newFixture(t)
	var conflict *Conflict
	if _, err := f.l.Register(context.Background(), wire.RegisterRequest{Name: "a", URL: "http://h:1"}, alice, ""); !errors.As(err, &conflict) ||
		!strings.Contains(err.Error(), "registry: true") {
		t.Errorf("without a registry job: %v", err)
	}
}

func TestUnregisterFilterPurge(t *testing.T) {
	f := newFixture(t, "registry")
	ctx := context.Background()
	tg := &targets.Target{Collector: "fs-1", Provider: targets.KindFileSD, Source: "file_sd:/etc/sd/x.yml", URL: "http://h:1/metrics",
		Labels: map[string]string{"collector": "fs-1"}}
	tg.Org = "acme"
	f.current["fs-1"] = health.Health{Target: tg}
	other := &targets.Target{Collector: "fs-2"}
	if err := f.st.AppendStatusChanges(ctx, []fleet.StatusChange{{Collector: "fs-1", From: "unknown", To: "online"}}); err != nil {
		t.Fatal(err)
	}
	for _, days := range []int{-1, MaxRetentionDays + 1} {
		var bad *BadRequest
		if _, err := f.l.Unregister(ctx, UnregisterRequest{Collector: "fs-1", RetentionDays: days}, alice, ""); !errors.As(err, &bad) || bad.Field != "retention_days" {
			t.Errorf("retention_days %d: %v", days, err)
		}
	}
	if _, err := f.l.Unregister(ctx, UnregisterRequest{Collector: "nope"}, alice, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown collector: %v", err)
	}
	a, err := f.l.Unregister(ctx, UnregisterRequest{Collector: "fs-1", Reason: "gone", RetentionDays: 1}, alice, "")
	if err != nil {
		t.Fatal(err)
	}
	if !a.MetricsArchived || a.Records != 1 || a.RetainUntil.Sub(a.ArchivedAt) != 24*time.Hour {
		t.Errorf("archive %+v", a)
	}
	kept := f.l.Filter([]*targets.Target{tg, other})
	if len(kept) != 1 || kept[0] != other {
		t.Errorf("Filter kept %v", kept)
	}
	if d := f.l.Dropped(); len(d) != 1 || d[0].Target != tg || d[0].Archive.ID != a.ID {
		t.Errorf("Dropped %+v", d)
	}
	// A second lifecycle on the same store knows it too (a server restart).
	g := NewLifecycle(LifecycleOptions{Store: f.st, Fleet: fakeFleet{}})
	if err := g.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Unregistered("fs-1"); !ok {
		t.Error("not unregistered after a reload")
	}
	// The retention ends: the data goes, the archive stays (it is still unregistered).
	if done, err := f.l.Purge(ctx, time.Now()); err != nil || len(done) != 0 {
		t.Fatalf("early purge: %v %v", done, err)
	}
	done, err := f.l.Purge(ctx, time.Now().Add(25*time.Hour))
	if err != nil || len(done) != 1 {
		t.Fatalf("purge: %v %v", done, err)
	}
	if n, _ := f.st.CountCollectorData(ctx, "fs-1"); n != 0 {
		t.Errorf("%d rows after the purge", n)
	}
	if arc, ok := f.l.Unregistered("fs-1"); !ok || arc.PurgedAt.IsZero() {
		t.Errorf("after the purge: %+v", arc)
	}
	rows, _, _ := f.st.Audit(ctx, store.AuditFilter{All: true, Action: "purge"})
	if len(rows) != 1 || rows[0].Actor.Kind != store.ActorSystem {
		t.Errorf("audit of the purge: %+v", rows)
	}
	// Back, asking to restore what was purged: it says there is nothing.
	reg, _, err := f.l.Reregister(ctx, wire.ReregisterRequest{ArchiveID: a.ID}, alice, "")
	if err != nil || !strings.Contains(reg.Note, "nothing to restore") || reg.Token != "" {
		t.Errorf("re-register after the purge: %+v, %v", reg, err)
	}
	if len(f.l.Filter([]*targets.Target{tg})) != 1 {
		t.Error("still filtered after re-registration")
	}
}

// TestScrapeTokenRotation: a next token is kept beside the current one, switched
// to on the agent's acknowledgement, dropped when the agent never got it, and a
// rotation a stopped server left half done is finished from its command.
func TestScrapeTokenRotation(t *testing.T) {
	f := newFixture(t, "registry")
	ctx := context.Background()
	reg, err := f.l.Register(ctx, wire.RegisterRequest{Name: "r1", URL: "http://h:1"}, alice, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.NextToken(ctx, "nope"); err == nil {
		t.Error("a next token for an unregistered name")
	}
	sum, err := f.l.NextToken(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.l.TokenAbandoned(ctx, "r1", sum); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.st.Registered(ctx, "r1"); r.Token != reg.Token || r.NextToken != "" {
		t.Fatalf("after abandoning: %+v", r)
	}
	sum, _ = f.l.NextToken(ctx, "r1")
	changed := f.changed
	if err := f.l.TokenAcknowledged(ctx, "r1", sum); err != nil {
		t.Fatal(err)
	}
	r, _ := f.st.Registered(ctx, "r1")
	if r.Token == reg.Token || r.TokenSHA256 != sum || f.changed != changed+1 {
		t.Fatalf("after acknowledging: %+v (changed %d)", r, f.changed)
	}
	// Half done: the command was confirmed, the switch did not happen.
	sum, _ = f.l.NextToken(ctx, "r1")
	c := store.Command{ID: "c1", Collector: "r1", Command: "rotate_credentials", Args: []byte(`{"metrics_token_sha256":"` + sum + `"}`),
		State: store.CommandConfirmed, ExpiresAt: time.Now().Add(time.Minute), Actor: alice}
	if err := f.st.SubmitCommand(ctx, c, store.AuditEntry{Action: "rotate-credentials", Actor: alice}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.l.RecoverTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.st.Registered(ctx, "r1"); r.TokenSHA256 != sum || r.NextToken != "" {
		t.Errorf("after recovery: %+v", r)
	}
}
