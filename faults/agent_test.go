package faults

import (
	"fmt"
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
	_ = syscall.SIGKILL
	record(t, Row{
		Fault: "agent killed (SIGKILL)",
		Shown: fmt.Sprintf("error %q after %s; offline after %s (offline_after 10s)", errd.Reason, since(tErr), since(tOff)),
		Lost:  "nothing (no acknowledged data at stake)",
		FDs:   fdsCell(before, s.Usage()),
		RSS:   rssCell(before, s.Usage()),
	})
}
