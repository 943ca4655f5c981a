package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/targets"
)

// TestConflicts runs a real discovery manager with two jobs that both list
// the same collectors, and checks GET /conflicts as every role: a conflict
// within acme/red is seen by those who read acme/red, one whose sides are in
// two orgs by a super admin only.
func TestConflicts(t *testing.T) {
	st, tokens := openStore(t)
	m := targets.NewManager(slog.New(slog.DiscardHandler), nil)
	static := func(job string, cfgs ...targets.StaticConfig) targets.ScrapeJob {
		return targets.ScrapeJob{Name: job, Key: "1", Providers: []targets.Provider{targets.NewStatic(job, cfgs)}}
	}
	m.ApplyJobs([]targets.ScrapeJob{
		static("a",
			targets.StaticConfig{Targets: []string{"db-a:9187"}, Labels: map[string]string{"collector": "dup-red", "org": "acme", "team": "red"}},
			targets.StaticConfig{Targets: []string{"db-a:9188"}, Labels: map[string]string{"collector": "dup-split", "org": "acme", "team": "red"}}),
		static("b",
			targets.StaticConfig{Targets: []string{"db-b:9187"}, Labels: map[string]string{"collector": "dup-red", "org": "acme", "team": "red"}},
			targets.StaticConfig{Targets: []string{"db-b:9188"}, Labels: map[string]string{"collector": "dup-split", "org": "globex"}}),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	timeout := time.After(10 * time.Second)
	for len(m.Conflicts()) < 2 {
		select {
		case <-m.Updates():
		case <-timeout:
			t.Fatalf("no 2 conflicts: %+v", m.Conflicts())
		}
	}
	h := New(Options{Fleet: health.NewEvaluator(health.Options{}), Auth: auth.New(st, auth.Options{}), Conflicts: m})

	want := map[string][]string{
		uSuper:    {"dup-red", "dup-split"},
		uOrgAdmin: {"dup-red"},
		uLead:     {"dup-red"},
		uViewer:   {"dup-red"},
		uNoRole:   nil,
	}
	for _, user := range users {
		t.Run(user, func(t *testing.T) {
			code, body, _ := do(t, h, tokens[user], "/api/v1/conflicts")
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			var l wire.List[wire.Conflict]
			if err := json.Unmarshal([]byte(body), &l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range l.Data {
				got = append(got, c.Collector)
				if c.Collector == "dup-red" {
					if c.Kept.ScrapePool != "a" || c.Dropped.ScrapePool != "b" || c.Kept.ScrapeURL != "http://db-a:9187/metrics" || c.Reason == "" {
						t.Errorf("dup-red: %+v", c)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want[user]) {
				t.Errorf("conflicts %v, want %v", got, want[user])
			}
		})
	}
	if code, body, _ := do(t, h, tokens[uSuper], "/api/v1/conflicts?job=a"); code != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d %s", code, body)
	}
	if code, _, _ := do(t, h, "", "/api/v1/conflicts"); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", code)
	}
}
