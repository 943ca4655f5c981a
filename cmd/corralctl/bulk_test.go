package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// TestBulk: one live and one dead agent give a partial result with the right
// exit code; a dry run changes nothing; --at schedules, list shows it, cancel
// cancels it.
func TestBulk(t *testing.T) {
	f := newFleet(t)
	live := f.agent("live-1", "team: red")
	other := f.agent("live-2", "team: red")
	f.dead("dead-1", "team: red")
	f.start()
	ctx := context.Background()
	bulk := func(action string, o bulkActionCmd) (string, int) {
		if o.Output == "" {
			o.Output = "table"
		}
		return run(t, func(out *bytes.Buffer) error { return bulkAction(ctx, action, o, f.cfg, out) })
	}
	row := func(out, collector, result string) bool {
		return regexp.MustCompile(`(?m)^` + collector + `\s+` + result + `\s`).MatchString(out)
	}

	t.Run("dry run", func(t *testing.T) {
		out, code := bulk("stop", bulkActionCmd{Selector: `{team="red"}`, DryRun: true})
		if code != 0 || !row(out, "live-1", "would") || !row(out, "live-2", "would") || !row(out, "dead-1", "would") ||
			!strings.Contains(out, "dry run of stop on 3 collectors: 3 would go ahead, 0 would fail; nothing was changed") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if live.Paused() || other.Paused() {
			t.Error("a dry run paused an agent")
		}
		if out, _ := run(t, func(out *bytes.Buffer) error {
			return commands(ctx, commandsCmd{Limit: 10, Output: "json"}, f.cfg, out)
		}); strings.TrimSpace(out) != "[]" {
			t.Errorf("a dry run made commands: %s", out)
		}
		if out, _ := run(t, func(out *bytes.Buffer) error {
			return bulkList(ctx, bulkListCmd{Limit: 10, Output: "json"}, f.cfg, out)
		}); strings.TrimSpace(out) != "[]" {
			t.Errorf("a dry run was stored: %s", out)
		}
	})

	t.Run("one live, one dead", func(t *testing.T) {
		out, code := bulk("stop", bulkActionCmd{IDs: []string{"live-1", "dead-1"}, Reason: "window"})
		if code != 0 || !row(out, "live-1", "ok") || !row(out, "dead-1", "pending") ||
			!regexp.MustCompile(`bulk-[0-9a-f]+: stop on 2 collectors: 1 succeeded, 0 failed, 1 pending; pending commands are retried until they expire: corralctl commands --bulk bulk-`).MatchString(out) {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if !live.Paused() {
			t.Error("live-1 is not paused")
		}
		out, code = bulk("resume", bulkActionCmd{IDs: []string{"live-1", "nope"}})
		if code != 0 || !row(out, "live-1", "ok") || !row(out, "nope", "failed") || !strings.Contains(out, "1 succeeded, 1 failed, 0 pending — partial failure: 1 of 2 failed") {
			t.Errorf("partial failure: exit %d:\n%s", code, out)
		}
		out, code = bulk("resume", bulkActionCmd{IDs: []string{"nope-1", "nope-2"}})
		if code != 1 || !strings.Contains(out, "0 succeeded, 2 failed, 0 pending — every collector failed") {
			t.Errorf("all failed: exit %d:\n%s", code, out)
		}
	})

	t.Run("scheduled, listed, cancelled", func(t *testing.T) {
		out, code := bulk("restart", bulkActionCmd{Selector: `{team="red"}`, At: "+10m", Output: "json"})
		var res wire.BulkResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.State != "scheduled" || res.ScheduleAt == nil {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		out, code = run(t, func(out *bytes.Buffer) error {
			return bulkList(ctx, bulkListCmd{State: "scheduled", Limit: 10, Output: "table"}, f.cfg, out)
		})
		if code != 0 || !regexp.MustCompile(`(?m)^`+res.ID+`\s+restart\s+scheduled\s.*\{team="red"\}$`).MatchString(out) || strings.Count(out, "\n") != 2 {
			t.Errorf("list: exit %d:\n%s", code, out)
		}
		out, code = run(t, func(out *bytes.Buffer) error {
			return bulkShow(ctx, bulkIDCmd{ID: res.ID, Output: "table"}, f.cfg, out)
		})
		if code != 0 || !strings.HasPrefix(out, res.ID+": restart scheduled for ") {
			t.Errorf("show: exit %d: %q", code, out)
		}
		out, code = run(t, func(out *bytes.Buffer) error {
			return bulkCancel(ctx, bulkIDCmd{ID: res.ID, Output: "table"}, f.cfg, out)
		})
		if code != 0 || !strings.HasPrefix(out, res.ID+": restart cancelled (it was scheduled for ") {
			t.Errorf("cancel: exit %d: %q", code, out)
		}
		if _, code := run(t, func(out *bytes.Buffer) error { return bulkCancel(ctx, bulkIDCmd{ID: res.ID}, f.cfg, out) }); code != 1 {
			t.Errorf("cancel again: exit %d, want 1 (conflict)", code)
		}
		if _, code := run(t, func(out *bytes.Buffer) error { return bulkShow(ctx, bulkIDCmd{ID: "bulk-nope"}, f.cfg, out) }); code != 3 {
			t.Errorf("show unknown: exit %d", code)
		}
		out, _ = run(t, func(out *bytes.Buffer) error {
			return bulkList(ctx, bulkListCmd{State: "cancelled", Limit: 10, Output: "table"}, f.cfg, out)
		})
		if !strings.Contains(out, res.ID) {
			t.Errorf("not listed as cancelled:\n%s", out)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for name, o := range map[string]bulkActionCmd{
			"neither":           {},
			"both":              {IDs: []string{"a"}, Selector: "{}"},
			"at with dry run":   {IDs: []string{"a"}, DryRun: true, At: "+1m"},
			"at in the past":    {IDs: []string{"a"}, At: "-1m"},
			"param not JSON":    {IDs: []string{"a"}, Param: []string{"estimated_duration_minutes=thirty"}},
			"param no value":    {IDs: []string{"a"}, Param: []string{"reason"}},
			"selector (server)": {Selector: "{team="},
		} {
			if out, code := bulk("stop", o); code != 2 || out != "" {
				t.Errorf("%s: exit %d: %q", name, code, out)
			}
		}
	})
}
