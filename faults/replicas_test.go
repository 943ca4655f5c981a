package faults

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/cluster"
	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// scrapeLog is a counted agent with the checks TestReplicaKilled makes of it.
type scrapeLog struct{ *exportertest.Counted }

// lastBefore is the arrival of the last scrape before at, zero if none.
func (l scrapeLog) lastBefore(at time.Time) time.Time {
	ts := l.Scrapes(time.Time{}, at)
	if len(ts) == 0 {
		return time.Time{}
	}
	return ts[len(ts)-1]
}

// collects is how many collect commands the agent carried out.
func (l scrapeLog) collects(t *testing.T) float64 {
	t.Helper()
	fams, err := l.Agent.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range fams {
		if f.GetName() != "corral_collector_commands_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var cmd, res string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "command":
					cmd = lp.GetValue()
				case "result":
					res = lp.GetValue()
				}
			}
			if cmd == "collect" && res == "ok" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestReplicaKilled: three corral processes share one PostgreSQL and a fleet;
// one is killed with SIGKILL, so its lease is left to expire. Its collectors
// are scraped again within two scrape intervals, their state goes on from
// the store, a command acknowledged before is kept, and one sent through
// another replica just before the kill is carried out once.
func TestReplicaKilled(t *testing.T) {
	const (
		n        = 9
		interval = 2 * time.Second
	)
	url := testdb.Postgres(t)
	// The first replica's harness prepares the store: key, org, users, tokens.
	first := NewServer(t, ServerOptions{Storage: url})
	logs := map[string]scrapeLog{}
	var names []string
	var static strings.Builder
	for i := range n {
		name := fmt.Sprintf("col-%d", i)
		logs[name] = scrapeLog{exportertest.StartCounted(t, name, first.PublicKey)}
		names = append(names, name)
		fmt.Fprintf(&static, "      - {targets: ['%s'], labels: {collector: %s}}\n", logs[name].Addr, name)
	}
	replicaNames := []string{"a", "b", "c"}
	var reps []*Server
	for i, name := range replicaNames {
		s := first
		if i > 0 {
			cp := *first
			s = &cp
			s.Dir = t.TempDir()
			s.Config = filepath.Join(s.Dir, "corral.yml")
			s.Addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			s.Base = "http://" + s.Addr
		}
		s.WriteConfig(fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sim
    static_configs:
%scontrol:
  command_expiry: 30s
  retry_max_backoff: 1s
cluster:
  enabled: true
  replica_name: %s
  lease_interval: 300ms
  lease_expiry: 1500ms
`, interval, static.String(), name))
		s.Start()
		reps = append(reps, s)
	}
	for _, s := range reps {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if v, _ := metricValue(s.Metrics(), "corral_cluster_replicas "); v == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not see three replicas", s.Base)
			}
		}
	}
	time.Sleep(2 * interval) // the joins' handovers end
	owned := map[string][]string{}
	for _, c := range names {
		o := cluster.Owner(replicaNames, c)
		owned[o] = append(owned[o], c)
	}
	if len(owned["b"]) == 0 {
		t.Fatalf("b owns nothing: %v", owned)
	}
	x := owned["b"][0]

	// A command through a, delivered by b and confirmed: acknowledged.
	var ans struct {
		Success bool
		Error   string
		Command wire.Command
	}
	if code, err := reps[0].Call("super", "POST", "/api/v1/collectors/"+x+"/collect?wait=confirmed&timeout=15s", nil, &ans); err != nil || code != 200 || ans.Command.State != store.CommandConfirmed {
		t.Fatalf("collect through a for %s (owned by b): %d %v %+v", x, code, err, ans)
	}
	acked := ans.Command.ID
	if got := logs[x].ControlsFor(acked); got != 1 {
		t.Errorf("command %s reached the agent %d times, want once", acked, got)
	}

	// One more through a, not waited for, and b is killed at once.
	if code, err := reps[0].Call("super", "POST", "/api/v1/collectors/"+x+"/collect?wait=none", nil, &ans); err != nil || code >= 300 {
		t.Fatalf("second collect: %d %v %+v", code, err, ans)
	}
	inFlight := ans.Command.ID
	before, ok := reps[0].Collector(x)
	if !ok || before.FirstSeen == nil {
		t.Fatalf("%s through a before the kill: %+v", x, before)
	}
	killed := time.Now()
	reps[1].Proc.Kill()

	live := []string{"a", "c"}
	var worst time.Duration
	for _, c := range owned["b"] {
		l := logs[c]
		for len(l.Scrapes(killed, time.Time{})) == 0 {
			if time.Since(killed) > 5*interval {
				t.Fatalf("%s not scraped for %v after b was killed", c, time.Since(killed))
			}
			time.Sleep(10 * time.Millisecond)
		}
		gap := l.Scrapes(killed, time.Time{})[0].Sub(l.lastBefore(killed))
		worst = max(worst, gap)
		if gap > 2*interval+100*time.Millisecond {
			t.Errorf("%s: %v between b's last scrape and %s's first, want at most two intervals", c, gap.Round(time.Millisecond), cluster.Owner(live, c))
		}
	}

	// State goes on from the store; both commands end confirmed, carried out once each.
	d, _ := reps[2].WaitStatus(x, "online", 10*time.Second)
	if d.FirstSeen == nil || !d.FirstSeen.Equal(*before.FirstSeen) {
		t.Errorf("%s's first_seen went from %v to %v: its state started afresh at the takeover", x, before.FirstSeen, d.FirstSeen)
	}
	for _, id := range []string{acked, inFlight} {
		var c wire.Command
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, err := reps[2].Call("super", "GET", "/api/v1/commands/"+id, nil, &c); err == nil && store.CommandFinal(c.State) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("command %s not final after b was killed: %+v", id, c)
			}
		}
		if c.State != store.CommandConfirmed {
			t.Errorf("command %s ended %s (%s)", id, c.State, c.Error)
		}
	}
	if got := logs[x].collects(t); got != 2 {
		t.Errorf("the agent carried out %v collect commands, want 2 (each once)", got)
	}

	// a and c split the fleet: no target scraped twice within an interval.
	from := time.Now().Add(interval)
	time.Sleep(4 * interval)
	for _, c := range names {
		ts := logs[c].Scrapes(from, time.Time{})
		for i := 1; i < len(ts); i++ {
			if ts[i].Sub(ts[i-1]) < interval/2 {
				t.Errorf("%s scraped twice within %v after the takeover", c, ts[i].Sub(ts[i-1]))
				break
			}
		}
	}
	slices.Sort(names)
	record(t, Row{
		Fault: fmt.Sprintf("one of three replicas killed (SIGKILL), %d collectors, lease 300ms/1.5s, scrape every %s", n, interval),
		Shown: fmt.Sprintf("its %d collectors scraped by the others after at most %v (two intervals: %v)", len(owned["b"]), worst.Round(10*time.Millisecond), 2*interval),
		Lost:  "nothing: the acknowledged command stays confirmed, the one in flight confirmed by the new owner, each carried out once",
		FDs:   "—", RSS: "—",
	})
}
