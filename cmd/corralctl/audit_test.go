package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// TestAudit: the trail lists what the test did; csv and json are the
// server's exports, as they come.
func TestAudit(t *testing.T) {
	f := newFleet(t)
	f.agent("live-1", "")
	f.start()
	ctx := context.Background()
	for _, action := range []string{"stop", "resume"} {
		if _, code := run(t, func(out *bytes.Buffer) error {
			return act(ctx, action, actionFlags{ID: "live-1", Reason: "audit " + action, Wait: "confirmed"}, nil, f.cfg, out)
		}); code != 0 {
			t.Fatalf("%s: exit %d", action, code)
		}
	}
	if _, code := run(t, func(out *bytes.Buffer) error { return scrapeNow(ctx, scrapeCmd{ID: "live-1"}, f.cfg, out) }); code != 0 {
		t.Fatalf("scrape: exit %d", code)
	}
	trail := func(o auditCmd) (string, int) {
		if o.Limit == 0 {
			o.Limit = 100
		}
		return run(t, func(out *bytes.Buffer) error { return audit(ctx, o, f.cfg, out) })
	}

	out, code := trail(auditCmd{Collector: "live-1", Since: "-5m", Output: "table"})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for i, want := range []string{`admin\s+scrape\s+live-1\s+ok\s+-`, `admin\s+resume\s+live-1\s+confirmed\s+cmd-\S+\s+audit resume$`, `admin\s+stop\s+live-1\s+confirmed\s+cmd-\S+\s+audit stop$`} {
		if !regexp.MustCompile(want).MatchString(lines[i+1]) {
			t.Errorf("row %d: %q, want %s", i+1, lines[i+1], want)
		}
	}
	if out, _ := trail(auditCmd{Collector: "live-1", Limit: 1, Output: "table"}); !strings.HasSuffix(out, "(1 of 3; --limit for more, -o csv for all)\n") {
		t.Errorf("--limit 1:\n%s", out)
	}
	if out, _ := trail(auditCmd{Since: "+1h", Output: "table"}); strings.Count(out, "\n") != 1 {
		t.Errorf("--since=+1h:\n%s", out)
	}

	out, code = trail(auditCmd{Collector: "live-1", Output: "csv"})
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 4 || rows[0][0] != "id" || rows[0][6] != "action" || rows[1][6] != "scrape" || rows[3][10] != "audit stop" {
		t.Errorf("csv: exit %d, %v:\n%s", code, err, out)
	}
	out, code = trail(auditCmd{Collector: "live-1", Result: "confirmed", Output: "json"})
	var list []wire.AuditEntry
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].Action != "resume" || list[1].Actor.Kind != "token" {
		t.Errorf("json: exit %d:\n%s", code, out)
	}

	for name, o := range map[string]auditCmd{"since": {Since: "yesterday"}, "until": {Until: "2026-13-01"}, "limit": {Limit: 5000}} {
		if _, code := trail(o); code != 2 {
			t.Errorf("--%s: exit %d", name, code)
		}
	}
}
