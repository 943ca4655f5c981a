package control

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// BenchmarkObserve is the dispatcher's share of every scrape: a collector with
// nothing to confirm or reconcile (idle), and one with a desired state that
// matches what the agent reports (the reconciler looks and does nothing).
func BenchmarkObserve(b *testing.B) {
	st, err := store.Open(context.Background(), "sqlite:"+b.TempDir()+"/c.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eval := health.NewEvaluator(health.Options{})
	d := NewDispatcher(DispatcherOptions{Store: st, Fleet: eval})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-d.Ready()
	for i := range 10000 {
		id := fmt.Sprintf("c-%05d", i)
		d.desired[id] = store.DesiredState{Collector: id, Run: store.DesiredRunning, UpdatedAt: time.Now()}
	}
	h := health.Health{Collector: "idle", Up: true, Target: &targets.Target{Collector: "idle"},
		Agent: scrape.AgentSample{HasContract: true, State: "running"}}
	b.Run("idle", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Observe(&h)
		}
	})
	h.Collector = "c-00042"
	b.Run("desired-matches", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Observe(&h)
		}
	})
}
