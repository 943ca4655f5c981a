package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter/agent"
)

// TestRegisterUnregisterReregister: register writes an agent config that
// corral-agent accepts and runs, and the server scrapes that agent;
// unregister wants --yes off a terminal; archived lists it; reregister brings
// it back.
func TestRegisterUnregisterReregister(t *testing.T) {
	f := newFleet(t)
	f.agent("live-1", "")
	f.start()
	ctx := context.Background()
	addr := freeAddr(t)
	cfgFile := filepath.Join(t.TempDir(), "reg-1.yml")

	reg := registerCmd{Name: "reg-1", URL: "http://" + addr + "/metrics", Label: []string{"env=test"}, Threshold: []string{"offline_after=5m"},
		AgentConfig: cfgFile, Output: "text"}
	out, code := run(t, func(out *bytes.Buffer) error { return register(ctx, reg, f.cfg, out) })
	if code != 0 || !strings.HasPrefix(out, "registered reg-1 (org default) at http://"+addr+"/metrics") ||
		!regexp.MustCompile(`(?m)^scrape token: corral_scrape_\S+$`).MatchString(out) || !strings.Contains(out, "WARNING: the token is shown this once") ||
		!strings.Contains(out, "agent config written to "+cfgFile+" (mode 0600)") {
		t.Fatalf("register: exit %d:\n%s", code, out)
	}
	if st, err := os.Stat(cfgFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("agent config: %v %v", st.Mode(), err)
	}
	cfg, err := agent.LoadConfig(cfgFile) // what corral-agent check config does
	if err != nil {
		t.Fatalf("corral-agent refuses the agent config: %v", err)
	}
	if cfg.Collector.Name != "reg-1" || cfg.Listen.Address != ":"+strings.Split(addr, ":")[1] || cfg.Listen.MetricsTokenSHA256 == "" {
		t.Errorf("agent config: %+v", cfg)
	}

	t.Run("the file exists", func(t *testing.T) {
		// Refused before the server is asked: reg-2 is not registered.
		o := reg
		o.Name = "reg-2"
		out, code := run(t, func(out *bytes.Buffer) error { return register(ctx, o, f.cfg, out) })
		if code != 2 || out != "" {
			t.Errorf("exit %d: %q", code, out)
		}
		o.AgentConfig = "" // the name is still free
		if _, code := run(t, func(out *bytes.Buffer) error { return register(ctx, o, f.cfg, out) }); code != 0 {
			t.Errorf("reg-2 without the file: exit %d", code)
		}
		for _, o := range []registerCmd{{Name: "x", URL: "localhost:9100"}, {Name: "x", URL: "http://h:1", Team: "a"}, {Name: "x", URL: "http://h:1", Label: []string{"novalue"}}} {
			if _, code := run(t, func(out *bytes.Buffer) error { return register(ctx, o, f.cfg, out) }); code != 2 {
				t.Errorf("%+v: exit %d", o, code)
			}
		}
	})

	// The agent of that config, run as corral-agent runs it, is scraped with
	// the token and obeys the server's key.
	actx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(actx, agent.Options{ConfigPath: cfgFile, Stderr: &bytes.Buffer{}}) }()
	t.Cleanup(func() { stopAgent(); <-agentDone })
	f.waitStatus(map[string]string{"reg-1": "online"})
	if out, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "collect", actionFlags{ID: "reg-1", Wait: "confirmed", Output: "text"}, nil, f.cfg, out)
	}); code != 0 || !strings.Contains(out, "collect confirmed") {
		t.Errorf("collect on the registered agent: exit %d: %q", code, out)
	}
	// Its scrape token rotated: the server keeps scraping it, without a failure.
	rot := rotateCredentialsCmd{actionFlags: actionFlags{ID: "reg-1", Wait: "confirmed", Output: "text"}, ScrapeToken: true}
	if out, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "rotate-credentials", rot.actionFlags, rot.params, f.cfg, out)
	}); code != 0 ||
		!strings.Contains(out, "rotate_credentials") {
		t.Errorf("rotate the scrape token: exit %d: %q", code, out)
	}
	if out, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "collect", actionFlags{ID: "reg-1", Wait: "confirmed", Output: "text"}, nil, f.cfg, out)
	}); code != 0 {
		t.Errorf("collect after the token rotation: exit %d: %q", code, out)
	}

	unreg := unregisterCmd{ID: "reg-1", Reason: "decommissioned", RetentionDays: 7, Output: "text"}
	t.Run("unregister asks", func(t *testing.T) {
		var prompt bytes.Buffer
		out, code := run(t, func(out *bytes.Buffer) error { return unregister(ctx, unreg, f.cfg, nil, &prompt, out) })
		if code != 2 || out != "" {
			t.Errorf("off a terminal without --yes: exit %d: %q", code, out)
		}
		// The same from the binary, its stdin /dev/null (a character device, not a terminal).
		if _, stderr, code := corralctl(t, "--config", f.cfg, "unregister", "reg-1"); code != 2 || !strings.Contains(stderr, "pass --yes") {
			t.Errorf("corralctl unregister < /dev/null: exit %d: %s", code, stderr)
		}
		out, code = run(t, func(out *bytes.Buffer) error {
			return unregister(ctx, unreg, f.cfg, strings.NewReader("n\n"), &prompt, out)
		})
		if code != 0 || out != "not unregistered\n" || !strings.Contains(prompt.String(), "Unregister reg-1? corral stops scraping it and archives its data for 7 days. [y/N]") {
			t.Errorf("answered no: exit %d: %q, asked %q", code, out, prompt.String())
		}
		bad := unreg
		bad.Delete = true
		if _, code := run(t, func(out *bytes.Buffer) error { return unregister(ctx, bad, f.cfg, nil, &prompt, out) }); code != 2 {
			t.Errorf("--delete with --retention-days: exit %d", code)
		}
		if f.status("reg-1") == "" {
			t.Fatal("reg-1 is gone after no")
		}
	})

	out, code = run(t, func(out *bytes.Buffer) error {
		return unregister(ctx, unreg, f.cfg, strings.NewReader("y\n"), &bytes.Buffer{}, out)
	})
	m := regexp.MustCompile(`^reg-1: unregistered; \d+ records archived until \S+ \(archive (arc-[0-9a-f]+);`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("unregister: exit %d: %q", code, out)
	}
	regArchive := m[1]
	// A file_sd or static collector is ignored while its file still lists it.
	out, code = run(t, func(out *bytes.Buffer) error {
		return unregister(ctx, unregisterCmd{ID: "live-1", Delete: true, Yes: true, Output: "text"}, f.cfg, nil, nil, out)
	})
	m = regexp.MustCompile(`^live-1: unregistered; \d+ records deleted; static still lists it.*\(archive (arc-[0-9a-f]+);`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("unregister live-1: exit %d: %q", code, out)
	}
	liveArchive := m[1]
	if _, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "stop", actionFlags{ID: "reg-1", Wait: "ack"}, nil, f.cfg, out)
	}); code != 3 {
		t.Errorf("stop an unregistered collector: exit %d, want 3 (410)", code)
	}

	waitFor(t, 10*time.Second, "archived lists both, live-1 still discovered", func() bool {
		out, code = run(t, func(out *bytes.Buffer) error { return archived(ctx, archivedCmd{Output: "table"}, f.cfg, out) })
		return code == 0 &&
			regexp.MustCompile(`(?m)^`+regArchive+`\s+reg-1\s+registry\s+\S+ \S+\s+admin\s+\d+\s+\S+ \S+\s+no\s+decommissioned$`).MatchString(out) &&
			regexp.MustCompile(`(?m)^`+liveArchive+`\s+live-1\s+static\s+\S+ \S+\s+admin\s+deleted\s+purged \S+ \S+\s+yes\s*$`).MatchString(out)
	})

	t.Run("reregister", func(t *testing.T) {
		o := reregisterCmd{ArchiveID: regArchive, KeepToken: true, AgentConfig: cfgFile, Output: "text"}
		if _, code := run(t, func(out *bytes.Buffer) error { return reregister(ctx, o, f.cfg, out) }); code != 2 {
			t.Errorf("--keep-token with --agent-config: exit %d", code)
		}
		// Keep the token: the running agent is scraped again as it is.
		o.AgentConfig = ""
		out, code := run(t, func(out *bytes.Buffer) error { return reregister(ctx, o, f.cfg, out) })
		if code != 0 || !strings.HasPrefix(out, "re-registered reg-1 from "+regArchive+" with its history restored") ||
			!strings.Contains(out, "note: kept the archived scrape token") || strings.Contains(out, "scrape token:") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		out, code = run(t, func(out *bytes.Buffer) error {
			return reregister(ctx, reregisterCmd{ArchiveID: liveArchive, Output: "text"}, f.cfg, out)
		})
		if code != 0 || !strings.Contains(out, "with an empty history (the archived data was deleted)") {
			t.Errorf("live-1: exit %d:\n%s", code, out)
		}
		f.waitStatus(map[string]string{"reg-1": "online", "live-1": "online"})
		if out, _ := run(t, func(out *bytes.Buffer) error { return archived(ctx, archivedCmd{Output: "table"}, f.cfg, out) }); strings.Count(out, "\n") != 1 {
			t.Errorf("archived after reregister:\n%s", out)
		}
		if _, code := run(t, func(out *bytes.Buffer) error {
			return reregister(ctx, reregisterCmd{ArchiveID: regArchive}, f.cfg, out)
		}); code != 1 {
			t.Errorf("twice: exit %d, want 1 (conflict)", code)
		}
	})
}
