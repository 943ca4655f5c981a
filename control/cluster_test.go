package control

import (
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// owner is which of two dispatchers owns the collectors, as a cluster's
// membership would say.
type owner struct {
	mu  sync.Mutex
	who string
}

func (o *owner) set(who string) { o.mu.Lock(); o.who = who; o.mu.Unlock() }
func (o *owner) is(who string) func(string) bool {
	return func(string) bool { o.mu.Lock(); defer o.mu.Unlock(); return o.who == who }
}

// collects is how many collect commands the agent carried out.
func (a *agent) collects(t *testing.T) float64 {
	t.Helper()
	fams, err := a.current.Load().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "corral_collector_commands_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			ls := map[string]string{}
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = lp.GetValue()
			}
			if ls["command"] == agentctl.Collect && ls["result"] == "ok" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestDispatchersShareOneStore: two dispatchers on one PostgreSQL store, as
// two replicas. A command submitted to the one that does not own the
// collector is delivered by the owner only, once it is announced; a command
// left open in the store is delivered by the next owner; a desired state
// changed on one is read by the other.
func TestDispatchersShareOneStore(t *testing.T) {
	url := testdb.Postgres(t)
	var own owner
	own.set("b")
	announced := make(chan string, 10)
	a := newHarnessAt(t, url, func(o *DispatcherOptions) {
		o.Owns, o.Announce = own.is("a"), func(c string) { announced <- c }
	})
	ag := startAgent(t, "col-1", agentOpts{keys: []ed25519.PublicKey{a.pub}})
	a.scrapeTargets(ag)
	a.waitUp("col-1", "running")
	// b after a's scrape loop started: each harness checks for leaks of its own.
	b := newHarnessAt(t, url, func(o *DispatcherOptions) { o.Owns = own.is("b") })
	b.scrapeTargets(ag)
	b.waitUp("col-1", "running")
	// a and the agent stop before b checks for leaks: their connections are a's.
	t.Cleanup(func() { a.stop(); ag.stop() })

	// Submitted to a, which does not own col-1: announced, delivered by b.
	c := a.submit(Request{Collector: "col-1", Command: agentctl.Collect})
	select {
	case got := <-announced:
		if got != "col-1" {
			t.Fatalf("announced %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a did not announce the command")
	}
	time.Sleep(300 * time.Millisecond)
	if n := ag.collects(t); n != 0 {
		t.Fatalf("the agent carried out %v collects before the owner took the command", n)
	}
	if err := b.d.Adopt(context.Background(), "col-1"); err != nil {
		t.Fatal(err)
	}
	a.waitState(c.ID, store.CommandConfirmed, 10*time.Second) // a follows the store's row
	if n := ag.collects(t); n != 1 {
		t.Errorf("the agent carried out %v collects, want 1", n)
	}

	// A command left open in the store by an owner that went away (nobody
	// owns col-1 meanwhile): the next owner, a, takes and delivers it.
	own.set("nobody")
	c2 := b.submit(Request{Collector: "col-1", Command: agentctl.Collect})
	time.Sleep(300 * time.Millisecond)
	if n := ag.collects(t); n != 1 {
		t.Fatalf("the agent carried out %v collects while nobody owned col-1, want still 1", n)
	}
	own.set("a")
	for _, h := range []*harness{a, b} {
		if err := h.d.Adopt(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a.waitState(c2.ID, store.CommandConfirmed, 10*time.Second)
	b.waitState(c2.ID, store.CommandConfirmed, 10*time.Second)
	if n := ag.collects(t); n != 2 {
		t.Errorf("the agent carried out %v collects, want 2", n)
	}

	// A desired state set on b (now not the owner) reaches a's reconciler.
	if _, err := b.d.SetDesired(context.Background(), "col-1", store.Actor{Kind: store.ActorUser, Name: "alice"},
		store.AuditEntry{At: time.Now(), Actor: store.Actor{Kind: store.ActorUser, Name: "alice"}, Action: "set-tags", Collector: "col-1", Result: store.ResultOK},
		func(d *store.DesiredState) { d.Tags = []string{"eu"} }); err != nil {
		t.Fatal(err)
	}
	if err := a.d.Adopt(context.Background(), "col-1"); err != nil {
		t.Fatal(err)
	}
	if d, ok := a.d.Desired("col-1"); !ok || len(d.Tags) != 1 || d.Tags[0] != "eu" {
		t.Errorf("a's desired state of col-1: %+v %v", d, ok)
	}
}
