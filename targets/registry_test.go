package targets

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixedList is a registry listing the test changes.
type fixedList struct {
	mu     sync.Mutex
	groups []Group
	err    error
	calls  atomic.Int32
}

func (f *fixedList) set(err error, gs ...Group) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups, f.err = gs, err
}

func (f *fixedList) list(context.Context) ([]Group, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.groups), f.err
}

func recvGroups(t *testing.T, up <-chan []*Group) map[string][]string {
	t.Helper()
	select {
	case gs := <-up:
		out := map[string][]string{}
		for _, g := range gs {
			out[g.Source] = g.Targets
		}
		return out
	case <-time.After(deadline):
		t.Fatal("no update from the registry provider")
		return nil
	}
}

func TestRegistryProvider(t *testing.T) {
	f := &fixedList{}
	f.set(errors.New("store down"))
	notify := make(chan struct{})
	p := NewRegistryProvider("reg", f.list, 0, notify)
	up := make(chan []*Group)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, up) }()
	defer func() { cancel(); <-done }()

	// A failing first listing sends nothing and is visible; the next good one is the full set.
	eventually(t, "first listing", func() bool { return f.calls.Load() >= 1 })
	if err := p.(*Registry).LastError(); err == nil {
		t.Error("LastError() = nil after a failed listing")
	}
	f.set(nil, Group{Source: "c1", Targets: []string{"a:1"}}, Group{Source: "c2", Targets: []string{"b:1"}})
	notify <- struct{}{}
	if got := recvGroups(t, up); len(got) != 2 || got["c1"][0] != "a:1" || got["c2"][0] != "b:1" {
		t.Fatalf("first set = %v", got)
	}
	if err := p.(*Registry).LastError(); err != nil {
		t.Errorf("LastError() = %v after a good listing", err)
	}

	// Only the changed source, and the vanished one without targets.
	f.set(nil, Group{Source: "c1", Targets: []string{"a:2"}})
	notify <- struct{}{}
	got := recvGroups(t, up)
	if len(got) != 2 || got["c1"][0] != "a:2" || len(got["c2"]) != 0 {
		t.Fatalf("update = %v", got)
	}
	// Nothing changed: nothing sent; a failed listing keeps the last good set.
	notify <- struct{}{}
	f.set(errors.New("store down"))
	notify <- struct{}{}
	select {
	case gs := <-up:
		t.Fatalf("unexpected update %v", gs)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRegistryProviderInterval(t *testing.T) {
	f := &fixedList{}
	f.set(nil, Group{Targets: []string{"a:1"}})
	p := NewRegistryProvider("reg", f.list, 10*time.Millisecond, nil)
	up := make(chan []*Group, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, up) }()
	if got := recvGroups(t, up); len(got) != 1 || got["registry[0]"][0] != "a:1" {
		t.Fatalf("first set = %v", got)
	}
	eventually(t, "periodic listings", func() bool { return f.calls.Load() >= 4 })
	cancel()
	<-done
	if len(up) != 0 {
		t.Errorf("%d updates for an unchanged registry", len(up))
	}
}

func TestStaticProvider(t *testing.T) {
	cfgs := []StaticConfig{{Targets: []string{"a:1"}, Labels: map[string]string{"x": "1"}}, {Targets: []string{"b:1"}}}
	p := NewStatic("s", cfgs)
	cfgs[0].Labels["x"] = "changed later"
	up := make(chan []*Group, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, up) }()
	gs := <-up
	cancel()
	<-done
	if len(gs) != 2 || gs[0].Source != "static_configs[0]" || gs[1].Source != "static_configs[1]" || gs[0].Labels["x"] != "1" {
		t.Fatalf("groups = %+v", gs)
	}
}
