package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

var cmdIDRE = regexp.MustCompile(`\(?(cmd-[0-9a-f]+)`)

// cmdID is the command id a line names.
func cmdID(t *testing.T, line string) string {
	t.Helper()
	m := cmdIDRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no command id in %q", line)
	}
	return m[1]
}

// TestActions: the actions on one collector, through the server to a real
// agent, and what corralctl prints and exits with.
func TestActions(t *testing.T) {
	f := newFleet(t)
	live := f.agent("live-1", "team: red")
	f.start()
	ctx := context.Background()
	actOn := func(action string, o actionFlags, params func(time.Time) (actionParams, error)) (string, int) {
		if o.Wait == "" {
			o.Wait = "ack"
		}
		if o.Output == "" {
			o.Output = "text"
		}
		return run(t, func(out *bytes.Buffer) error { return act(ctx, action, o, params, f.cfg, out) })
	}

	t.Run("stop confirmed", func(t *testing.T) {
		stop := stopCmd{actionFlags: actionFlags{ID: "live-1", Reason: "maintenance", Wait: "confirmed"}, Duration: 90 * time.Second}
		out, code := actOn("stop", stop.actionFlags, stop.params)
		if code != 0 || !regexp.MustCompile(`^live-1: pause confirmed \(cmd-[0-9a-f]+, 1 attempt\)\n$`).MatchString(out) {
			t.Fatalf("exit %d: %q", code, out)
		}
		if !live.Paused() {
			t.Errorf("the agent is %s, want paused", live.State())
		}
		out, code = run(t, func(out *bytes.Buffer) error {
			return scrapeNow(ctx, scrapeCmd{ID: "live-1", Output: "text"}, f.cfg, out)
		})
		if code != 0 || !strings.HasPrefix(out, "live-1: up in ") || !strings.Contains(out, "agent paused") {
			t.Errorf("scrape: exit %d: %q", code, out)
		}
	})

	t.Run("resume as json", func(t *testing.T) {
		out, code := actOn("resume", actionFlags{ID: "live-1", Output: "json"}, nil)
		var res wire.CommandResponse
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Command == nil || res.Command.Command != "resume" ||
			(res.Command.State != "acknowledged" && res.Command.State != "confirmed") {
			t.Fatalf("exit %d: %s", code, out)
		}
		waitFor(t, 5*time.Second, "the agent resumed", func() bool { return !live.Paused() })
	})

	t.Run("update-config", func(t *testing.T) {
		uc := updateConfigCmd{actionFlags: actionFlags{ID: "live-1"}, Tag: []string{"b", "a"}, Group: new(string)}
		*uc.Group = "blue"
		out, code := actOn("update-config", uc.actionFlags, uc.params)
		if code != 0 || out != "live-1: update-config applied by the server (tags a,b, group blue)\n" {
			t.Errorf("server-only: exit %d: %q", code, out)
		}
		uc = updateConfigCmd{actionFlags: actionFlags{ID: "live-1", Wait: "confirmed"}, Interval: time.Second, Set: []string{`rate=20`}}
		out, code = actOn("update-config", uc.actionFlags, uc.params)
		if code != 0 || !strings.HasPrefix(out, "live-1: update_config confirmed (cmd-") {
			t.Errorf("to the agent: exit %d: %q", code, out)
		}
		// The agent refuses a key it does not know: exit 1 with its reason.
		uc = updateConfigCmd{actionFlags: actionFlags{ID: "live-1"}, Set: []string{`no_such_key=1`}}
		out, code = actOn("update-config", uc.actionFlags, uc.params)
		if code != 1 || !strings.Contains(out, "update_config failed (cmd-") || !strings.Contains(out, `unknown config key "no_such_key"`) {
			t.Errorf("refused: exit %d: %q", code, out)
		}
	})

	t.Run("backfill watched", func(t *testing.T) {
		bf := backfillCmd{actionFlags: actionFlags{ID: "live-1"}, From: "-5h", To: "-1h"}
		out, code := actOn("backfill", bf.actionFlags, bf.params)
		if code != 0 || !strings.Contains(out, "backfill acknowledged") || !strings.Contains(out, "--watch") {
			t.Fatalf("exit %d: %q", code, out)
		}
		id := cmdID(t, out)
		out, code = run(t, func(out *bytes.Buffer) error {
			return command(ctx, commandCmd{ID: id, Watch: true, Output: "text"}, f.cfg, out, 100*time.Millisecond)
		})
		if code != 0 || !regexp.MustCompile(`(?m)^action:\s+backfill$`).MatchString(out) || !strings.Contains(out, "confirmed, 1 attempt, 100% done") {
			t.Errorf("watch: exit %d:\n%s", code, out)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name, action, flag string
			o                  actionFlags
			params             func(time.Time) (actionParams, error)
		}{
			{"timeout", "stop", "--timeout", actionFlags{ID: "live-1", Timeout: 3 * time.Minute}, nil},
			{"from after to", "backfill", "--from", actionFlags{ID: "live-1"}, backfillCmd{From: "-1h", To: "-2h"}.params},
			{"to in the future", "backfill", "--to", actionFlags{ID: "live-1"}, backfillCmd{From: "-1h", To: "+1h"}.params},
			{"not a time", "backfill", "--from", actionFlags{ID: "live-1"}, backfillCmd{From: "yesterday", To: "now"}.params},
			{"duration", "stop", "--duration", actionFlags{ID: "live-1"}, stopCmd{Duration: 800 * time.Hour}.params},
			{"nothing to change", "update-config", "nothing", actionFlags{ID: "live-1"}, updateConfigCmd{}.params},
			{"not JSON", "update-config", "--set", actionFlags{ID: "live-1"}, updateConfigCmd{Set: []string{"db=orders"}}.params},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var out bytes.Buffer
				err := act(ctx, tc.action, tc.o, tc.params, f.cfg, &out)
				if exitCode(err) != 2 || !strings.Contains(err.Error(), tc.flag) || out.Len() > 0 {
					t.Errorf("%v (exit %d), printed %q", err, exitCode(err), out.String())
				}
			})
		}
		// The server's own checks: an unknown collector is exit 3.
		if _, code := actOn("stop", actionFlags{ID: "nope"}, nil); code != 3 {
			t.Errorf("unknown collector: exit %d", code)
		}
	})
}

// TestCommandToADeadAgent: the agent does not answer; the command is pending
// (exit 0, and the line says so), retried, and corralctl command shows it.
func TestCommandToADeadAgent(t *testing.T) {
	f := newFleet(t)
	f.dead("dead-1", "")
	f.start()
	ctx := context.Background()
	out, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "stop", actionFlags{ID: "dead-1", Wait: "ack", Timeout: time.Second, Output: "text"}, nil, f.cfg, out)
	})
	if code != 0 || !regexp.MustCompile(`^dead-1: pause queued, not acknowledged yet \(retrying: .*refused.*\); follow with corralctl command cmd-[0-9a-f]+\n$`).MatchString(out) {
		t.Fatalf("exit %d: %q", code, out)
	}
	id := cmdID(t, out)
	var shown string
	waitFor(t, 10*time.Second, "a second attempt", func() bool {
		shown, code = run(t, func(out *bytes.Buffer) error {
			return command(ctx, commandCmd{ID: id, Output: "text"}, f.cfg, out, time.Second)
		})
		return code == 0 && regexp.MustCompile(`(?m)^attempts:\s+[2-9]`).MatchString(shown)
	})
	for _, want := range []string{`command:\s+` + id, `collector:\s+dead-1`, `state:\s+pending`, `error:\s+.*refused`, `next attempt:\s+\d`, `by:\s+admin \(token\)`} {
		if !regexp.MustCompile(`(?m)^` + want).MatchString(shown) {
			t.Errorf("no %s in\n%s", want, shown)
		}
	}
	out, code = run(t, func(out *bytes.Buffer) error {
		return commands(ctx, commandsCmd{Collector: "dead-1", State: "pending", Limit: 10, Output: "table"}, f.cfg, out)
	})
	if code != 0 || !strings.HasPrefix(out, "COMMAND ") || !strings.Contains(out, id) || !strings.Contains(out, " pause ") {
		t.Errorf("commands: exit %d:\n%s", code, out)
	}
	if _, code := run(t, func(out *bytes.Buffer) error {
		return command(ctx, commandCmd{ID: "cmd-nope", Output: "text"}, f.cfg, out, time.Second)
	}); code != 3 {
		t.Errorf("unknown command: exit %d", code)
	}
	if _, code := run(t, func(out *bytes.Buffer) error { return commands(ctx, commandsCmd{Limit: 0}, f.cfg, out) }); code != 2 {
		t.Errorf("--limit 0: exit %d", code)
	}
}
