package faults

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// The hostile targets of this file are HTTP servers in the test process that
// start well behaved and then misbehave in one way; corral, the real binary,
// scrapes them. Each test checks what the API showed, that the last good scrape
// and the history were kept, that the target comes back online once it behaves,
// and that corral's open files and memory came back.

// goodBody is what a hostile target answers while it behaves: a plain exporter
// (no corral contract) with a marker the test finds in the kept snapshot.
const goodBody = "# TYPE hostile_marker gauge\nhostile_marker{phase=\"good\"} 42\n# TYPE hostile_up gauge\nhostile_up 1\n"

// hostileTarget is an httptest server whose behaviour the test switches, with a
// count of the connections open to it (corral's side of them are corral's fds).
type hostileTarget struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.HandlerFunc]
	open    atomic.Int64 // connections open now
	maxOpen atomic.Int64 // most open at once since the last ResetMax
	conns   atomic.Int64 // connections accepted in all
}

func newHostileTarget(t *testing.T) *hostileTarget {
	t.Helper()
	h := &hostileTarget{}
	h.Set(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, goodBody) })
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*h.handler.Load())(w, r)
	}))
	h.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			h.conns.Add(1)
			n := h.open.Add(1)
			for m := h.maxOpen.Load(); n > m && !h.maxOpen.CompareAndSwap(m, n); m = h.maxOpen.Load() {
			}
		case http.StateClosed:
			h.open.Add(-1)
		case http.StateHijacked:
			// counted until the handler that took it closes it (done below)
		}
	}
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// Set switches the target's behaviour.
func (h *hostileTarget) Set(f http.HandlerFunc) { h.handler.Store(&f) }

// Addr is the target as a static target.
func (h *hostileTarget) Addr() string { return strings.TrimPrefix(h.srv.URL, "http://") }

// ResetMax starts a new count of the most connections open at once.
func (h *hostileTarget) ResetMax() { h.maxOpen.Store(h.open.Load()) }

// raw hijacks the connection and hands it to f; the connection counts as open
// until f returns.
func (h *hostileTarget) raw(f func(c net.Conn, rw *bufio.ReadWriter)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer func() { c.Close(); h.open.Add(-1) }()
		f(c, rw)
	}
}

// hostileServer starts corral scraping one target every second, judged
// offline only after five minutes (longer than any fault is held) so that the
// failure itself stays visible.
func hostileServer(t *testing.T, target, extra string) *Server {
	t.Helper()
	s := NewServer(t, ServerOptions{Config: fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, thresholds: {offline_after: 5m}}
scrape_configs:
  - job_name: hostile
%s    static_configs: [{targets: ['%s'], labels: {collector: hostile}}]
`, extra, target)})
	s.Start()
	return s
}

// apiText GETs an API path as the super admin and returns the status and body.
func apiText(s *Server, path string) (int, string) {
	req, _ := http.NewRequest("GET", s.Base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.Tokens["super"])
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// historyOf is the collector's status history, oldest first, as "from→to".
func historyOf(t *testing.T, s *Server, id string) []string {
	t.Helper()
	var h wire.History
	if code, err := s.Call("super", "GET", "/api/v1/collectors/"+id+"/history?limit=1000", nil, &h); err != nil || code != http.StatusOK {
		t.Fatalf("history of %s: %d %v", id, code, err)
	}
	var out []string
	for i := len(h.Data) - 1; i >= 0; i-- {
		if c := h.Data[i]; c.Kind == "status" || c.Kind == "" {
			out = append(out, c.From+"→"+c.To)
		}
	}
	return out
}

// waitHistory waits until the collector's stored history holds want in order
// (the store writes changes in batches, off the scrape path) and returns it.
func waitHistory(t *testing.T, s *Server, id string, within time.Duration, want ...string) []string {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		h := historyOf(t, s, id)
		if hasChanges(h, want...) {
			return h
		}
		if time.Now().After(deadline) {
			t.Errorf("history of %s lacks %v within %v: %v", id, want, within, h)
			return h
		}
	}
}

// hasChanges tells whether want appears in order (not necessarily next to
// each other) in got.
func hasChanges(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// rssPeak samples the process's resident memory until stop is called and
// returns the highest seen.
func rssPeak(pid int) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := RSS(pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 { close(done); <-finished; return peak.Load() }
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// clip shortens a reason for the table.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hostileRun is the common course of a hostile-target test: online on the
// good body, the fault until the collector shows error with wantReason (and
// the reason passes check), hold the fault for a while, then good again until
// online. It checks what must not be lost and returns the figures for the row.
type hostileRun struct {
	s          *Server
	h          *hostileTarget
	wantReason string
	check      func(wire.CollectorDetail) bool // extra condition on the error's detail
	hold       time.Duration                   // how long the fault lasts after it shows
	during     func(t *testing.T)              // checks while the fault is shown (optional)

	before, after Usage
	peak          int64
	shown         wire.CollectorDetail
	tShown        time.Duration
	tBack         time.Duration
}

func (r *hostileRun) do(t *testing.T, fault http.HandlerFunc) {
	t.Helper()
	s, h := r.s, r.h
	s.WaitStatus("hostile", "online", 30*time.Second)
	_, good := apiText(s, "/api/v1/collectors/hostile/metrics")
	if !strings.Contains(good, `hostile_marker{phase="good"} 42`) {
		t.Fatalf("the latest metrics before the fault lack the marker:\n%s", good)
	}
	time.Sleep(time.Second) // connections and buffers of the good scrapes settle
	r.before = s.Usage()
	stop := rssPeak(s.Pid())

	t0 := time.Now()
	h.ResetMax()
	h.Set(fault)
	r.shown, r.tShown = s.WaitCollector("hostile", 30*time.Second, "error ("+r.wantReason+")", func(d wire.CollectorDetail) bool {
		return d.Status == "error" && d.LastErrorReason == r.wantReason && (r.check == nil || r.check(d))
	})
	if !strings.Contains(r.shown.Reason, r.wantReason) {
		t.Errorf("reason %q does not name %s", r.shown.Reason, r.wantReason)
	}
	time.Sleep(r.hold)
	if r.during != nil {
		r.during(t)
	}
	// Still error, for the same reason, all along: no hang left it at its last state.
	if d, _ := s.Collector("hostile"); d.Status != "error" || d.LastErrorReason != r.wantReason {
		t.Errorf("after %v of the fault: status %q reason %q (%s), want error (%s)", r.hold, d.Status, d.LastErrorReason, d.Reason, r.wantReason)
	}
	if d, _ := s.Collector("hostile"); d.ConsecutiveFailures < 2 {
		t.Errorf("consecutive_failures %d after %v: the loop did not go on scraping", d.ConsecutiveFailures, r.hold)
	}
	// The last good scrape is kept while scrapes fail.
	if code, m := apiText(s, "/api/v1/collectors/hostile/metrics"); code != http.StatusOK || !strings.Contains(m, `hostile_marker{phase="good"} 42`) {
		t.Errorf("latest metrics during the fault: %d, marker missing:\n%.500s", code, m)
	}

	t1 := time.Now()
	h.Set(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, goodBody) })
	s.WaitCollector("hostile", 30*time.Second, "online again", func(d wire.CollectorDetail) bool {
		return d.Status == "online" && d.LastError == ""
	})
	r.tBack = time.Since(t1)
	r.peak = stop()
	waitHistory(t, s, "hostile", 20*time.Second, "unknown→online", "online→error", "error→online")
	time.Sleep(2 * time.Second) // corral closes what the fault left open
	r.after = s.Usage()
	if r.after.FDs > r.before.FDs+3 {
		t.Errorf("fds %d → %d after the fault", r.before.FDs, r.after.FDs)
	}
	_ = t0
}

func (r *hostileRun) shownCell() string {
	return fmt.Sprintf("error after %s: %q; online %s after the target behaved", since(r.tShown), clip(r.shown.Reason, 220), since(r.tBack))
}

func (r *hostileRun) lostCell() string {
	return "nothing: last good scrape kept (its metrics served), history online→error→online"
}

func (r *hostileRun) rssCell() string {
	return fmt.Sprintf("%s → %s (peak %s)", mib(r.before.RSS), mib(r.after.RSS), mib(r.peak))
}

// TestTargetSlowloris: a target that accepts and then dribbles its answer a
// byte at a time, slower than the scrape timeout: once in the status line and
// headers, once in the body. Every scrape must end at the timeout, close its
// connection (no fds pile up) and the loop go on.
func TestTargetSlowloris(t *testing.T) {
	h := newHostileTarget(t)
	s := hostileServer(t, h.Addr(), "")
	dribble := func(text string) http.HandlerFunc {
		return h.raw(func(c net.Conn, rw *bufio.ReadWriter) {
			for i := 0; ; i++ {
				if _, err := c.Write([]byte{text[i%len(text)]}); err != nil {
					return // corral gave up and closed
				}
				time.Sleep(150 * time.Millisecond)
			}
		})
	}
	hold := scale(3*time.Second, 60*time.Second)
	var rows []string
	var maxOpen int64
	var first *hostileRun
	for _, c := range []struct{ what, text string }{
		{"headers", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + strings.Repeat("a", 1<<16)},
		{"body", ""},
	} {
		fault := dribble(c.text)
		if c.what == "body" {
			fault = h.raw(func(conn net.Conn, rw *bufio.ReadWriter) {
				if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 100000\r\n\r\n"); err != nil {
					return
				}
				body := strings.Repeat(goodBody, 1000)
				for i := 0; ; i++ {
					if _, err := conn.Write([]byte{body[i%len(body)]}); err != nil {
						return
					}
					time.Sleep(150 * time.Millisecond)
				}
			})
		}
		r := &hostileRun{s: s, h: h, wantReason: "timeout", hold: hold}
		r.do(t, fault)
		if first == nil {
			first = r
		}
		maxOpen = max(maxOpen, h.maxOpen.Load())
		rows = append(rows, fmt.Sprintf("slow %s: error after %s: %q; online %s after", c.what, since(r.tShown), clip(r.shown.Reason, 160), since(r.tBack)))
		if r.after.FDs > first.before.FDs+3 {
			t.Errorf("fds %d → %d", first.before.FDs, r.after.FDs)
		}
	}
	// A scrape every second, each given up after 1s: at most a couple open at once.
	if maxOpen > 3 {
		t.Errorf("up to %d connections open to the slow target at once: corral does not close timed-out scrapes", maxOpen)
	}
	last := s.Usage()
	record(t, Row{
		Fault: fmt.Sprintf("slowloris target: a byte every 150ms, in the headers then in the body, each for %v (scrape_timeout 1s)", hold),
		Shown: strings.Join(rows, "; ") + fmt.Sprintf("; at most %d connections open to the target at once", maxOpen),
		Lost:  first.lostCell(),
		FDs:   fdsCell(first.before, last),
		RSS:   rssCell(first.before, last),
	})
}

// TestTargetHugeBody: a target that answers a 200 MB body, once with its
// Content-Length (refused unread) and once chunked (read up to the limit).
// corral must stop at body_size_limit (10MiB, the default), fail the scrape
// with reason body_limit, and stay within its memory.
func TestTargetHugeBody(t *testing.T) {
	h := newHostileTarget(t)
	s := hostileServer(t, h.Addr(), "")
	const size = 200 << 20
	line := []byte(strings.Repeat(`hostile_padding{i="0123456789abcdef0123456789abcdef"} 1`+"\n", 1024))
	var cells []string
	var first, last *hostileRun
	var peak int64
	for _, announced := range []bool{true, false} {
		var sent atomic.Int64 // most bytes the target managed to write in one answer
		fault := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			if announced {
				w.Header().Set("Content-Length", fmt.Sprint(size))
			}
			var n int64
			for n < size {
				m, err := w.Write(line[:min(int64(len(line)), size-n)])
				n += int64(m)
				if err != nil {
					break
				}
			}
			for o := sent.Load(); n > o && !sent.CompareAndSwap(o, n); o = sent.Load() {
			}
		}
		r := &hostileRun{s: s, h: h, wantReason: "body_limit", hold: scale(3*time.Second, 30*time.Second)}
		r.do(t, fault)
		if first == nil {
			first = r
		}
		last = r
		if !strings.Contains(r.shown.LastError, "body_size_limit") {
			t.Errorf("last_error %q does not name body_size_limit", r.shown.LastError)
		}
		if got := sent.Load(); got >= size {
			t.Errorf("corral read the whole %d MiB body before giving up", got>>20)
		}
		if r.peak > r.before.RSS+100<<20 {
			t.Errorf("RSS peaked at %s from %s: the body limit does not bound memory", mib(r.peak), mib(r.before.RSS))
		}
		peak = max(peak, r.peak)
		what := "chunked"
		if announced {
			what = "with Content-Length"
		}
		cells = append(cells, fmt.Sprintf("%s: error after %s %q, online %s after; ≤ %d MiB of it sent before corral closed, RSS peak %s",
			what, since(r.tShown), clip(r.shown.LastError, 130), since(r.tBack), sent.Load()>>20, mib(r.peak)))
	}
	record(t, Row{
		Fault: "target answers a 200 MB body (body_size_limit 10MiB, the default), with Content-Length, then chunked",
		Shown: strings.Join(cells, "; "),
		Lost:  first.lostCell(),
		FDs:   fdsCell(first.before, last.after),
		RSS:   fmt.Sprintf("%s → %s (peak %s)", mib(first.before.RSS), mib(last.after.RSS), mib(peak)),
	})
}

// TestTargetHugeHeaders: a target that sends 50 MB of response headers. The
// HTTP client's header limit must stop it, with a reason that says so.
func TestTargetHugeHeaders(t *testing.T) {
	h := newHostileTarget(t)
	s := hostileServer(t, h.Addr(), "")
	const size = 50 << 20
	var sent atomic.Int64
	hdr := "X-Junk: " + strings.Repeat("j", 1000) + "\r\n"
	fault := h.raw(func(c net.Conn, rw *bufio.ReadWriter) {
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"); err != nil {
			return
		}
		chunk := []byte(strings.Repeat(hdr, 64))
		var n int64
		for n < size {
			m, err := c.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		if n >= size {
			io.WriteString(c, "\r\n"+goodBody)
		}
		for o := sent.Load(); n > o && !sent.CompareAndSwap(o, n); o = sent.Load() {
		}
	})
	r := &hostileRun{s: s, h: h, wantReason: "header_limit", hold: scale(3*time.Second, 30*time.Second)}
	r.do(t, fault)
	if got := sent.Load(); got >= size {
		t.Errorf("corral read all %d MiB of headers", got>>20)
	}
	if r.peak > r.before.RSS+120<<20 {
		t.Errorf("RSS peaked at %s from %s", mib(r.peak), mib(r.before.RSS))
	}
	record(t, Row{
		Fault: "target answers 50 MB of response headers",
		Shown: r.shownCell() + fmt.Sprintf("; at most %d MiB of headers was taken", sent.Load()>>20),
		Lost:  r.lostCell(),
		FDs:   fdsCell(r.before, r.after),
		RSS:   r.rssCell(),
	})
}

// TestTargetMalformed: bodies the parser must refuse, one after another; each
// shows as error with the parser's own reason (its line), while the last good
// scrape and the history are kept.
func TestTargetMalformed(t *testing.T) {
	h := newHostileTarget(t)
	s := hostileServer(t, h.Addr(), "")
	bodies := []struct {
		what, ctype, body, want string
	}{
		{"garbage", "text/plain; version=0.0.4", "\x00\x01garbage \xff{{{ not metrics\n", "line 1"},
		{"truncated line", "text/plain; version=0.0.4", goodBody + `hostile_cut{label="va`, "line 5"},
		{"duplicate series", "text/plain; version=0.0.4", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\nh_count 1\n", "duplicate sample"},
		{"NaN bucket bound", "text/plain; version=0.0.4", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\nh_sum 1\nh_count 1\n", "line 2"},
		{"NaN counter (OpenMetrics)", "application/openmetrics-text; version=1.0.0", "# TYPE c counter\nc_total NaN\n# EOF\n", "for counter c_total"},
	}
	s.WaitStatus("hostile", "online", 30*time.Second)
	time.Sleep(2 * time.Second)
	before := s.Usage()
	var shown []string
	t0 := time.Now()
	for _, b := range bodies {
		tb := time.Now()
		h.Set(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", b.ctype)
			io.WriteString(w, b.body)
		})
		d, _ := s.WaitCollector("hostile", 30*time.Second, "error (parse: "+b.want+")", func(d wire.CollectorDetail) bool {
			return d.Status == "error" && d.LastErrorReason == "parse" && strings.Contains(d.LastError, b.want)
		})
		shown = append(shown, fmt.Sprintf("%s: error after %s %q", b.what, since(time.Since(tb)), clip(strings.TrimPrefix(d.LastError, "parse: "), 120)))
		if code, m := apiText(s, "/api/v1/collectors/hostile/metrics"); code != http.StatusOK || !strings.Contains(m, `hostile_marker{phase="good"} 42`) {
			t.Errorf("%s: the last good scrape is gone: %d\n%.300s", b.what, code, m)
		}
	}
	tFault := time.Since(t0)
	h.Set(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, goodBody) })
	tb := time.Now()
	s.WaitCollector("hostile", 30*time.Second, "online again", func(d wire.CollectorDetail) bool { return d.Status == "online" && d.LastError == "" })
	tBack := time.Since(tb)
	waitHistory(t, s, "hostile", 20*time.Second, "unknown→online", "online→error", "error→online")
	time.Sleep(2 * time.Second)
	after := s.Usage()
	record(t, Row{
		Fault: "malformed exposition: garbage, a truncated last line, a duplicate series, NaN where not allowed (text and OpenMetrics)",
		Shown: strings.Join(shown, "; ") + fmt.Sprintf(" (all %d in %s); online %s after a good body", len(bodies), since(tFault), since(tBack)),
		Lost:  "nothing: the last good scrape was served all along, history online→error→online",
		FDs:   fdsCell(before, after),
		RSS:   rssCell(before, after),
	})
}

// TestTargetRedirectLoop: a target that redirects to itself. corral follows
// redirects as Prometheus does (follow_redirects defaults to true, at most 10)
// and then gives up with a reason that says so.
func TestTargetRedirectLoop(t *testing.T) {
	h := newHostileTarget(t)
	s := hostileServer(t, h.Addr(), "")
	var hops atomic.Int64
	fault := func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	}
	r := &hostileRun{s: s, h: h, wantReason: "redirects", hold: scale(3*time.Second, 30*time.Second)}
	r.do(t, fault)
	if !strings.Contains(r.shown.LastError, "stopped after 10 redirects") || !strings.Contains(r.shown.LastError, h.Addr()) {
		t.Errorf("last_error %q does not say the target redirected too often", r.shown.LastError)
	}
	failed, _ := metricValue(s.Metrics(), `corral_scrape_failures_total{reason="redirects"}`)
	if n := hops.Load(); failed < 2 || float64(n) > 11*(failed+1) {
		t.Errorf("%d requests for %.0f failed scrapes: more than 11 a scrape", n, failed)
	}
	record(t, Row{
		Fault: "target redirects to itself (follow_redirects: true, the default)",
		Shown: r.shownCell() + fmt.Sprintf("; %d requests for %.0f scrapes (11 each: the first and 10 redirects)", hops.Load(), failed),
		Lost:  r.lostCell(),
		FDs:   fdsCell(r.before, r.after),
		RSS:   r.rssCell(),
	})
}
