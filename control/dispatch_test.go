package control

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/exporter"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// TestEveryCommandConfirmed sends each command to a real agent and follows it
// through the signed POST, the agent's effect and the confirming scrape.
func TestEveryCommandConfirmed(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "sim-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(a)
	before := h.waitUp("sim-1", "running")

	// stop (pause), with the desired state recorded in the same transaction.
	c := h.submit(Request{Collector: "sim-1", Command: agentctl.Pause, Args: json.RawMessage(`{"reason":"maintenance"}`), Reason: "maintenance",
		Action: "stop", Desired: func(d *store.DesiredState) { d.Run, d.Reason = store.DesiredPaused, "maintenance" }})
	c = h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	if c.Attempts != 1 || c.AckedAt.IsZero() || c.FinishedAt.Before(c.AckedAt) {
		t.Errorf("pause: %+v", c)
	}
	if st := a.current.Load().State(); st != exporter.StatePaused {
		t.Fatalf("agent state %s after a confirmed pause", st)
	}
	if d, ok := h.d.Desired("sim-1"); !ok || !d.Paused() || d.UpdatedBy != "alice" {
		t.Errorf("desired state %+v", d)
	}
	waitFor(t, 5*time.Second, func() bool { return h.events.has("collector:stopped sim-1") }, func() string { return "no collector:stopped event" })

	// collect while paused: the agent refuses, and says why.
	c = h.submit(Request{Collector: "sim-1", Command: agentctl.Collect})
	c = h.waitState(c.ID, store.CommandFailed, 10*time.Second)
	if !strings.Contains(c.Error, "paused") {
		t.Errorf("refused collect: %q", c.Error)
	}

	c = h.submit(Request{Collector: "sim-1", Command: agentctl.Resume, Desired: func(d *store.DesiredState) { d.Run = store.DesiredRunning }})
	h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	waitFor(t, 5*time.Second, func() bool { return h.events.has("collector:resumed sim-1") }, func() string { return "no collector:resumed event" })

	c = h.submit(Request{Collector: "sim-1", Command: agentctl.Collect})
	c = h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	if !strings.Contains(string(c.Result), `"items"`) {
		t.Errorf("collect result %s", c.Result)
	}

	c = h.submit(Request{Collector: "sim-1", Command: agentctl.UpdateConfig, Args: json.RawMessage(`{"interval":"1s","rate":3}`),
		Desired: func(d *store.DesiredState) {
			if d.Config == nil {
				d.Config = map[string]json.RawMessage{}
			}
			d.Config["interval"], d.Config["rate"] = json.RawMessage(`"1s"`), json.RawMessage(`3`)
		}})
	c = h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	if g := h.waitUp("sim-1", "running").Agent.ConfigGeneration; g != 1 {
		t.Errorf("config generation %v after one update", g)
	}
	waitFor(t, 5*time.Second, func() bool { d, _ := h.d.Desired("sim-1"); return d.ConfigGeneration == 1 },
		func() string {
			d, _ := h.d.Desired("sim-1")
			return "desired generation " + string(rune('0'+d.ConfigGeneration))
		})

	c = h.submit(Request{Collector: "sim-1", Command: agentctl.TestConnection})
	c = h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	if !strings.Contains(string(c.Result), "duration_seconds") {
		t.Errorf("test_connection result %s", c.Result)
	}

	// backfill: progress is recorded while it runs, then it is confirmed.
	to := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	args, _ := json.Marshal(agentctl.BackfillArgs{From: to.Add(-60 * time.Hour), To: to})
	c = h.submit(Request{Collector: "sim-1", Command: agentctl.Backfill, Args: args})
	var sawProgress bool
	waitFor(t, 20*time.Second, func() bool {
		cur, _ := h.d.Command(context.Background(), c.ID)
		sawProgress = sawProgress || (cur.Progress > 0 && cur.Progress < 1 && cur.State == store.CommandAcknowledged)
		return cur.State == store.CommandConfirmed
	}, func() string {
		cur, _ := h.d.Command(context.Background(), c.ID)
		return "backfill " + cur.State + " " + cur.Error
	})
	if !sawProgress {
		t.Error("no progress seen while the backfill ran")
	}
	if got := h.waitStored(c.ID, store.CommandConfirmed); got.Progress != 1 {
		t.Errorf("stored backfill: progress %v", got.Progress)
	}

	c = h.submit(Request{Collector: "sim-1", Command: agentctl.RotateCredentials})
	h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)

	// restart: a new process start time confirms it; the state file kept the config.
	c = h.submit(Request{Collector: "sim-1", Command: agentctl.Restart})
	h.waitState(c.ID, store.CommandConfirmed, 15*time.Second)
	after := h.waitUp("sim-1", "running")
	if after.Agent.StartTime <= before.Agent.StartTime || a.starts.Load() != 2 {
		t.Errorf("restart: start time %v → %v, %d starts", before.Agent.StartTime, after.Agent.StartTime, a.starts.Load())
	}
	if after.Agent.ConfigGeneration != 1 {
		t.Errorf("config generation %v after restart, want 1 (from the state file)", after.Agent.ConfigGeneration)
	}
	waitFor(t, 5*time.Second, func() bool { return h.events.has("collector:restarted sim-1") }, func() string { return "no collector:restarted event" })
	h.waitStored(c.ID, store.CommandConfirmed)

	// The audit trail has a finished row per command.
	rows, total, err := h.st.Audit(context.Background(), store.AuditFilter{All: true, Collector: "sim-1", Ascending: true})
	if err != nil || total != 9 {
		t.Fatalf("audit: %d rows, %v", total, err)
	}
	for _, r := range rows {
		if r.FinishedAt.IsZero() || r.CommandID == "" || r.Actor.Name != "alice" || r.Org != "acme" {
			t.Errorf("audit row %+v", r)
		}
	}
	if rows[0].Action != "stop" || rows[0].Result != store.CommandConfirmed || rows[1].Result != store.CommandFailed {
		t.Errorf("audit rows: %+v / %+v", rows[0], rows[1])
	}
}

// TestDeadAgentRetriedThenExpired: a command to an agent that does not answer is
// retried with backoff and expires visibly.
func TestDeadAgentRetriedThenExpired(t *testing.T) {
	h := newHarness(t, func(o *DispatcherOptions) { o.Expiry = 1500 * time.Millisecond })
	a := startAgent(t, "dead-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(a)
	h.waitUp("dead-1", "running")
	a.stop() // the agent is gone; the target stays
	c := h.submit(Request{Collector: "dead-1", Command: agentctl.Pause})
	c = h.waitState(c.ID, store.CommandExpired, 10*time.Second)
	if c.Attempts < 3 || !strings.Contains(c.Error, "not delivered within 1.5s") || !strings.Contains(c.Error, "last error") {
		t.Errorf("expired command: attempts %d, error %q", c.Attempts, c.Error)
	}
	h.waitStored(c.ID, store.CommandExpired)
	if rows, _, _ := h.st.Audit(context.Background(), store.AuditFilter{All: true}); len(rows) != 1 || rows[0].Result != store.CommandExpired {
		t.Errorf("audit: %+v", rows)
	}
}

// TestComesBackInTime: an agent down when the command is sent gets it once it
// is back, before the command expires.
func TestComesBackInTime(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "flaky-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(a)
	h.waitUp("flaky-1", "running")
	hold := a.handler.Load()
	a.handler.Store(nil) // answers 503, as a restarting agent does
	c := h.submit(Request{Collector: "flaky-1", Command: agentctl.Pause})
	waitFor(t, 5*time.Second, func() bool { cur, _ := h.d.Command(context.Background(), c.ID); return cur.Attempts >= 2 },
		func() string { return "not retried" })
	if cur, _ := h.d.Command(context.Background(), c.ID); (cur.State != store.CommandPending && cur.State != store.CommandSent) || !strings.Contains(cur.Error, "503") {
		t.Errorf("while the agent is down: %s %q", cur.State, cur.Error)
	}
	a.handler.Store(hold)
	c = h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	if c.Attempts < 2 {
		t.Errorf("attempts %d", c.Attempts)
	}
}

// TestUntrustedKeyKeepsRetrying: an agent that does not trust the server's key
// answers 401; the command says why and is retried until it expires.
func TestUntrustedKeyKeepsRetrying(t *testing.T) {
	h := newHarness(t, func(o *DispatcherOptions) { o.Expiry = time.Second })
	other, _, _ := agentctl.GenerateKey()
	a := startAgent(t, "strict-1", agentOpts{keys: []ed25519.PublicKey{other}})
	h.scrapeTargets(a)
	h.waitUp("strict-1", "running")
	c := h.submit(Request{Collector: "strict-1", Command: agentctl.Pause})
	c = h.waitState(c.ID, store.CommandExpired, 10*time.Second)
	if !strings.Contains(c.Error, "rejected the signature") || !strings.Contains(c.Error, h.key.KID) || c.Attempts < 2 {
		t.Errorf("untrusted key: %d attempts, %q", c.Attempts, c.Error)
	}
}

// TestCommandsInOrder: commands to one collector queued while it is down are
// delivered in the order they were made.
func TestCommandsInOrder(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "order-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(a)
	h.waitUp("order-1", "running")
	hold := a.handler.Load()
	a.handler.Store(nil)
	p := h.submit(Request{Collector: "order-1", Command: agentctl.Pause})
	r := h.submit(Request{Collector: "order-1", Command: agentctl.Resume})
	time.Sleep(300 * time.Millisecond)
	a.handler.Store(hold)
	pc := h.waitState(p.ID, store.CommandConfirmed, 10*time.Second)
	rc := h.waitState(r.ID, store.CommandConfirmed, 10*time.Second)
	if !pc.AckedAt.Before(rc.SentAt) {
		t.Errorf("resume sent at %v before the pause was acknowledged at %v", rc.SentAt, pc.AckedAt)
	}
	if st := a.current.Load().State(); st != exporter.StateRunning {
		t.Errorf("final state %s, want running", st)
	}
}

// TestReconcileAfterAgentRestart: an agent that comes back running while its
// desired state is paused (it lost its state file) is paused again, by the
// reconciler, in the audit trail and the history.
func TestReconcileAfterAgentRestart(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "rec-1", agentOpts{keys: []ed25519.PublicKey{h.pub}, statePath: "-"})
	h.scrapeTargets(a)
	h.waitUp("rec-1", "running")
	c := h.submit(Request{Collector: "rec-1", Command: agentctl.Pause, Action: "stop", Reason: "db migration",
		Desired: func(d *store.DesiredState) { d.Run, d.Reason = store.DesiredPaused, "db migration" }})
	h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	// Restarted without a state file, the agent starts running.
	r := h.submit(Request{Collector: "rec-1", Command: agentctl.Restart})
	h.waitState(r.ID, store.CommandConfirmed, 15*time.Second)
	waitFor(t, 10*time.Second, func() bool { return a.current.Load().State() == exporter.StatePaused && a.starts.Load() == 2 },
		func() string { return "agent state " + a.current.Load().State() })
	rows, _, err := h.st.Audit(context.Background(), store.AuditFilter{All: true, Collector: "rec-1"})
	if err != nil {
		t.Fatal(err)
	}
	var byReconciler *store.AuditEntry
	for i := range rows {
		if rows[i].Actor.Kind == store.ActorReconciler {
			byReconciler = &rows[i]
		}
	}
	if byReconciler == nil || byReconciler.Action != "stop" || !strings.Contains(byReconciler.Reason, "db migration") ||
		!strings.Contains(byReconciler.Reason, "reported running") {
		t.Fatalf("no reconciler row in the audit trail: %+v", rows)
	}
	waitFor(t, 5*time.Second, func() bool {
		hist, _ := h.st.StatusHistory(context.Background(), "rec-1", time.Time{}, time.Time{}, 0)
		for _, x := range hist {
			if x.Kind == fleet.KindReconcile && x.From == "running" && x.To == "paused" && strings.Contains(x.Reason, "sent pause as cmd-") {
				return true
			}
		}
		return false
	}, func() string { return "no reconcile row in the history" })
	// Once it matches, the reconciler leaves it alone.
	time.Sleep(600 * time.Millisecond)
	if _, total, _ := h.st.Commands(context.Background(), store.CommandFilter{Collector: "rec-1"}); total != 3 {
		t.Errorf("%d commands, want 3 (pause, restart, one reconciling pause)", total)
	}
}

// TestConfigReconciledAfterLostState: an agent whose config generation fell
// below the confirmed one gets the desired config again.
func TestConfigReconciledAfterLostState(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "cfg-1", agentOpts{keys: []ed25519.PublicKey{h.pub}, statePath: "-"})
	h.scrapeTargets(a)
	h.waitUp("cfg-1", "running")
	c := h.submit(Request{Collector: "cfg-1", Command: agentctl.UpdateConfig, Args: json.RawMessage(`{"rate":7}`)})
	h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
	if des, _ := h.d.Desired("cfg-1"); string(des.Config["rate"]) != "7" || des.ConfigGeneration != 1 {
		t.Fatalf("confirmed config not desired: %+v", des)
	}
	r := h.submit(Request{Collector: "cfg-1", Command: agentctl.Restart})
	h.waitState(r.ID, store.CommandConfirmed, 15*time.Second)
	waitFor(t, 10*time.Second, func() bool {
		hh, _ := h.eval.Get("cfg-1")
		return hh.Up && hh.Agent.ConfigGeneration == 1 && a.starts.Load() == 2
	},
		func() string { hh, _ := h.eval.Get("cfg-1"); return "generation " + hh.Agent.State })
	cs, _, _ := h.st.Commands(context.Background(), store.CommandFilter{Collector: "cfg-1"})
	if cs[0].Actor.Kind != store.ActorReconciler || cs[0].Command != agentctl.UpdateConfig || string(cs[0].Args) != `{"rate":7}` {
		t.Errorf("newest command %+v", cs[0])
	}
}

// TestRefusedConfigIsNotDesired: keys of an update-config the agent refused
// never become desired, so an agent that loses its state is not sent them
// again and again; keys it applied become desired once a scrape confirms them.
func TestRefusedConfigIsNotDesired(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "cfg-2", agentOpts{keys: []ed25519.PublicKey{h.pub}, statePath: "-"})
	h.scrapeTargets(a)
	h.waitUp("cfg-2", "running")
	admin := store.Actor{Kind: store.ActorUser, Name: "admin"}
	res, err := h.d.Act(context.Background(), ActRequest{Collector: "cfg-2", Action: "update-config",
		Params: json.RawMessage(`{"no_such_key":1}`), Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(res.Command.ID, store.CommandFailed, 10*time.Second)
	if des, ok := h.d.Desired("cfg-2"); ok && len(des.Config) > 0 {
		t.Fatalf("a refused config became desired: %+v", des.Config)
	}
	// The agent loses its state (a restart with no state file): nothing to
	// put back, so the reconciler sends nothing.
	r := h.submit(Request{Collector: "cfg-2", Command: agentctl.Restart})
	h.waitState(r.ID, store.CommandConfirmed, 15*time.Second)
	time.Sleep(500 * time.Millisecond) // several scrapes and reconcile rounds (every 200ms)
	cs, _, _ := h.st.Commands(context.Background(), store.CommandFilter{Collector: "cfg-2"})
	for _, c := range cs {
		if c.Actor.Kind == store.ActorReconciler {
			t.Errorf("the reconciler sent %s %s", c.Command, c.Args)
		}
	}
	// An accepted change is desired once confirmed.
	res, err = h.d.Act(context.Background(), ActRequest{Collector: "cfg-2", Action: "update-config",
		Params: json.RawMessage(`{"rate":5}`), Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if des, _ := h.d.Desired("cfg-2"); len(des.Config) > 0 {
		t.Errorf("desired before the agent answered: %+v", des.Config)
	}
	h.waitState(res.Command.ID, store.CommandConfirmed, 10*time.Second)
	if des, _ := h.d.Desired("cfg-2"); string(des.Config["rate"]) != "5" {
		t.Errorf("confirmed config not desired: %+v", des.Config)
	}
}

// TestSubmitRefusesWhatCannotWork: unknown collectors and plain exporters.
func TestSubmitRefusesWhatCannotWork(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.d.Submit(context.Background(), Request{Collector: "nope", Command: agentctl.Pause}); !errors.Is(err, ErrNotScraped) {
		t.Errorf("unknown collector: %v", err)
	}
	plain := newPlainExporter(t)
	h.scr.Sync(nil)
	h.scrapeTargets(plain)
	waitFor(t, 5*time.Second, func() bool { hh, _ := h.eval.Get(plain.name); return hh.Up }, func() string { return "plain exporter not up" })
	if _, err := h.d.Submit(context.Background(), Request{Collector: plain.name, Command: agentctl.Pause}); !errors.Is(err, ErrNotAgent) {
		t.Errorf("plain exporter: %v", err)
	}
	if _, err := h.d.Submit(context.Background(), Request{Collector: plain.name, Command: "reboot"}); err == nil {
		t.Error("unknown command accepted")
	}
}

// newPlainExporter is a Prometheus exporter that is not a corral agent.
func newPlainExporter(t *testing.T) *agent {
	a := &agent{name: "node-1"}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("node_load1 0.5\n"))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// TestServerRestartResendsInFlight: a command recorded as sent when the
// server stopped is sent again under the same id on start; the agent answers it
// from memory and it runs once.
func TestServerRestartResendsInFlight(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "crash-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(a)
	h.waitUp("crash-1", "running")
	// The server "dies" after the agent carried out a restart but before the
	// answer was recorded: the row still says sent.
	c := h.submit(Request{Collector: "crash-1", Command: agentctl.Restart})
	h.waitState(c.ID, store.CommandConfirmed, 15*time.Second)
	row := h.waitStored(c.ID, store.CommandConfirmed)
	row.State, row.AckedAt, row.FinishedAt, row.Result = store.CommandSent, time.Time{}, time.Time{}, nil
	if err := h.st.UpdateCommand(context.Background(), row); err != nil {
		t.Fatal(err)
	}
	h.stop()
	starts := a.starts.Load()

	h2 := newHarnessAt(t, h.url, nil)
	h2.scrapeTargets(a)
	got := h2.waitState(c.ID, store.CommandConfirmed, 15*time.Second)
	if got.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (sent again once)", got.Attempts)
	}
	time.Sleep(300 * time.Millisecond)
	if a.starts.Load() != starts {
		t.Errorf("the agent restarted again: %d starts, want %d", a.starts.Load(), starts)
	}
}

// TestKeyRotation: the next key reaches every agent signed with the old one;
// the server switches once all acknowledged, and then withdraws the old key.
func TestKeyRotation(t *testing.T) {
	h := newHarness(t, nil)
	a1 := startAgent(t, "rot-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	a2 := startAgent(t, "rot-2", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(a1, a2)
	h.waitUp("rot-1", "running")
	h.waitUp("rot-2", "running")
	old := h.d.PublicKey()
	admin := store.Actor{Kind: store.ActorUser, Name: "admin"}
	r, err := h.d.StartRotation(context.Background(), admin, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Next == nil || len(r.Agents) != 2 {
		t.Fatalf("rotation started: %+v", r)
	}
	next := r.Next.PublicKey
	waitFor(t, 10*time.Second, func() bool { return h.d.PublicKey() == next }, func() string { return "the server did not switch to the next key" })
	status, err := h.d.RotationStatus(context.Background())
	if err != nil || status.InProgress || status.Active.PublicKey != next {
		t.Fatalf("after the switch: %+v, %v", status, err)
	}
	// The agents stop trusting the old key: a request signed with it is refused.
	waitFor(t, 10*time.Second, func() bool {
		cs, _, _ := h.st.Commands(context.Background(), store.CommandFilter{BulkID: "retire-" + agentctl.KeyID(mustPub(t, old))})
		done := 0
		for _, c := range cs {
			if c.State == store.CommandConfirmed {
				done++
			}
		}
		return done == 2
	}, func() string { return "old key not withdrawn from both agents" })
	keys, _ := h.st.ServerKeys(context.Background())
	var oldKey store.ServerKey
	for _, k := range keys {
		if k.PublicKey == old {
			oldKey = k
		}
	}
	if oldKey.State != store.KeyRetired {
		t.Fatalf("old key %+v", oldKey)
	}
	oldSigner, _ := signerOf(oldKey)
	_, status2, err := oldSigner.Send(context.Background(), nil, a1.srv.URL, "rot-1", agentctl.Request{ID: "old-key-1", Command: agentctl.Collect})
	if err != nil || status2 != http.StatusUnauthorized {
		t.Errorf("a request signed with the retired key: HTTP %d, %v; want 401", status2, err)
	}
	// And the new key steers them.
	c := h.submit(Request{Collector: "rot-2", Command: agentctl.Pause})
	h.waitState(c.ID, store.CommandConfirmed, 10*time.Second)
}

// TestKeyRotationWaitsForMissedAgents: an agent that is down misses the key;
// the server keeps the old key, lists it, and switches when forced.
func TestKeyRotationWaitsForMissedAgents(t *testing.T) {
	h := newHarness(t, func(o *DispatcherOptions) { o.Expiry = time.Second })
	up := startAgent(t, "up-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	down := startAgent(t, "down-1", agentOpts{keys: []ed25519.PublicKey{h.pub}})
	h.scrapeTargets(up, down)
	h.waitUp("up-1", "running")
	h.waitUp("down-1", "running")
	down.handler.Store(nil)
	old := h.d.PublicKey()
	admin := store.Actor{Kind: store.ActorUser, Name: "admin"}
	if _, err := h.d.StartRotation(context.Background(), admin, ""); err != nil {
		t.Fatal(err)
	}
	var status wire.Rotation
	waitFor(t, 10*time.Second, func() bool {
		status, _ = h.d.RotationStatus(context.Background())
		return status.Missed == 1 && status.Acknowledged == 1
	}, func() string { return "rotation status never showed one missed agent" })
	if h.d.PublicKey() != old {
		t.Fatal("switched although an agent missed the key")
	}
	for _, a := range status.Agents {
		if a.Collector == "down-1" && (a.State != "missed" || !strings.Contains(a.Error, "not delivered")) {
			t.Errorf("down-1 in the rotation: %+v", a)
		}
	}
	if _, err := h.d.CompleteRotation(context.Background(), admin, "", false); err == nil || !strings.Contains(err.Error(), "down-1") {
		t.Fatalf("complete without force: %v", err)
	}
	if _, err := h.d.CompleteRotation(context.Background(), admin, "", true); err != nil {
		t.Fatal(err)
	}
	if h.d.PublicKey() == old {
		t.Fatal("forced switch did not switch")
	}
	rows, _, _ := h.st.Audit(context.Background(), store.AuditFilter{All: true, Action: "activate-server-key"})
	if len(rows) != 1 || !strings.Contains(rows[0].Reason, "forced") || !strings.Contains(rows[0].Reason, "down-1") {
		t.Errorf("audit of the forced switch: %+v", rows)
	}
}

// TestSecretsRedactedForPeople: an update-config's secrets go to the agent as
// they are, but neither the command's view (the API's and command:updated's)
// nor the audit row nor any event shows them.
func TestSecretsRedactedForPeople(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "sec-1", agentOpts{keys: []ed25519.PublicKey{h.pub}, statePath: "-"})
	h.scrapeTargets(a)
	h.waitUp("sec-1", "running")
	res, err := h.d.Act(context.Background(), ActRequest{Collector: "sec-1", Action: "update-config",
		Params: json.RawMessage(`{"password":"s3cret","dsn":"postgres://u:s3cret@h/db","upstream":"u:s3cret@tcp(h)/db"}`),
		Actor:  store.Actor{Kind: store.ActorUser, Name: "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	// The synthetic agent refuses these keys; what matters is what was shown.
	c := h.waitState(res.Command.ID, store.CommandFailed, 10*time.Second)
	if !strings.Contains(string(c.Args), "s3cret") {
		t.Errorf("the agent was not sent the secret: %s", c.Args)
	}
	b, _ := json.Marshal(View(c))
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("View shows the secret: %s", b)
	}
	rows, _, err := h.st.Audit(context.Background(), store.AuditFilter{Collector: "sec-1", All: true})
	if err != nil || len(rows) == 0 {
		t.Fatalf("audit: %v %d rows", err, len(rows))
	}
	for _, r := range rows {
		if strings.Contains(string(r.Params), "s3cret") {
			t.Errorf("the audit row keeps the secret: %s", r.Params)
		}
	}
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	if len(h.events.data) == 0 {
		t.Fatal("no events")
	}
	for _, d := range h.events.data {
		if strings.Contains(d, "s3cret") {
			t.Errorf("an event shows the secret: %s", d)
		}
	}
}

// TestSecretsRedactedWithoutParams: a command submitted with no audit params
// (the reconciler resending a desired config) and a bulk operation's request
// as shown keep no secret either.
func TestSecretsRedactedWithoutParams(t *testing.T) {
	h := newHarness(t, nil)
	a := startAgent(t, "sec-2", agentOpts{keys: []ed25519.PublicKey{h.pub}, statePath: "-"})
	h.scrapeTargets(a)
	h.waitUp("sec-2", "running")
	h.submit(Request{Collector: "sec-2", Command: agentctl.UpdateConfig, Args: json.RawMessage(`{"password":"s3cret"}`),
		Actor: store.Actor{Kind: store.ActorReconciler, Name: "reconciler"}})
	rows, _, err := h.st.Audit(context.Background(), store.AuditFilter{Collector: "sec-2", All: true})
	if err != nil || len(rows) == 0 {
		t.Fatalf("audit: %v %d rows", err, len(rows))
	}
	for _, r := range rows {
		if strings.Contains(string(r.Params), "s3cret") {
			t.Errorf("the audit row keeps the secret: %s", r.Params)
		}
	}
	op := store.BulkOperation{ID: "b-1", Action: "update-config",
		Request: json.RawMessage(`{"action":"update-config","params":{"dsn":"u:s3cret@tcp(h)/db","api_key":"s3cret"}}`)}
	b, _ := json.Marshal((&Bulk{}).View(op))
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("the bulk view shows the secret: %s", b)
	}
}

// TestSubmitAfterRestartBeforeFirstScrape: after a restart the store gives a
// collector back its last-seen time before this process has scraped it; it
// is not yet known to lack corral's contract, so a command is taken (it was
// refused as "not a corral agent", and a bulk operation resumed at start
// failed every item).
func TestSubmitAfterRestartBeforeFirstScrape(t *testing.T) {
	eval := health.NewEvaluator(health.Options{Restore: func(string) *health.Restored {
		return &health.Restored{Status: fleet.StatusOnline, LastSeen: time.Now().Add(-5 * time.Second)}
	}})
	h := newHarness(t, func(o *DispatcherOptions) { o.Fleet = eval })
	tg := &targets.Target{Collector: "restored-1", URL: "http://127.0.0.1:9/metrics", ScrapeJob: "test"}
	eval.Track(tg, time.Minute, 10*time.Second)
	if hh, _ := eval.Get("restored-1"); hh.LastSeen.IsZero() || hh.Scraped {
		t.Fatalf("restored health %+v: want LastSeen from the store and no scrape yet", hh)
	}
	if _, err := h.d.Submit(context.Background(), Request{Collector: "restored-1", Command: agentctl.Pause}); err != nil {
		t.Errorf("a restored collector before its first scrape: %v", err)
	}
}
