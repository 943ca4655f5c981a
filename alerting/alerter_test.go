package alerting

import (
	"maps"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/filesd"
)

// fleetOf is a fleet whose health the test sets: the alerter reads only
// Each, and the cases below need exact states at exact times.
type fleetOf struct {
	mu sync.Mutex
	hs map[string]health.Health
}

func (f *fleetOf) Each(fn func(health.Health) bool) {
	f.mu.Lock()
	hs := make([]health.Health, 0, len(f.hs))
	for _, h := range f.hs {
		hs = append(hs, h)
	}
	f.mu.Unlock()
	for _, h := range hs {
		if !fn(h) {
			return
		}
	}
}

func (f *fleetOf) set(h health.Health) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hs == nil {
		f.hs = map[string]health.Health{}
	}
	f.hs[h.Collector] = h
}

type recorder struct {
	mu sync.Mutex
	es []events.Event
}

func (r *recorder) Publish(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.es = append(r.es, e)
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.es {
		out = append(out, e.Type+" "+e.Collector)
	}
	return out
}

func collector(id, job string, status fleet.Status, labels map[string]string) health.Health {
	l := map[string]string{"job": job, "instance": id + ":9100", "collector": id}
	maps.Copy(l, labels)
	return health.Health{Collector: id, Status: status, Reason: "because " + string(status),
		Target: &targets.Target{Collector: id, Job: job, ScrapeJob: job, Instance: id + ":9100", Labels: l, Org: "acme", Team: l["team"]},
		Up:     status != fleet.StatusOffline, Completeness1h: math.NaN(), Completeness24h: math.NaN(),
		Thresholds: health.Thresholds{IncompleteBelow: 0.9}}
}

// parse is an alerting section as corral.yml would have it.
func parse(t *testing.T, section string) *configs.AlertingConfig {
	t.Helper()
	c, err := configs.Parse([]byte("alerting:\n"+section), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c.Alerting
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func setup(t *testing.T, section string) (*Alerter, *fleetOf, *clock, *recorder) {
	t.Helper()
	f := &fleetOf{}
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	r := &recorder{}
	a := New(Options{Fleet: f, Events: r, Now: c.now})
	if err := a.Apply(Settings{Config: parse(t, section), ExternalLabels: map[string]string{"cluster": "eu-1", "job": "never-overrides"}}); err != nil {
		t.Fatal(err)
	}
	return a, f, c, r
}

func names(ps []Posted) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Labels["alertname"]+"/"+p.Labels["collector"])
	}
	return out
}

func stateOf(a *Alerter, name, collector string) string {
	for _, al := range a.Alerts() {
		if al.Name == name && al.Collector == collector {
			return al.State
		}
	}
	return "none"
}

// TestForDuration walks one CollectorDown through pending, firing, re-sends
// and resolution, as Prometheus's alerting rules do.
func TestForDuration(t *testing.T) {
	a, f, c, ev := setup(t, `
  enabled: true
  evaluation_interval: 10s
  resend_delay: 1m
  external_url: https://corral.example.com/
  rules:
    CollectorDown: {for: 1m}
`)
	f.set(collector("pg-1", "postgres", fleet.StatusOnline, map[string]string{"team": "db", "group": "eu"}))
	if got := a.Eval(); len(got) != 0 {
		t.Fatalf("online collector: sent %v", names(got))
	}
	f.set(collector("pg-1", "postgres", fleet.StatusOffline, map[string]string{"team": "db", "group": "eu"}))
	start := c.t
	if got := a.Eval(); len(got) != 0 || stateOf(a, "CollectorDown", "pg-1") != wire.AlertPending {
		t.Fatalf("just offline: sent %v, state %s; want pending, nothing sent", names(got), stateOf(a, "CollectorDown", "pg-1"))
	}
	c.advance(59 * time.Second)
	if got := a.Eval(); len(got) != 0 {
		t.Fatalf("59s of a 1m for: sent %v", names(got))
	}
	c.advance(time.Second)
	got := a.Eval()
	if len(got) != 1 || stateOf(a, "CollectorDown", "pg-1") != wire.AlertFiring {
		t.Fatalf("after for: sent %v, state %s; want one firing", names(got), stateOf(a, "CollectorDown", "pg-1"))
	}
	p := got[0]
	want := map[string]string{"alertname": "CollectorDown", "severity": "critical", "collector": "pg-1", "job": "postgres",
		"instance": "pg-1:9100", "org": "acme", "team": "db", "group": "eu", "cluster": "eu-1"}
	if !maps.Equal(p.Labels, want) {
		t.Errorf("labels %v, want %v", p.Labels, want)
	}
	if !p.StartsAt.Equal(start) {
		t.Errorf("startsAt %s, want the time it became active, %s", p.StartsAt, start)
	}
	if want := c.t.Add(4 * time.Minute); !p.EndsAt.Equal(want) {
		t.Errorf("endsAt %s, want now + 4 × resend_delay = %s", p.EndsAt, want)
	}
	if p.Annotations["runbook_url"] != "https://github.com/corral-dev/corral/blob/main/docs/runbooks/CollectorDown.md" ||
		p.Annotations["collector_url"] != "https://corral.example.com/collectors/pg-1" || p.GeneratorURL != p.Annotations["collector_url"] {
		t.Errorf("links: %v, generatorURL %s", p.Annotations, p.GeneratorURL)
	}
	if !strings.Contains(p.Annotations["description"], "because offline") || p.Annotations["summary"] != "Collector pg-1 is down" {
		t.Errorf("summary and description: %v", p.Annotations)
	}
	c.advance(30 * time.Second)
	if got := a.Eval(); len(got) != 0 {
		t.Errorf("30s after sending, within resend_delay: sent %v", names(got))
	}
	c.advance(30 * time.Second)
	if got := a.Eval(); len(got) != 1 || !got[0].EndsAt.Equal(c.t.Add(4*time.Minute)) {
		t.Errorf("after resend_delay: sent %v; want it again with a later endsAt", names(got))
	}
	c.advance(10 * time.Second)
	f.set(collector("pg-1", "postgres", fleet.StatusOnline, map[string]string{"team": "db", "group": "eu"}))
	got = a.Eval()
	if len(got) != 1 || !got[0].EndsAt.Equal(c.t) || stateOf(a, "CollectorDown", "pg-1") != wire.AlertResolved {
		t.Fatalf("back online: sent %v (endsAt %v), state %s; want the resolution, endsAt now", names(got), got, stateOf(a, "CollectorDown", "pg-1"))
	}
	c.advance(ResolvedRetention + time.Second)
	a.Eval()
	if s := stateOf(a, "CollectorDown", "pg-1"); s != "none" {
		t.Errorf("resolved alert kept past %s: %s", ResolvedRetention, s)
	}
	if got := ev.types(); !equal(got, []string{"alert:firing pg-1", "alert:resolved pg-1"}) {
		t.Errorf("events %v", got)
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestPendingClears: a condition that ends before its for: never fires.
func TestPendingClears(t *testing.T) {
	a, f, c, ev := setup(t, "  enabled: true\n  rules: {CollectorError: {for: 5m}}\n")
	f.set(collector("a", "j", fleet.StatusError, nil))
	a.Eval()
	c.advance(4 * time.Minute)
	f.set(collector("a", "j", fleet.StatusOnline, nil))
	if got := a.Eval(); len(got) != 0 || stateOf(a, "CollectorError", "a") != "none" {
		t.Fatalf("sent %v, state %s", names(got), stateOf(a, "CollectorError", "a"))
	}
	f.set(collector("a", "j", fleet.StatusError, nil))
	a.Eval()
	c.advance(4 * time.Minute)
	if got := a.Eval(); len(got) != 0 {
		t.Fatalf("a new error restarts for:, sent %v", names(got))
	}
	if len(ev.types()) != 0 {
		t.Errorf("events for a pending alert: %v", ev.types())
	}
}

// TestQuietCollectors: paused and waiting collectors, and one meant to be
// paused, never alert, whatever else holds.
func TestQuietCollectors(t *testing.T) {
	f := &fleetOf{}
	c := &clock{t: time.Unix(1e9, 0)}
	a := New(Options{Fleet: f, Now: c.now, Desired: func(id string) (store.DesiredState, bool) {
		if id == "meant-paused" {
			return store.DesiredState{Run: store.DesiredPaused}, true
		}
		return store.DesiredState{Group: "from-desired"}, true
	}})
	cfg := parse(t, "  enabled: true\n  rules:\n"+strings.Repeat("", 0)+
		"    CollectorDown: {for: 0s}\n    CollectorStale: {for: 0s, after: 1s}\n    CollectorIncomplete: {for: 0s}\n")
	if err := a.Apply(Settings{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []health.Health{collector("p", "j", fleet.StatusPaused, nil), collector("w", "j", fleet.StatusWaiting, nil),
		collector("meant-paused", "j", fleet.StatusOffline, nil)} {
		h.HasFreshness, h.Freshness, h.Completeness1h = true, time.Hour, 0.1
		f.set(h)
	}
	if got := a.Eval(); len(got) != 0 {
		t.Fatalf("quiet collectors alerted: %v", names(got))
	}
	f.set(collector("down", "j", fleet.StatusOffline, nil))
	got := a.Eval()
	if len(got) != 1 || got[0].Labels["group"] != "from-desired" {
		t.Fatalf("sent %v; want CollectorDown of down with the desired state's group", got)
	}
}

// TestOverrides: rules per job and per target label, later overrides winning.
func TestOverrides(t *testing.T) {
	a, f, _, _ := setup(t, `
  enabled: true
  rules:
    CollectorStale: {for: 0s, severity: warning}
    CollectorSlow: {enabled: false}
  overrides:
    - job: postgres
      rules: {CollectorStale: {severity: critical, labels: {page: "yes"}}}
    - labels: {tier: gold}
      rules: {CollectorStale: {after: 30s}, CollectorSlow: {enabled: true, for: 0s}}
    - job: postgres
      labels: {tier: bronze}
      rules: {CollectorStale: {enabled: false}}
`)
	mk := func(id, job, tier string, st fleet.Status, fresh time.Duration) {
		h := collector(id, job, st, map[string]string{"tier": tier})
		h.HasFreshness, h.Freshness = true, fresh
		f.set(h)
	}
	mk("pg-gold", "postgres", "gold", fleet.StatusOnline, time.Minute) // stale by after: 30s, not by status
	mk("pg-bronze", "postgres", "bronze", fleet.StatusStale, time.Hour)
	mk("my-plain", "mysql", "", fleet.StatusStale, time.Hour)
	mk("my-gold-slow", "mysql", "gold", fleet.StatusSlow, 0)
	mk("my-slow", "mysql", "", fleet.StatusSlow, 0)
	got := map[string]Posted{}
	for _, p := range a.Eval() {
		got[p.Labels["alertname"]+"/"+p.Labels["collector"]] = p
	}
	if p, ok := got["CollectorStale/pg-gold"]; !ok || p.Labels["severity"] != "critical" || p.Labels["page"] != "yes" {
		t.Errorf("pg-gold: %v; want stale (after 30s) with postgres's severity and label", p.Labels)
	} else if !strings.Contains(p.Annotations["description"], "alert after 30s") {
		t.Errorf("pg-gold description %q", p.Annotations["description"])
	}
	if _, ok := got["CollectorStale/pg-bronze"]; ok {
		t.Error("pg-bronze alerted: its override turns CollectorStale off")
	}
	if p, ok := got["CollectorStale/my-plain"]; !ok || p.Labels["severity"] != "warning" {
		t.Errorf("my-plain: %v", p.Labels)
	}
	if _, ok := got["CollectorSlow/my-gold-slow"]; !ok {
		t.Error("my-gold-slow: CollectorSlow is on for tier gold")
	}
	if _, ok := got["CollectorSlow/my-slow"]; ok {
		t.Error("my-slow: CollectorSlow is off by default here")
	}
	if len(got) != 3 {
		t.Errorf("sent %d alerts, want 3: %v", len(got), got)
	}
}

// TestIncompleteWindow: the threshold is the collector's, or the rule's,
// on the bucket the rule names.
func TestIncompleteWindow(t *testing.T) {
	a, f, _, _ := setup(t, `
  enabled: true
  rules: {CollectorIncomplete: {for: 0s}}
  overrides:
    - job: daily
      rules: {CollectorIncomplete: {window: 24h, below: 0.5}}
`)
	h := collector("hourly", "hourly", fleet.StatusOnline, nil)
	h.Completeness1h, h.Completeness24h = 0.85, 0.2
	f.set(h)
	d := collector("daily-ok", "daily", fleet.StatusOnline, nil)
	d.Completeness1h, d.Completeness24h = 0.1, 0.6
	f.set(d)
	d2 := collector("daily-bad", "daily", fleet.StatusOnline, nil)
	d2.Completeness1h, d2.Completeness24h = 1, 0.4
	f.set(d2)
	n := collector("no-expectation", "hourly", fleet.StatusOnline, nil) // NaN: nothing expected
	f.set(n)
	got := names(a.Eval())
	if !equal(got, []string{"CollectorIncomplete/daily-bad", "CollectorIncomplete/hourly"}) {
		t.Fatalf("sent %v", got)
	}
}

// TestCommandFailed: a failed or expired command fires at once; a later
// confirmed one of the same command resolves it, as does keep_firing_for.
func TestCommandFailed(t *testing.T) {
	a, f, c, _ := setup(t, "  enabled: true\n  rules: {CommandFailed: {keep_firing_for: 10m}}\n")
	f.set(collector("pg-1", "postgres", fleet.StatusOnline, nil))
	f.set(collector("pg-2", "postgres", fleet.StatusOnline, nil))
	at := c.t
	a.CommandUpdated(wire.Command{ID: "c1", Collector: "pg-1", Command: "pause", State: wire.CommandFailed, Error: "agent said no",
		CreatedAt: c.t.Add(-time.Second), FinishedAt: &at})
	a.CommandUpdated(wire.Command{ID: "c2", Collector: "pg-2", Command: "restart", State: wire.CommandExpired, Error: "not delivered in 5m",
		CreatedAt: c.t.Add(-5 * time.Minute), FinishedAt: &at})
	got := a.Eval()
	if !equal(names(got), []string{"CommandFailed/pg-1", "CommandFailed/pg-2"}) {
		t.Fatalf("sent %v", names(got))
	}
	if got[0].Labels["command"] != "pause" || got[0].Annotations["command_id"] != "c1" || !strings.Contains(got[0].Annotations["description"], "agent said no") {
		t.Errorf("pg-1's alert: %v %v", got[0].Labels, got[0].Annotations)
	}
	c.advance(30 * time.Second)
	a.CommandUpdated(wire.Command{ID: "c3", Collector: "pg-1", Command: "pause", State: wire.CommandConfirmed, CreatedAt: c.t})
	got = a.Eval()
	if len(got) != 1 || got[0].Labels["collector"] != "pg-1" || !got[0].EndsAt.Equal(c.t) {
		t.Fatalf("after pg-1's pause succeeded: sent %v; want pg-1's resolution", names(got))
	}
	c.advance(9*time.Minute + 31*time.Second)
	got = a.Eval()
	resolved := 0
	for _, p := range got {
		if p.Labels["collector"] == "pg-2" && p.EndsAt.Equal(c.t) {
			resolved++
		}
	}
	if resolved != 1 || stateOf(a, "CommandFailed", "pg-2") != wire.AlertResolved {
		t.Fatalf("after keep_firing_for: sent %+v; want pg-2's resolution", got)
	}
}

// TestSDFileError: for: counts from when the file's error appeared.
func TestSDFileError(t *testing.T) {
	f := &fleetOf{}
	c := &clock{t: time.Unix(2e9, 0)}
	files := []filesd.FileStatus{{Path: "/etc/corral/sd/a.yml", Error: "yaml: line 3: bad", ErrorAt: c.t.Add(-4 * time.Minute), Targets: 7, LastGoodRead: c.t.Add(-time.Hour)},
		{Path: "/etc/corral/sd/ok.yml", Targets: 2}}
	a := New(Options{Fleet: f, Now: c.now, SDFiles: func() []filesd.FileStatus { return files }})
	if err := a.Apply(Settings{Config: parse(t, "  enabled: true\n  rules: {SDFileError: {for: 5m}}\n")}); err != nil {
		t.Fatal(err)
	}
	if got := a.Eval(); len(got) != 0 {
		t.Fatalf("4m into a 5m for: sent %v", got)
	}
	c.advance(time.Minute)
	got := a.Eval()
	if len(got) != 1 || got[0].Labels["file"] != "/etc/corral/sd/a.yml" || !got[0].StartsAt.Equal(files[0].ErrorAt) ||
		!strings.Contains(got[0].Annotations["description"], "7 targets") {
		t.Fatalf("sent %+v", got)
	}
	files[0].Error = ""
	c.advance(time.Second)
	if got := a.Eval(); len(got) != 1 || !got[0].EndsAt.Equal(c.t) {
		t.Fatalf("file fixed: sent %+v", got)
	}
}

// TestDisabledResolves: turning alerting off resolves what fired, and the
// resolution is still sent.
func TestDisabledResolves(t *testing.T) {
	a, f, c, _ := setup(t, "  enabled: true\n  rules: {CollectorDown: {for: 0s}}\n")
	f.set(collector("x", "j", fleet.StatusOffline, nil))
	if got := a.Eval(); len(got) != 1 {
		t.Fatalf("sent %v", names(got))
	}
	off := parse(t, "  enabled: false\n")
	if err := a.Apply(Settings{Config: off}); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	if got := a.Eval(); len(got) != 1 || !got[0].EndsAt.Equal(c.t) {
		t.Fatalf("after turning off: sent %+v; want the resolution", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  rules: {CollectorGone: {}}\n", "alerting.rules.CollectorGone: unknown alert; the alerts are CollectorDown, "},
		{"  rules: {CollectorDown: {below: 0.5}}\n", "below and window are CollectorIncomplete's only"},
		{"  rules: {CollectorIncomplete: {window: 2h}}\n", `window: "2h", want 1h or 24h`},
		{"  rules: {CollectorIncomplete: {below: 1.5}}\n", "below: 1.5 must be above 0 and at most 1"},
		{"  rules: {CollectorDown: {after: 1m}}\n", "after: only CollectorStale has it"},
		{"  overrides: [{rules: {CollectorDown: {}}}]\n", "alerting.overrides[0]: set job or labels"},
		{"  alertmanagers: [{api_version: v1, static_configs: [{targets: [\"a:9093\"]}]}]\n", "only v2"},
		{"  alertmanagers: [{static_configs: [{targets: [\"a\"]}]}]\n", `"a" is not host:port`},
		{"  alertmanagers: [{}]\n", "no static_configs"},
		{"  alertmanagers: [{relabel_configs: [], static_configs: [{targets: [\"a:1\"]}]}]\n", "relabel_configs is a Prometheus setting that corral does not support"},
		{"  external_url: corral\n", `alerting.external_url: "corral" is not an http(s) URL`},
		{"  alertmanagers: [{basic_auth: {username: u, password: p}, authorization: {credentials: x}, static_configs: [{targets: [\"a:1\"]}]}]\n", "at most one of basic_auth"},
	} {
		_, err := configs.Parse([]byte("alerting:\n"+tc.in), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// TestConfigDefaults: an Alertmanager entry gets Prometheus's defaults and
// its HTTP client settings are resolved from the file's folder.
func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := configs.Parse([]byte(`
alerting:
  alertmanagers:
    - static_configs: [{targets: ["am-1:9093", "am-2:9093"]}]
      path_prefix: /am
      authorization: {credentials_file: secret}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	al := c.Alerting
	if !al.Active() || al.EvaluationInterval != model.Duration(15*time.Second) || al.ResendDelay != model.Duration(time.Minute) || al.QueueCapacity != 10000 {
		t.Errorf("section defaults: %+v", al)
	}
	am := al.Alertmanagers[0]
	if am.Timeout != model.Duration(10*time.Second) || am.Scheme != "http" || !am.HTTPClientConfig.FollowRedirects || !am.HTTPClientConfig.EnableHTTP2 {
		t.Errorf("alertmanager defaults: %+v", am)
	}
	if got := am.URLs(); !equal(got, []string{"http://am-1:9093/am/api/v2/alerts", "http://am-2:9093/am/api/v2/alerts"}) {
		t.Errorf("URLs %v", got)
	}
	if got := am.HTTPClientConfig.Authorization.CredentialsFile; got != dir+"/secret" {
		t.Errorf("credentials_file %q, want it under the config's folder", got)
	}
	for _, name := range configs.AlertNames {
		r := al.RuleFor(name, "j", nil)
		if !r.On() || r.For == nil || r.Severity == "" {
			t.Errorf("%s: default rule %+v", name, r)
		}
	}
}
