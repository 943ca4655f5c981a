package targets

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const deadline = 5 * time.Second

// fakeProvider forwards what the test pushes and counts its runs.
type fakeProvider struct {
	kind    string
	push    chan []*Group
	starts  atomic.Int32
	running atomic.Int32
}

func newFake(kind string) *fakeProvider {
	return &fakeProvider{kind: kind, push: make(chan []*Group, 1000)}
}

func (p *fakeProvider) Kind() string { return p.kind }

func (p *fakeProvider) Run(ctx context.Context, up chan<- []*Group) {
	p.starts.Add(1)
	p.running.Add(1)
	defer p.running.Add(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case gs := <-p.push:
			if !send(ctx, up, gs) {
				return
			}
		}
	}
}

func group(source string, labels map[string]string, addrs ...string) *Group {
	return &Group{Source: source, Targets: addrs, Labels: labels}
}

// runManager runs m until the test ends.
func runManager(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitSet receives sets until ok accepts one.
func waitSet(t *testing.T, m *Manager, what string, ok func([]*Target) bool) []*Target {
	t.Helper()
	timeout := time.After(deadline)
	var last []*Target
	for {
		select {
		case set := <-m.Updates():
			if ok(set) {
				return set
			}
			last = set
		case <-timeout:
			t.Fatalf("no set with %s within %s; last: %v", what, deadline, collectors(last))
		}
	}
}

func collectors(set []*Target) []string {
	out := make([]string, len(set))
	for i, t := range set {
		out[i] = t.Collector
	}
	return out
}

func hasCollectors(want ...string) func([]*Target) bool {
	return func(set []*Target) bool {
		got := collectors(set)
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
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
