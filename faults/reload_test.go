package faults

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// TestReloadUnderLoad: ten SIGHUPs to a server scraping a simulated fleet,
// each with the job's scrape_interval and sample_limit changed (so every
// reload replaces the job's HTTP client and restarts every loop, the case that
// leaked a connection per target per reload). All collectors stay online; once
// things settle corral holds as many files as before (one connection per
// target) and its memory has not grown by more than a fifth.
func TestReloadUnderLoad(t *testing.T) {
	n := scale(200, 1000)
	const reloads = 10
	s := NewServer(t, ServerOptions{})
	sim := StartSim(t, s.Dir, SimOptions{N: n, Key: s.PublicKey, Series: 5})
	// Prometheus-like intervals at full size (1,000 targets on a 2-core
	// machine that runs other tests too); shorter ones for make test.
	interval, timeout := scale(2, 10), scale(2, 8)
	config := func(i int) string {
		return fmt.Sprintf(`global: {scrape_interval: %ds, scrape_timeout: %ds}
scrape_configs:
  - job_name: sim
    sample_limit: %d
    file_sd_configs: [{files: ['%s']}]
`, interval+i%2, timeout, 10000+i, filepath.Join(filepath.Dir(sim.SDFile), "*.yml"))
	}
	s.WriteConfig(config(0))
	s.Start()
	online := func() (int, map[string]int, bool) {
		var l wire.CollectorList
		code, err := s.Call("super", "GET", "/api/v1/collectors?limit=1", nil, &l)
		if err != nil || code != http.StatusOK {
			return 0, nil, false
		}
		return l.Summary.ByStatus["online"], l.Summary.ByStatus, true
	}
	for deadline := time.Now().Add(scale(90*time.Second, 180*time.Second)); ; time.Sleep(500 * time.Millisecond) {
		on, by, _ := online()
		if on == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d online at start: %v", on, n, by)
		}
	}
	settle := time.Duration(interval+1)*time.Second + scale(2*time.Second, 10*time.Second) // a scrape of every loop, and then some
	time.Sleep(settle)
	before := s.Usage()

	t0 := time.Now()
	var (
		mu       sync.Mutex
		minOn    = n
		offs     = map[string]int{}
		polls    int
		reasons  []string
		stop     = make(chan struct{})
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			on, by, ok := online()
			if !ok {
				continue
			}
			var sample string
			if on < n {
				var bad wire.CollectorList
				if code, err := s.Call("super", "GET", "/api/v1/collectors?limit=2&status=error&status=slow&status=unknown&status=offline", nil, &bad); err == nil && code == http.StatusOK {
					for _, c := range bad.Data {
						sample += fmt.Sprintf("[%s %s: %s] ", c.ID, c.Status, clip(c.Reason, 200))
					}
				}
			}
			mu.Lock()
			polls++
			if sample != "" && len(reasons) < 8 {
				reasons = append(reasons, fmt.Sprintf("%s: %d online; %s", since(time.Since(t0)), on, sample))
			}
			if on < minOn {
				minOn = on
				for st, c := range by {
					if st != "online" {
						offs[st] = max(offs[st], c)
					}
				}
			}
			mu.Unlock()
		}
	}()

	peak := before
	var lastReload time.Time
	for i := 1; i <= reloads; i++ {
		was, _ := metricValue(s.Metrics(), "corral_config_last_reload_success_timestamp_seconds")
		s.WriteConfig(config(i))
		s.Proc.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			m := s.Metrics()
			at, _ := metricValue(m, "corral_config_last_reload_success_timestamp_seconds")
			okv, _ := metricValue(m, "corral_config_last_reload_successful")
			if at != was && okv == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reload %d not applied within 30s (successful %v)", i, okv)
			}
		}
		lastReload = time.Now()
		time.Sleep(scale(2*time.Second, 6*time.Second)) // part of the targets scraped with the new config
		u := s.Usage()
		peak.FDs, peak.RSS = max(peak.FDs, u.FDs), max(peak.RSS, u.RSS)
	}
	tReloads := time.Since(t0)
	// Let the restarted loops' first scrapes pass and the garbage collector
	// return what it can.
	time.Sleep(settle)
	close(stop)
	<-finished
	after := s.Usage()

	if on, by, _ := online(); on != n {
		t.Errorf("%d of %d online after the reloads: %v", on, n, by)
	}
	// Every loop scrapes again since the last reload: none was left stopped.
	var l wire.CollectorList
	if code, err := s.Call("super", "GET", "/api/v1/collectors?limit=1000", nil, &l); err != nil || code != http.StatusOK {
		t.Fatalf("collectors: %d %v", code, err)
	}
	stale := 0
	for _, c := range l.Data {
		if c.LastSeen == nil || c.LastSeen.Before(lastReload) {
			stale++
		}
	}
	if len(l.Data) != n || stale > 0 {
		t.Errorf("%d collectors listed, %d not scraped since the last reload", len(l.Data), stale)
	}
	mu.Lock()
	if minOn < n {
		var st []string
		for k, v := range offs {
			st = append(st, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(st)
		t.Errorf("during the reloads as few as %d of %d online (%s) over %d polls; for instance:\n%s", minOn, n, strings.Join(st, ", "), polls, strings.Join(reasons, "\n"))
	}
	mu.Unlock()
	if slack := n/20 + 10; after.FDs > before.FDs+slack {
		t.Errorf("fds %d → %d after %d reloads (allowed +%d): connections of replaced clients stay open", before.FDs, after.FDs, reloads, slack)
	}
	if after.RSS > before.RSS*12/10 {
		t.Errorf("RSS %s → %s after %d reloads: more than 20%% growth", mib(before.RSS), mib(after.RSS), reloads)
	}
	if v, _ := metricValue(s.Metrics(), "corral_scrape_loops"); int(v) != n {
		t.Errorf("corral_scrape_loops %v, want %d", v, n)
	}
	record(t, Row{
		Fault: fmt.Sprintf("config reload ×%d (SIGHUP, scrape_interval and sample_limit changed each time) under %d targets", reloads, n),
		Shown: fmt.Sprintf("every reload applied (corral_config_last_reload_successful 1), %d reloads in %s; all %d collectors online throughout (%d polls); fds peaked at %d, RSS at %s", reloads, since(tReloads), n, polls, peak.FDs, mib(peak.RSS)),
		Lost:  fmt.Sprintf("nothing: %d of %d collectors and scrape loops kept", n, n),
		FDs:   fdsCell(before, after),
		RSS:   rssCell(before, after),
	})

}
