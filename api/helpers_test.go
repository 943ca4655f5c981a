package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// t0 is the clock of the fixtures fed with fixed results.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// The users of every fixture, one per role and one without.
const (
	uSuper    = "super"
	uOrgAdmin = "orgadmin" // org_admin of acme
	uLead     = "lead"     // team_lead of acme/red
	uViewer   = "viewer"   // viewer of acme/red
	uNoRole   = "norole"
)

var users = []string{uSuper, uOrgAdmin, uLead, uViewer, uNoRole}

// The collectors of every fixture and their scope.
type fixtureCollector struct {
	id, org, team string
}

var collectors = []fixtureCollector{
	{"acme-red-1", "acme", "red"},
	{"acme-blue-1", "acme", "blue"},
	{"globex-1", "globex", ""},
	{"nolabel-1", "", ""}, // the default org
}

// sees is who may read which collector.
var sees = map[string]map[string]bool{
	uSuper:    {"acme-red-1": true, "acme-blue-1": true, "globex-1": true, "nolabel-1": true},
	uOrgAdmin: {"acme-red-1": true, "acme-blue-1": true},
	uLead:     {"acme-red-1": true},
	uViewer:   {"acme-red-1": true},
	uNoRole:   {},
}

// openStore opens a real SQLite store with the orgs, teams and users of the
// fixtures, and returns it with an API token per user.
func openStore(t testing.TB) (*store.Store, map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+t.TempDir()+"/c.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, o := range []string{"default", "acme", "globex"} {
		if err := st.CreateOrg(ctx, store.Org{ID: o, Name: o}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tm := range []string{"red", "blue"} {
		if err := st.CreateTeam(ctx, store.Team{Org: "acme", ID: tm, Name: tm}); err != nil {
			t.Fatal(err)
		}
	}
	bindings := map[string][]store.RoleBinding{
		uSuper:    {{Role: store.RoleSuperAdmin}},
		uOrgAdmin: {{Role: store.RoleOrgAdmin, Org: "acme"}},
		uLead:     {{Role: store.RoleTeamLead, Org: "acme", Team: "red"}},
		uViewer:   {{Role: store.RoleViewer, Org: "acme", Team: "red"}},
		uNoRole:   nil,
	}
	tokens := map[string]string{}
	for _, name := range users {
		u, err := st.CreateUser(ctx, store.User{Username: name, PasswordHash: "unused: the tests use API tokens"}, bindings[name]...)
		if err != nil {
			t.Fatal(err)
		}
		secret, sum := auth.NewToken()
		if _, err := st.CreateToken(ctx, store.APIToken{UserID: u.ID, Name: "test", SecretSHA256: sum}); err != nil {
			t.Fatal(err)
		}
		tokens[name] = secret
	}
	return st, tokens
}

func target(c fixtureCollector, url string) *targets.Target {
	labels := map[string]string{"collector": c.id, "job": "pg", "instance": c.id + ".example:9100", "env": "prod"}
	if c.org != "" {
		labels["org"] = c.org
	}
	if c.team != "" {
		labels["team"] = c.team
	}
	org, team := targets.DefaultTenancy.Of(labels)
	return &targets.Target{
		Collector: c.id, Job: "pg", ScrapeJob: "pg", Instance: c.id + ".example:9100", URL: url,
		Labels: labels, Meta: map[string]string{"__address__": c.id + ".example:9100"}, Org: org, Team: team,
		Provider: "file_sd", Source: "file_sd:pg:/etc/corral/pg.yml",
	}
}

// agentResult is a successful scrape of a running agent at time at.
func agentResult(t *targets.Target, at time.Time, items float64) *scrape.Result {
	return &scrape.Result{Target: t, Start: at, Duration: 20 * time.Millisecond, Samples: 120, Bytes: 4000,
		Agent: scrape.AgentSample{HasContract: true, State: "running", Kind: "postgres", Version: "1.2.3",
			Items: items, HasItems: true, LastItem: float64(at.Add(-5 * time.Second).Unix()),
			CollectionsOK: 10, DurationSum: 1, DurationCount: 10, LastCollection: float64(at.Add(-2 * time.Second).Unix()),
			ConfigGeneration: 3, HasGeneration: true,
			CPUSeconds: items / 100, HasCPU: true, RSS: 50e6, HasRSS: true, StartTime: float64(t0.Add(-time.Hour).Unix()), HasStartTime: true}}
}

// do sends GET path to h with the token of user ("" for none).
func do(t testing.TB, h http.Handler, token, path string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Header()
}
