package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/store"
)

// BenchmarkFleetFirstLoad10k is the web UI's first load of the fleet page at
// 10,000 collectors, as the server sees it: 10 requests at once of
// GET /api/v1/collectors?limit=1000&page=N&sort=-id with a session cookie,
// through the real router and authentication on SQLite (pages; me is the
// authentication alone, one request an iteration). An iteration is the 10;
// span-ms is its wall time (p50 and p99 over the iterations), the figure the
// page waits for; cpu-ms is the process's CPU time (GC included) an iteration
// took, which the machine's other load disturbs less.
func BenchmarkFleetFirstLoad10k(b *testing.B) {
	eval := fleet10k()
	st, _ := openStore(b)
	ctx := context.Background()
	u, err := st.UserByUsername(ctx, uSuper)
	if err != nil {
		b.Fatal(err)
	}
	const secret = "bench-session-secret"
	sum := sha256.Sum256([]byte(secret))
	now := time.Now()
	if err := st.CreateSession(ctx, store.Session{ID: hex.EncodeToString(sum[:]), UserID: u.ID, CSRFToken: "csrf",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeen: now}); err != nil {
		b.Fatal(err)
	}
	h := New(Options{Fleet: eval, Auth: auth.New(st, auth.Options{})})
	b.Run("me", func(b *testing.B) {
		// Authentication alone (the session, its user and bindings read from
		// SQLite) and a small answer: what every page pays before the handler.
		req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		req.AddCookie(&http.Cookie{Name: "corral_session", Value: secret})
		b.ReportAllocs()
		cpu0 := cpuTime(b)
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code, rec.Body)
			}
		}
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
	page := func(n int) {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v1/collectors?limit=1000&page=%d&sort=-id", n), nil)
		req.AddCookie(&http.Cookie{Name: "corral_session", Value: secret})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			body, _ := io.ReadAll(rec.Body)
			b.Errorf("page %d: %d %s", n, rec.Code, body)
		}
	}
	b.Run("pages", func(b *testing.B) {
		b.ReportAllocs()
		var took []time.Duration
		cpu0 := cpuTime(b)
		for b.Loop() {
			start := time.Now()
			var wg sync.WaitGroup
			for n := 1; n <= 10; n++ {
				wg.Go(func() { page(n) })
			}
			wg.Wait()
			took = append(took, time.Since(start))
		}
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(len(took)), "cpu-ms/op")
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "span-p50-ms")
		b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "span-p99-ms")
	})
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
