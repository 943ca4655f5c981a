package api

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/health"
)

// gatedFleet is a fleet of one collector whose Reason is the number of the
// walk; each walk waits for a value on gate.
type gatedFleet struct {
	walks   atomic.Int64
	started chan int64
	gate    chan struct{}
}

func (f *gatedFleet) Each(fn func(health.Health) bool) {
	n := f.walks.Add(1)
	f.started <- n
	<-f.gate
	fn(health.Health{Collector: "c", Reason: string(rune('0' + n))})
}

func (f *gatedFleet) Get(string) (health.Health, bool) { return health.Health{}, false }

// TestWalkerShares checks that requests arriving during a walk share the next
// one, and that none gets a walk begun before it arrived.
func TestWalkerShares(t *testing.T) {
	f := &gatedFleet{started: make(chan int64, 10), gate: make(chan struct{})}
	w := newWalker()
	got := make([]string, 6)
	first := func() string {
		hs, release := w.healths(f)
		defer release()
		return hs[0].Reason
	}
	var wg sync.WaitGroup
	wg.Go(func() { got[0] = first() })
	if n := <-f.started; n != 1 {
		t.Fatalf("walk %d started first", n)
	}
	// Walk 1 is under way: these five arrived after it began.
	for i := 1; i < 6; i++ {
		wg.Go(func() { got[i] = first() })
	}
	time.Sleep(50 * time.Millisecond) // let them all wait
	f.gate <- struct{}{}
	if n := <-f.started; n != 2 {
		t.Fatalf("walk %d started second", n)
	}
	f.gate <- struct{}{}
	wg.Wait()
	if got[0] != "1" {
		t.Errorf("the first request got walk %s, want 1", got[0])
	}
	for i := 1; i < 6; i++ {
		if got[i] != "2" {
			t.Errorf("request %d, which arrived during walk 1, got walk %s, want 2", i, got[i])
		}
	}
	if n := f.walks.Load(); n != 2 {
		t.Errorf("%d walks for 6 requests, want 2", n)
	}
	// Alone, a request walks at once.
	go func() { <-f.started; f.gate <- struct{}{} }()
	if r := first(); r != "3" {
		t.Errorf("a later request got walk %s, want 3", r)
	}
}
