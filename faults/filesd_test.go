package faults

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// sdMetric is the value of the series of name whose labels hold file.
func sdMetric(body, name, file string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, `file="`+file+`"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// sdFile is the file's row of GET /api/v1/sd-files.
func sdFile(t *testing.T, s *Server, path string) (wire.SDFile, bool) {
	t.Helper()
	var l wire.List[wire.SDFile]
	if code, err := s.Call("super", "GET", "/api/v1/sd-files", nil, &l); err != nil || code != http.StatusOK {
		return wire.SDFile{}, false
	}
	for _, f := range l.Data {
		if f.File == path {
			return f, true
		}
	}
	return wire.SDFile{}, false
}

// fleetStatus maps each collector of the server to its status.
func fleetStatus(s *Server) (map[string]string, bool) {
	var l wire.CollectorList
	code, err := s.Call("super", "GET", "/api/v1/collectors?limit=1000", nil, &l)
	if err != nil || code != http.StatusOK {
		return nil, false
	}
	out := make(map[string]string, len(l.Data))
	for _, c := range l.Data {
		out[c.ID] = c.Status
	}
	return out, true
}

// countLines counts the lines of a file that contain s.
func countLines(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), s)
}

// TestFileSDBroken: the file_sd file that lists the fleet is half-written,
// then cut to a null group, then garbage. corral keeps its last good targets (no collector
// lost, none off online for a moment), reports each error (the API's
// sd-files, corral_sd_file_error and _read_errors_total, one log line per new
// error, not one per re-read) and takes the file when it is whole again.
func TestFileSDBroken(t *testing.T) {
	n := scale(4, 50)
	s := NewServer(t, ServerOptions{})
	// One agent more than the file lists at first: the fixed file adds it.
	sim := StartSim(t, s.Dir, SimOptions{N: n + 1, Key: s.PublicKey, SDFile: filepath.Join(s.Dir, "simsd", "sim.yml")})
	sd := filepath.Join(s.Dir, "sd", "fleet.yml")
	content := func(k int) string {
		var b strings.Builder
		b.WriteString("# the fleet, written by the fault test\n")
		for i := range k {
			fmt.Fprintf(&b, "- targets: ['127.0.0.1:%d']\n  labels: {collector: 'fsd-%03d', team: 'faults'}\n", sim.BasePort+i, i)
		}
		return b.String()
	}
	good := content(n)
	writeFile(t, sd, good)
	s.WriteConfig(fmt.Sprintf(`global: {scrape_interval: 2s, scrape_timeout: 2s, thresholds: {offline_after: 10s}}
scrape_configs:
  - job_name: fleet
    file_sd_configs: [{files: ['%s'], refresh_interval: 1s}]
`, filepath.Join(s.Dir, "sd", "*.yml")))
	s.Start()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("fsd-%03d", i)
	}
	waitFleet := func(ids []string, within time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
			st, _ := fleetStatus(s)
			ok := true
			for _, id := range ids {
				ok = ok && st[id] == "online"
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not all of %d collectors online within %v: %v", len(ids), within, st)
			}
		}
	}
	waitFleet(ids, 60*time.Second)
	time.Sleep(2 * time.Second)
	before := s.Usage()

	// Watch the fleet all along: any collector not online, or gone, is a flap.
	var (
		mu     sync.Mutex
		flaps  []string
		polls  int
		stopCh = make(chan struct{})
		doneCh = make(chan struct{})
	)
	go func() {
		defer close(doneCh)
		for {
			select {
			case <-stopCh:
				return
			case <-time.After(250 * time.Millisecond):
			}
			st, ok := fleetStatus(s)
			if !ok {
				continue
			}
			mu.Lock()
			polls++
			for _, id := range ids {
				if st[id] != "online" && len(flaps) < 20 {
					flaps = append(flaps, fmt.Sprintf("%s %q", id, st[id]))
				}
			}
			mu.Unlock()
		}
	}()

	// Half-written: cut inside the quoted address of the middle entry, as a
	// writer that died mid-write leaves it (a cut at a line end would be a
	// valid, shorter list: see the file_sd docs on writing by rename).
	mid := strings.Index(good, fmt.Sprintf("'127.0.0.1:%d'", sim.BasePort+n/2))
	hold := scale(3*time.Second, 20*time.Second) // over two refresh_intervals: re-reads of the same bytes
	phases := []struct{ what, body, want string }{
		{"half-written", good[:mid+8], "yaml"},
		// An empty YAML file is a file with no targets, as in Prometheus; a
		// list cut to a lone dash is a null group, which Prometheus refuses.
		{"cut to a null group", "-\n", "null"},
		{"garbage", "\x00\xff{{ this is not: [yaml\n", "yaml"},
	}
	var shown []string
	var lastErr string
	errs0, _ := sdMetric(s.Metrics(), "corral_sd_file_read_errors_total", sd)
	for _, p := range phases {
		t0 := time.Now()
		writeFile(t, sd, p.body)
		var f wire.SDFile
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var ok bool
			if f, ok = sdFile(t, s, sd); ok && f.Error != "" && f.Error != lastErr && strings.Contains(strings.ToLower(f.Error), p.want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: sd-files shows no new error within 20s: %+v", p.what, f)
			}
		}
		tShown := time.Since(t0)
		lastErr = f.Error
		if f.Targets != n {
			t.Errorf("%s: sd-files says %d targets kept, want %d", p.what, f.Targets, n)
		}
		m := s.Metrics()
		if v, _ := sdMetric(m, "corral_sd_file_error", sd); v != 1 {
			t.Errorf("%s: corral_sd_file_error %v, want 1", p.what, v)
		}
		if v, _ := sdMetric(m, "corral_sd_file_targets", sd); v != float64(n) {
			t.Errorf("%s: corral_sd_file_targets %v, want %d", p.what, v, n)
		}
		time.Sleep(hold)
		shown = append(shown, fmt.Sprintf("%s: sd-files error after %s %q", p.what, since(tShown), clip(f.Error, 110)))
	}
	errs1, _ := sdMetric(s.Metrics(), "corral_sd_file_read_errors_total", sd)
	if errs1-errs0 < float64(len(phases)) {
		t.Errorf("corral_sd_file_read_errors_total went %v → %v over %d broken writes", errs0, errs1, len(phases))
	}
	if got := countLines(t, s.Proc.Log, "file_sd file unreadable"); got != len(phases) {
		t.Errorf("%d log lines for %d new errors (re-reads of the same bytes must not log again)", got, len(phases))
	}

	// Fixed, with one collector more.
	t0 := time.Now()
	writeFile(t, sd, content(n+1))
	waitFleet(append(append([]string(nil), ids...), fmt.Sprintf("fsd-%03d", n)), 30*time.Second)
	tFixed := time.Since(t0)
	close(stopCh)
	<-doneCh
	if f, _ := sdFile(t, s, sd); f.Error != "" || f.Targets != n+1 {
		t.Errorf("after the fix: sd-files %+v", f)
	}
	if v, _ := sdMetric(s.Metrics(), "corral_sd_file_error", sd); v != 0 {
		t.Errorf("corral_sd_file_error %v after the fix", v)
	}
	if got := countLines(t, s.Proc.Log, "file_sd file readable again"); got != 1 {
		t.Errorf("%d 'readable again' log lines, want 1", got)
	}
	mu.Lock()
	if len(flaps) > 0 || polls < 5 {
		t.Errorf("collectors off online while the file was broken (%d polls): %v", polls, flaps)
	}
	mu.Unlock()
	for _, id := range ids[:min(len(ids), 5)] {
		if h := historyOf(t, s, id); len(h) != 1 {
			t.Errorf("history of %s: %v, want only unknown→online", id, h)
		}
	}
	time.Sleep(2 * time.Second)
	after := s.Usage()
	record(t, Row{
		Fault: fmt.Sprintf("file_sd file of %d targets half-written, then cut to a null group, then garbage (%v each), then fixed with one target more", n, hold),
		Shown: strings.Join(shown, "; ") + fmt.Sprintf("; corral_sd_file_error 1, read_errors_total +%.0f, one log line per new error; all %d collectors online throughout (%d polls); the fixed file's new target online %s after it was written", errs1-errs0, n, polls, since(tFixed)),
		Lost:  "nothing: every target kept, no collector ever off online, histories only unknown→online",
		FDs:   fdsCell(before, after),
		RSS:   rssCell(before, after),
	})
}

// TestTargetDNS: a file_sd target whose host does not resolve
// (nonexistent.invalid, reserved never to exist) shows its DNS failure as the
// reason, first while not reached yet, then offline, while the file's other
// target stays online.
func TestTargetDNS(t *testing.T) {
	h := newHostileTarget(t)
	s := NewServer(t, ServerOptions{})
	sd := filepath.Join(s.Dir, "sd", "dns.yml")
	writeFile(t, sd, fmt.Sprintf("- targets: ['%s']\n  labels: {collector: good}\n- targets: ['nonexistent.invalid:9100']\n  labels: {collector: nxdomain}\n", h.Addr()))
	s.WriteConfig(fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, thresholds: {offline_after: 5s}}
scrape_configs:
  - job_name: dns
    file_sd_configs: [{files: ['%s']}]
`, sd))
	t0 := time.Now()
	s.Start()
	before := s.Usage()
	unk, _ := s.WaitCollector("nxdomain", 30*time.Second, "not reached (dns)", func(d wire.CollectorDetail) bool {
		return d.LastErrorReason == "dns"
	})
	tUnk := time.Since(t0)
	if !strings.Contains(unk.Reason, "dns") || !strings.Contains(unk.LastError, "nonexistent.invalid") {
		t.Errorf("reason %q (last_error %q) does not say DNS and the host", unk.Reason, unk.LastError)
	}
	off, _ := s.WaitStatus("nxdomain", "offline", 40*time.Second)
	tOff := time.Since(t0)
	if !strings.Contains(off.Reason, "dns") || !strings.Contains(off.Reason, "nonexistent.invalid") {
		t.Errorf("offline reason %q does not say DNS and the host", off.Reason)
	}
	if d, _ := s.Collector("good"); d.Status != "online" {
		t.Errorf("the file's good target: %q (%s)", d.Status, d.Reason)
	}
	if f, _ := sdFile(t, s, sd); f.Error != "" || f.Targets != 2 {
		t.Errorf("sd-files: %+v: the unresolvable target is a scrape failure, not a file error", f)
	}
	waitHistory(t, s, "nxdomain", 20*time.Second, "unknown→offline")
	after := s.Usage()
	record(t, Row{
		Fault: "file_sd target nonexistent.invalid:9100 (DNS fails), beside a good one",
		Shown: fmt.Sprintf("%s %q after %s; offline %q after %s (offline_after 5s); the good target online", unk.Status, clip(unk.Reason, 140), since(tUnk), clip(off.Reason, 140), since(tOff)),
		Lost:  "nothing: the target is kept and listed, history unknown→offline; the other target unaffected",
		FDs:   fdsCell(before, after),
		RSS:   rssCell(before, after),
	})
	_ = tUnk
}
