package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestOwnerSplitsEvenlyAndMovesLittle: rendezvous hashing gives every replica
// about its share, and a replica joining or leaving moves only its own share.
func TestOwnerSplitsEvenlyAndMovesLittle(t *testing.T) {
	const n = 30000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("sim/127.0.0.1:%d", 20000+i)
	}
	for _, tc := range []struct {
		name     string
		from, to []string
	}{
		{"join third", []string{"a:9090", "b:9090"}, []string{"a:9090", "b:9090", "c:9090"}},
		{"leave one of three", []string{"a:9090", "b:9090", "c:9090"}, []string{"a:9090", "c:9090"}},
		{"join fifth", []string{"r1", "r2", "r3", "r4"}, []string{"r1", "r2", "r3", "r4", "r5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			count := map[string]int{}
			moved := 0
			for _, k := range keys {
				before, after := Owner(tc.from, k), Owner(tc.to, k)
				count[after]++
				if before != after {
					moved++
					// Only a key of the replica that left, or to the one that came, moves.
					if slices.Contains(tc.to, before) && slices.Contains(tc.from, after) {
						t.Fatalf("%s moved from %s to %s, neither of which came or went", k, before, after)
					}
				}
			}
			share := float64(n) / float64(len(tc.to))
			for _, r := range tc.to {
				if got := float64(count[r]); got < 0.95*share || got > 1.05*share {
					t.Errorf("%s owns %d of %d keys, want %.0f ±5%%", r, count[r], n, share)
				}
			}
			change := len(tc.to) - len(tc.from)
			if change < 0 {
				change = -change
			}
			want := float64(n) * float64(change) / float64(max(len(tc.to), len(tc.from)))
			if float64(moved) < 0.9*want || float64(moved) > 1.1*want {
				t.Errorf("%d keys moved, want about %.0f", moved, want)
			}
		})
	}
	if Owner(nil, "x") != "" {
		t.Error("no live replica owns nothing")
	}
}

func migrated(t *testing.T) string {
	t.Helper()
	url := testdb.Postgres(t)
	st, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return url
}

type changes struct {
	mu   sync.Mutex
	seen [][]string
}

func (c *changes) add(live []string) {
	c.mu.Lock()
	c.seen = append(c.seen, live)
	c.mu.Unlock()
}

func (c *changes) last() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return nil
	}
	return c.seen[len(c.seen)-1]
}

func waitLive(t *testing.T, m *Member, want []string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !slices.Equal(m.Live(), want) {
		if time.Since(start) > within {
			t.Fatalf("%s sees %v, want %v within %v", m.Name(), m.Live(), want, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestLeases: replicas see each other join, a stopped one leaves at once, a
// dead one (its lease unrenewed) is dropped after the expiry, a second replica
// under a live name is refused, and a restarted one takes its own name back.
func TestLeases(t *testing.T) {
	url := migrated(t)
	ctx := context.Background()
	const interval, expiry = 100 * time.Millisecond, 300 * time.Millisecond
	join := func(name string, ch *changes) (*Member, context.CancelFunc, chan struct{}) {
		t.Helper()
		m, err := Join(ctx, Options{URL: url, Name: name, Interval: interval, Expiry: expiry, Changed: ch.add})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { m.Run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return m, cancel, done
	}
	var ca, cb changes
	a, _, _ := join("a", &ca)
	if !slices.Equal(a.Live(), []string{"a"}) {
		t.Fatalf("alone: %v", a.Live())
	}
	b, stopB, doneB := join("b", &cb)
	if got := b.Live(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("b sees at join %v", got)
	}
	waitLive(t, a, []string{"a", "b"}, 2*interval+50*time.Millisecond)
	if !slices.Equal(ca.last(), []string{"a", "b"}) {
		t.Errorf("a's Changed got %v", ca.last())
	}

	// A second "b" is refused while b renews (after waiting out one expiry).
	if _, err := Join(ctx, Options{URL: url, Name: "b", Interval: interval, Expiry: expiry}); err == nil {
		t.Fatal("a second replica named b joined")
	}

	// b stops: it leaves, a sees it at its next renewal.
	stopB()
	<-doneB
	took := waitLive(t, a, []string{"a"}, 2*interval+50*time.Millisecond)
	t.Logf("a saw b leave after %v", took)

	// A dead replica: a lease row nobody renews goes after the expiry.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO cluster_members (replica, started_at, renewed_at, expires_at)
		VALUES ('dead', `+nowMS+`, `+nowMS+`, `+nowMS+` + $1)`, expiry.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	waitLive(t, a, []string{"a", "dead"}, 2*interval+50*time.Millisecond)
	took = waitLive(t, a, []string{"a"}, expiry+2*interval+50*time.Millisecond)
	if took < expiry-2*interval {
		t.Errorf("dead dropped after %v, before its expiry %v", took, expiry)
	}
	t.Logf("dead dropped %v after a saw it", took)

	// Restarted after a crash: "dead2"'s lease is live, the new dead2 waits it out.
	if _, err := conn.Exec(ctx, `INSERT INTO cluster_members (replica, started_at, renewed_at, expires_at)
		VALUES ('dead2', `+nowMS+`, `+nowMS+`, `+nowMS+` + $1)`, expiry.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d2, _, _ := join("dead2", &changes{})
	if !slices.Contains(d2.Live(), "dead2") || time.Since(start) > expiry+2*interval {
		t.Errorf("restarted dead2 joined after %v with %v", time.Since(start), d2.Live())
	}
	waitLive(t, a, []string{"a", "dead2"}, 2*interval+50*time.Millisecond)
	waitLive(t, d2, []string{"a", "dead2"}, 2*interval+50*time.Millisecond)
	if a.Leader() == d2.Leader() {
		t.Errorf("leaders: a %v, dead2 %v; want exactly one", a.Leader(), d2.Leader())
	}
}

// TestBus: a message sent by one replica reaches the others, not itself,
// batched into few NOTIFYs, and in order.
func TestBus(t *testing.T) {
	url := migrated(t)
	ctx, cancel := context.WithCancel(context.Background())
	type got struct {
		mu   sync.Mutex
		msgs []string
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	buses := map[string]*Bus{}
	recv := map[string]*got{}
	for _, name := range []string{"a", "b", "c"} {
		b := NewBus(url, name, nil, nil)
		g := &got{}
		b.Handle("corral_test", func(m []byte) { g.mu.Lock(); g.msgs = append(g.msgs, string(m)); g.mu.Unlock() })
		buses[name], recv[name] = b, g
		wg.Go(func() { b.Run(ctx) })
		<-b.Ready()
	}
	const n = 2000
	for i := range n {
		buses["a"].Send("corral_test", fmt.Appendf(nil, `{"i":%d,"pad":"%040d"}`, i, i))
	}
	for _, name := range []string{"b", "c"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			recv[name].mu.Lock()
			k := len(recv[name].msgs)
			recv[name].mu.Unlock()
			if k == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s got %d of %d messages", name, k, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for i, m := range recv[name].msgs {
			if want := fmt.Sprintf(`{"i":%d,"pad":"%040d"}`, i, i); m != want {
				t.Fatalf("%s: message %d is %s, want %s", name, i, m, want)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	recv["a"].mu.Lock()
	if len(recv["a"].msgs) != 0 {
		t.Errorf("a received %d of its own messages", len(recv["a"].msgs))
	}
	recv["a"].mu.Unlock()
}

func TestPayloads(t *testing.T) {
	big := make([]byte, maxPayload)
	for _, tc := range []struct {
		name string
		msgs [][]byte
		want int
	}{
		{"none", nil, 0},
		{"one", [][]byte{[]byte("x")}, 1},
		{"too big dropped", [][]byte{big, []byte("y")}, 1},
		{"split", [][]byte{make([]byte, 5000), make([]byte, 5000)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := payloads("o", tc.msgs)
			if len(ps) != tc.want {
				t.Fatalf("%d payloads, want %d", len(ps), tc.want)
			}
			for _, p := range ps {
				if len(p) > maxPayload {
					t.Errorf("payload of %d bytes", len(p))
				}
			}
		})
	}
}
