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
	config := func(i int) string {
		return fmt.Sprintf(`global: {scrape_interval: %ds, scrape_timeout: 2s}
scrape_configs:
  - job_name: sim
    sample_limit: %d
    file_sd_configs: [{files: ['%s']}]
`, 3+i%2, 10000+i, filepath.Join(filepath.Dir(sim.SDFile), "*.yml"))
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
	settle := scale(10*time.Second, 20*time.Second)
	time.Sleep(settle)
	before := s.Usage()

	var (
		mu       sync.Mutex
		minOn    = n
		offs     = map[string]int{}
		polls    int
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
			mu.Lock()
			polls++
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
	t0 := time.Now()
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
		time.Sleep(scale(3*time.Second, 5*time.Second)) // a scrape or so of every target with the new config
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
	mu.Lock()
	if minOn < n {
		var st []string
		for k, v := range offs {
			st = append(st, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(st)
		t.Errorf("during the reloads as few as %d of %d online (%s) over %d polls", minOn, n, strings.Join(st, ", "), polls)
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
