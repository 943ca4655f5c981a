package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/corral-dev/corral/alerting"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/targets/filesd"
)

// alertsOf is a real alerter over the fixture's fleet with one firing
// CommandFailed alert per collector and one SDFileError.
func alertsOf(t *testing.T, eval *health.Evaluator) *alerting.Alerter {
	t.Helper()
	al := alerting.New(alerting.Options{Fleet: eval, SDFiles: func() []filesd.FileStatus {
		return []filesd.FileStatus{{Path: "/etc/corral/broken.yml", Error: "yaml: line 1: bad", ErrorAt: time.Now().Add(-time.Hour)}}
	}})
	cfg, err := configs.Parse([]byte("alerting: {enabled: true, rules: {SDFileError: {for: 0s}}}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Apply(alerting.Settings{Config: cfg.Alerting}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range collectors {
		al.CommandUpdated(wire.Command{ID: "cmd-" + c.id, Collector: c.id, Command: "pause", State: wire.CommandFailed,
			Error: "refused", CreatedAt: now, FinishedAt: &now})
	}
	al.Eval()
	return al
}

// checkAlerts: GET /api/v1/alerts lists the alerts of exactly the
// collectors user sees, and the file_sd alert to super admins only.
func checkAlerts(t *testing.T, h http.Handler, user, tok string) {
	t.Helper()
	code, body, _ := do(t, h, tok, "/api/v1/alerts?state=firing")
	if code != http.StatusOK {
		t.Fatalf("alerts: %d %s", code, body)
	}
	noLeak(t, user, "GET /api/v1/alerts", body)
	var list wire.List[wire.Alert]
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	sd := false
	for _, a := range list.Data {
		switch a.Name {
		case configs.AlertCommandFailed:
			got = append(got, a.Collector)
		case configs.AlertSDFileError:
			sd = true
		}
		if a.State != wire.AlertFiring {
			t.Errorf("state=firing listed a %s alert", a.State)
		}
	}
	for id := range sees[user] {
		want = append(want, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("alerts of %v, want %v", got, want)
	}
	if sd != (user == uSuper) {
		t.Errorf("SDFileError listed: %v, want %v", sd, user == uSuper)
	}
	if code, _, _ := do(t, h, tok, "/api/v1/alerts?state=loud"); code != http.StatusBadRequest {
		t.Errorf("state=loud: %d, want 400", code)
	}
}
