package faults

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// TestAgentKilled: an agent killed with SIGKILL shows as error with the scrape's
// failure at the next scrape, then offline once offline_after has passed; its
// history keeps both changes.
func TestAgentKilled(t *testing.T) {
	s := NewServer(t, ServerOptions{})
	a := StartAgent(t, s.Dir, "victim", "collector: {name: victim, kind: synthetic, interval: 1s}")
	s.WriteConfig(fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 800ms, thresholds: {offline_after: 10s}}
scrape_configs:
  - job_name: agents
    static_configs: [{targets: ['%s'], labels: {collector: victim}}]
`, a.Target()))
	s.Start()
	s.WaitStatus("victim", "online", 30*time.Second)
	before := s.Usage()

	killed := time.Now()
	a.Kill()
	errd, _ := s.WaitCollector("victim", 10*time.Second, "error", func(d wire.CollectorDetail) bool { return d.Status == "error" })
	tErr := time.Since(killed)
	s.WaitStatus("victim", "offline", 30*time.Second)
	tOff := time.Since(killed)
	waitHistory(t, s, "victim", 20*time.Second, "unknown→online", "online→error", "error→offline")
	record(t, Row{
		Fault: "agent killed (SIGKILL)",
		Shown: fmt.Sprintf("error %q after %s; offline after %s (offline_after 10s)", errd.Reason, since(tErr), since(tOff)),
		Lost:  "nothing: history online→error→offline stored",
		FDs:   fdsCell(before, s.Usage()),
		RSS:   rssCell(before, s.Usage()),
	})
}

// TestAgentStopped: an agent hung with SIGSTOP still accepts connections (the
// kernel does) but never answers: every scrape times out. corral shows error
// with reason timeout (not slow, not online), closes each timed-out
// connection, and shows online again once SIGCONT lets the agent answer.
func TestAgentStopped(t *testing.T) {
	s := NewServer(t, ServerOptions{})
	a := StartAgent(t, s.Dir, "hung", "collector: {name: hung, kind: synthetic, interval: 1s}")
	offline := scale(30*time.Second, 20*time.Second)
	s.WriteConfig(fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 800ms, thresholds: {offline_after: %s}}
scrape_configs:
  - job_name: agents
    static_configs: [{targets: ['%s'], labels: {collector: hung}}]
`, offline, a.Target()))
	s.Start()
	s.WaitCollector("hung", 30*time.Second, "online with items", func(d wire.CollectorDetail) bool {
		return d.Status == "online" && d.Items != nil && *d.Items > 0
	})
	time.Sleep(2 * time.Second)
	before := s.Usage()
	itemsBefore := 0.0
	if d, ok := s.Collector("hung"); ok && d.Items != nil {
		itemsBefore = *d.Items
	}

	// Small: stopped for less than offline_after (error throughout); full:
	// longer, so that it goes offline too.
	hold := scale(6*time.Second, 40*time.Second)
	stopped := time.Now()
	a.Signal(syscall.SIGSTOP)
	errd, tErr := s.WaitCollector("hung", 20*time.Second, "error (timeout)", func(d wire.CollectorDetail) bool {
		return d.Status == "error" && d.LastErrorReason == "timeout"
	})
	shown := fmt.Sprintf("error %q after %s", clip(errd.Reason, 160), since(tErr))
	want := []string{"unknown→online", "online→error"}
	if *full {
		_, tOff := s.WaitCollector("hung", hold+offline, "offline", func(d wire.CollectorDetail) bool { return d.Status == "offline" })
		shown += fmt.Sprintf("; offline after %s (offline_after %s)", since(tOff+tErr), offline)
		want = append(want, "error→offline", "offline→online")
	} else {
		for time.Since(stopped) < hold {
			if d, ok := s.Collector("hung"); ok && (d.Status != "error" || d.LastErrorReason != "timeout") {
				t.Fatalf("%v after SIGSTOP: status %q reason %q, want error (timeout) until offline_after", since(time.Since(stopped)), d.Status, d.Reason)
			}
			time.Sleep(250 * time.Millisecond)
		}
		want = append(want, "error→online")
	}
	for time.Since(stopped) < hold {
		time.Sleep(100 * time.Millisecond)
	}
	during := s.Usage()
	if during.FDs > before.FDs+3 {
		t.Errorf("fds %d → %d while the agent hung: timed-out scrapes leave connections open", before.FDs, during.FDs)
	}

	cont := time.Now()
	a.Signal(syscall.SIGCONT)
	_, tBack := s.WaitCollector("hung", 30*time.Second, "online after SIGCONT", func(d wire.CollectorDetail) bool {
		return d.Status == "online" && d.LastError == ""
	})
	_ = cont
	waitHistory(t, s, "hung", 20*time.Second, want...)
	d, _ := s.Collector("hung")
	if d.Items == nil || *d.Items < itemsBefore {
		t.Errorf("items %v after SIGCONT, %v before", d.Items, itemsBefore)
	}
	time.Sleep(2 * time.Second)
	after := s.Usage()
	if after.FDs > before.FDs+3 {
		t.Errorf("fds %d → %d", before.FDs, after.FDs)
	}
	record(t, Row{
		Fault: fmt.Sprintf("agent hung (SIGSTOP for %s, then SIGCONT; scrape_timeout 800ms)", hold),
		Shown: shown + fmt.Sprintf("; online %s after SIGCONT", since(tBack)),
		Lost:  fmt.Sprintf("nothing: history %s stored; the agent's item count went on (%.0f → %.0f)", strings.Join(want[1:], ", "), itemsBefore, *d.Items),
		FDs:   fdsCell(before, after) + fmt.Sprintf(" (%d while hung)", during.FDs),
		RSS:   rssCell(before, after),
	})
}
