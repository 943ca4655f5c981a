package fleetbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// extras measures, after corral's first window: /federate of the whole fleet,
// GET /api/v1/collectors latency and the WebSocket fan-out.
func (b *bench) extras(ctx context.Context, api *http.Client, base string, pid int, scrapesPerSec float64) error {
	if err := federate(ctx, api, base, pid); err != nil {
		return err
	}
	for _, q := range []string{"", "?limit=1000&sort=-last_seen", "?status=offline"} {
		if err := apiLatency(api, base+"/api/v1/collectors"+q, 200); err != nil {
			return err
		}
	}
	return wsFanout(ctx, api, base, pid, 20, 30*time.Second, scrapesPerSec)
}

// federate GETs /federate of the whole fleet, timing it and sampling the
// server's RSS while it streams.
func federate(ctx context.Context, api *http.Client, base string, pid int) error {
	_, rss0, _ := procStat(pid)
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if _, rss, err := procStat(pid); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/federate?match[]="+url.QueryEscape(`{job=~".+"}`), nil)
	resp, err := api.Do(req)
	var n int64
	var lines int
	if err == nil && resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		err = fmt.Errorf("%s: %s", resp.Status, b)
	} else if err == nil {
		buf := make([]byte, 64<<10)
		for {
			k, rerr := resp.Body.Read(buf)
			n += int64(k)
			lines += strings.Count(string(buf[:k]), "\n")
			if rerr != nil {
				if rerr != io.EOF {
					err = rerr
				}
				break
			}
		}
		resp.Body.Close()
	}
	took := time.Since(t0)
	close(done)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("federate: %w", err)
	}
	fmt.Printf("  /federate of the whole fleet: %s, %.1f MiB, %d lines; server RSS %.0f MiB before, peak %.0f MiB while streaming\n",
		took.Round(time.Millisecond), mib(n), lines, mib(rss0), mib(peak.Load()))
	return nil
}

// apiLatency GETs u n times in a row and prints p50 and p99.
func apiLatency(api *http.Client, u string, n int) error {
	var d []time.Duration
	var size int64
	for range n {
		t0 := time.Now()
		resp, err := api.Get(u)
		if err != nil {
			return err
		}
		size, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	fmt.Printf("  GET %s × %d: p50 %s, p99 %s, %d KiB\n", u[strings.Index(u, "/api/"):], n,
		d[n/2].Round(10*time.Microsecond), d[n*99/100].Round(10*time.Microsecond), size>>10)
	return nil
}

// wsFanout connects clients to /api/v1/ws for a while, each reading as
// fast as it can, and prints the server's CPU meanwhile, the heartbeats each
// client got against the scrapes in that time, and any resync (a dropped
// client).
func wsFanout(ctx context.Context, api *http.Client, base string, pid, clients int, d time.Duration, scrapesPerSec float64) error {
	u, _ := url.Parse(base + "/api/v1/ws")
	hdr := http.Header{}
	for _, c := range api.Jar.Cookies(u) {
		hdr.Add("Cookie", c.String())
	}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws"
	type count struct{ heartbeats, resyncs, other int }
	counts := make([]count, clients)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	for i := range clients {
		c, _, err := websocket.Dial(cctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
		if err != nil {
			return fmt.Errorf("websocket %d: %w", i, err)
		}
		c.SetReadLimit(1 << 20)
		conns = append(conns, c)
	}
	var ready sync.WaitGroup
	ready.Add(clients)
	var start time.Time
	var startOnce sync.Once
	for i, c := range conns {
		wg.Go(func() {
			ready.Done()
			ready.Wait()
			startOnce.Do(func() { start = time.Now() })
			for {
				_, msg, err := c.Read(cctx)
				if err != nil {
					return
				}
				var ev struct {
					Type string `json:"type"`
				}
				_ = json.Unmarshal(msg, &ev)
				switch ev.Type {
				case "collector:heartbeat":
					counts[i].heartbeats++
				case "resync":
					counts[i].resyncs++
				default:
					counts[i].other++
				}
			}
		})
	}
	m, err := watch(ctx, pid, d)
	cancel()
	wg.Wait()
	for _, c := range conns {
		_ = c.CloseNow()
	}
	if err != nil {
		return err
	}
	hb := make([]int, clients)
	resyncs := 0
	for i, c := range counts {
		hb[i] = c.heartbeats
		resyncs += c.resyncs
	}
	fmt.Printf("  WebSocket fan-out, %d clients for %s: server %.3f cores; heartbeats per client min %d, max %d (scrapes in the window ≈ %.0f); resyncs (dropped) %d\n",
		clients, d, m.cores, slices.Min(hb), slices.Max(hb), scrapesPerSec*time.Since(start).Seconds(), resyncs)
	return nil
}
