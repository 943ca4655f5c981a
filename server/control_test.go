package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	agentcfg "github.com/corral-dev/corral/exporter/agent"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

// demoFleet is a real server steering real simulated agents, on a real store.
type demoFleet struct {
	t       testing.TB
	dir     string
	cfg     string
	storage string
	srv     *running
	agents  []agentcfg.SimAgent
	tokens  map[string]string // API token per user
	keyPriv string            // the server's private key PEM, for break-glass requests in tests
	stopSim context.CancelFunc
}

// freePort returns a port to base a fleet of n on.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if p > 60000 {
		p = 30000 + p%20000
	}
	return p
}

// newFleet prepares the store (users, tokens, the server key), starts n
// simulated agents trusting the server's key, and starts the server.
func newFleet(t testing.TB, storage string, n int, extraConfig string) *demoFleet {
	t.Helper()
	f := &demoFleet{t: t, dir: t.TempDir(), storage: storage, tokens: map[string]string{}}
	ctx := context.Background()
	st, err := store.Open(ctx, storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := control.EnsureKey(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	f.keyPriv = key.PrivateKeyPEM
	for _, o := range []string{"default", "other"} {
		if err := st.CreateOrg(ctx, store.Org{ID: o, Name: o}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateTeam(ctx, store.Team{Org: "default", ID: "a", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	for user, b := range map[string]*store.RoleBinding{
		"super":    {Role: store.RoleSuperAdmin},
		"orgadmin": {Role: store.RoleOrgAdmin, Org: "default"},
		"lead-a":   {Role: store.RoleTeamLead, Org: "default", Team: "a"},
		"viewer":   {Role: store.RoleViewer, Org: "default"},
		"outsider": {Role: store.RoleOrgAdmin, Org: "other"},
	} {
		u, err := st.CreateUser(ctx, store.User{Username: user, PasswordHash: "unused: tokens"}, *b)
		if err != nil {
			t.Fatal(err)
		}
		secret, sum := auth.NewToken()
		if _, err := st.CreateToken(ctx, store.APIToken{UserID: u.ID, Name: "test", SecretSHA256: sum}); err != nil {
			t.Fatal(err)
		}
		f.tokens[user] = secret
	}
	st.Close()

	sd := filepath.Join(f.dir, "sd", "sim.yml")
	simCtx, stop := context.WithCancel(context.Background())
	f.stopSim = stop
	ready := make(chan []agentcfg.SimAgent, 1)
	simDone := make(chan error, 1)
	go func() {
		simDone <- agentcfg.Simulate(simCtx, agentcfg.SimulateOptions{Count: n, BasePort: exportertest.FreePorts(t, n), Interval: 200 * time.Millisecond,
			Series: 2, Mix: "online=1", SDFile: sd, TrustedKeys: []string{key.PublicKey}, StateDir: filepath.Join(f.dir, "state"),
			Ready: func(a []agentcfg.SimAgent) { ready <- a }})
	}()
	t.Cleanup(func() { stop(); <-simDone })
	select {
	case f.agents = <-ready:
	case err := <-simDone:
		t.Fatalf("simulate: %v", err)
	}
	f.cfg = filepath.Join(f.dir, "corral.yml")
	writeFile(t, f.cfg, fmt.Sprintf(`global:
  scrape_interval: 200ms
  scrape_timeout: 150ms
scrape_configs:
  - job_name: sim
    file_sd_configs: [{files: [%s]}]
  - job_name: ghost
    static_configs: [{targets: ['127.0.0.1:%d'], labels: {collector: ghost}}]
  - job_name: registry
    registry: true
control:
  command_expiry: 3s
  retry_max_backoff: 1s
%s`, sd, freePort(t), extraConfig))
	f.start()
	return f
}

func (f *demoFleet) start() {
	f.t.Helper()
	f.srv = startServer(f.t, f.cfg, f.storage)
	for _, a := range f.agents {
		f.waitDetail(a.Name, func(d map[string]any) bool { return d["up"] == true && d["agent_state"] != "" })
	}
}

// call sends a request as user and decodes the JSON answer into out (when not nil).
func (f *demoFleet) call(user, method, path string, body any, out any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+f.tokens[user])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

type cmdAnswer struct {
	Success bool         `json:"success"`
	Message string       `json:"message"`
	Command wire.Command `json:"command"`
	Error   string       `json:"error"`
	Code    string       `json:"code"`
	Details struct {
		Command wire.Command `json:"command"`
	} `json:"details"`
}

func (f *demoFleet) detail(id string) map[string]any {
	f.t.Helper()
	var d map[string]any
	f.call("super", "GET", "/api/v1/collectors/"+id, nil, &d)
	return d
}

func (f *demoFleet) waitDetail(id string, ok func(map[string]any) bool) map[string]any {
	f.t.Helper()
	var d map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		d = f.detail(id)
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("collector %s never got there: %v", id, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCommand polls GET /commands/{id} until done.
func (f *demoFleet) waitCommand(id string, done func(wire.Command) bool) wire.Command {
	f.t.Helper()
	var c wire.Command
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		f.call("super", "GET", "/api/v1/commands/"+id, nil, &c)
		if done(c) {
			return c
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("command %s: %+v", id, c)
		}
	}
}

// TestControlEndToEnd: every command through the API, the signed POST, the
// agent's effect, and the confirming scrape, on SQLite and PostgreSQL.
func TestControlEndToEnd(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "corral.db") }},
		{"postgres", func(t *testing.T) string { return testdb.Postgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) { controlEndToEnd(t, b.url(t)) })
	}
}

func controlEndToEnd(t *testing.T, storage string) {
	f := newFleet(t, storage, 2, "")
	sim := f.agents[0].Name

	// Real time: the stop shows as collector:stopped and command:updated.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hdr := http.Header{"Authorization": {"Bearer " + f.tokens["super"]}}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.base, "http")+"/api/v1/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","collectors":["`+sim+`"],"types":["collector:stopped","command:updated"]}`))

	for _, tc := range []struct {
		route string
		body  any
		check func(d map[string]any) bool
	}{
		{"stop", map[string]any{"reason": "maintenance", "estimated_duration_minutes": 30}, func(d map[string]any) bool { return d["agent_state"] == "paused" }},
		{"resume", nil, func(d map[string]any) bool { return d["agent_state"] == "running" }},
		{"collect", nil, nil},
		{"test-connection", nil, nil},
		{"update-config", map[string]any{"collection_interval": "2s", "tags": []string{"eu", "prod"}, "group": "billing"},
			func(d map[string]any) bool { return d["collection"].(map[string]any)["config_generation"] == 1.0 }},
		{"backfill", map[string]any{"from": time.Now().Add(-4 * time.Hour).UTC().Format(time.RFC3339), "to": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, nil},
		{"rotate-credentials", nil, nil},
		{"restart", nil, nil},
	} {
		var ans cmdAnswer
		code := f.call("orgadmin", "POST", "/api/v1/collectors/"+sim+"/"+tc.route+"?wait=confirmed&timeout=20s", tc.body, &ans)
		if code != 200 || !ans.Success || ans.Command.State != store.CommandConfirmed || ans.Command.Actor.Name != "orgadmin" {
			t.Fatalf("%s: %d %+v", tc.route, code, ans)
		}
		if tc.check != nil {
			f.waitDetail(sim, tc.check)
		}
	}
	d := f.detail(sim)
	if des, _ := d["desired"].(map[string]any); des == nil || des["run_state"] != "running" || des["group"] != "billing" {
		t.Errorf("desired state in the detail: %v", d["desired"])
	}
	if tags, _ := d["tags"].([]any); len(tags) != 2 {
		t.Errorf("tags %v", d["tags"])
	}
	for _, want := range []string{`"collector:stopped"`, `"command:updated"`} {
		for {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("no %s event: %v", want, err)
			}
			if strings.Contains(string(msg), want) {
				break
			}
		}
	}

	// Refusals carry the agent's reason; bad parameters are 400 naming the field.
	var ans cmdAnswer
	if code := f.call("super", "POST", "/api/v1/collectors/"+sim+"/backfill", map[string]any{"from": "yesterday"}, &ans); code != 400 {
		t.Errorf("bad backfill: %d %+v", code, ans)
	}
	if code := f.call("super", "POST", "/api/v1/collectors/"+sim+"/update-config", map[string]any{"query_limit": 10}, &ans); code != 400 || !strings.Contains(ans.Error, "postgres and mysql") {
		t.Errorf("query_limit on a synthetic collector: %d %+v", code, ans)
	}

	// RBAC: a viewer sees but may not act; a lead of another team and another
	// org's admin do not even see it.
	for user, want := range map[string]int{"viewer": 403, "lead-a": 404, "outsider": 404} {
		if code := f.call(user, "POST", "/api/v1/collectors/"+sim+"/stop", nil, &ans); code != want {
			t.Errorf("%s stop: %d, want %d", user, code, want)
		}
	}

	// A dead agent: pending with retries, then expired (command_expiry 3s).
	if code := f.call("super", "POST", "/api/v1/collectors/ghost/stop?wait=ack&timeout=500ms", nil, &ans); code != 202 || ans.Command.State == store.CommandConfirmed {
		t.Fatalf("stop of a dead agent: %d %+v", code, ans)
	}
	c := f.waitCommand(ans.Command.ID, func(c wire.Command) bool { return c.State == store.CommandExpired })
	if c.Attempts < 2 || !strings.Contains(c.Error, "not delivered within 3s") {
		t.Errorf("expired command: %+v", c)
	}

	// The audit trail: every act, by whom, with the outcome; viewers may not read it.
	var audit struct {
		Data  []map[string]any `json:"data"`
		Total int              `json:"total"`
	}
	if code := f.call("super", "GET", "/api/v1/audit?collector="+sim+"&action=stop", nil, &audit); code != 200 || audit.Total != 1 ||
		audit.Data[0]["result"] != store.CommandConfirmed || audit.Data[0]["reason"] != "maintenance" {
		t.Errorf("audit of the stop: %d %+v", code, audit)
	}
	if code := f.call("viewer", "GET", "/api/v1/audit", nil, &audit); code != 403 {
		t.Errorf("viewer reads the audit trail: %d", code)
	}
	req, _ := http.NewRequest("GET", f.srv.base+"/api/v1/audit?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["super"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	csvBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(csvBody), "id,at,finished_at,actor_kind,actor,") || strings.Count(string(csvBody), "\n") < 10 ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("csv export: %s\n%s", resp.Header, csvBody)
	}

	// On-demand scrape.
	var sc map[string]any
	if code := f.call("orgadmin", "POST", "/api/v1/collectors/"+sim+"/scrape", nil, &sc); code != 200 || sc["up"] != true {
		t.Errorf("scrape now: %d %v", code, sc)
	}
}

// TestReconcileAfterOutOfBandResume: an agent resumed behind corral's back
// (break-glass) while its desired state is paused is paused again, and that is
// in the history and the audit trail.
func TestReconcileAfterOutOfBandResume(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 1, "")
	sim := f.agents[0]
	var ans cmdAnswer
	if code := f.call("super", "POST", "/api/v1/collectors/"+sim.Name+"/stop?wait=confirmed", map[string]any{"reason": "quiet hours"}, &ans); code != 200 {
		t.Fatalf("stop: %d %+v", code, ans)
	}
	priv, err := agentctl.ParsePrivateKeyPEM([]byte(f.keyPriv))
	if err != nil {
		t.Fatal(err)
	}
	resp, status, err := agentctl.NewSigner(priv).Send(context.Background(), nil, "http://"+sim.Address, sim.Name, agentctl.Request{ID: "breakglass-1", Command: agentctl.Resume})
	if err != nil || status != 200 || !resp.OK {
		t.Fatalf("break-glass resume: %d %+v %v", status, resp, err)
	}
	f.waitDetail(sim.Name, func(d map[string]any) bool { return d["agent_state"] == "paused" })
	var hist struct {
		Data []struct{ Kind, From, To, Reason string } `json:"data"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for found := false; !found; {
		f.call("super", "GET", "/api/v1/collectors/"+sim.Name+"/history", nil, &hist)
		for _, h := range hist.Data {
			found = found || (h.Kind == "reconcile" && h.From == "running" && h.To == "paused" && strings.Contains(h.Reason, "quiet hours"))
		}
		if !found && time.Now().After(deadline) {
			t.Fatalf("no reconcile row in the history: %+v", hist)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var audit struct {
		Data []struct {
			Actor  store.Actor `json:"actor"`
			Action string      `json:"action"`
		} `json:"data"`
	}
	f.call("super", "GET", "/api/v1/audit?collector="+sim.Name, nil, &audit)
	if len(audit.Data) < 2 || audit.Data[0].Actor.Kind != store.ActorReconciler || audit.Data[0].Action != "stop" {
		t.Errorf("audit: %+v", audit.Data)
	}
}

// TestUnregisterAndReregister: unregister a file_sd collector with its data
// archived (ignored though its file lists it), bring it back with its history;
// unregister it with its data deleted, bring it back fresh.
func TestUnregisterAndReregister(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 1, "")
	sim := f.agents[0].Name
	var hist struct {
		Data []map[string]any `json:"data"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hist.Data) == 0 { // the store's writer flushes every second
		if time.Now().After(deadline) {
			t.Fatal("no history to archive")
		}
		time.Sleep(100 * time.Millisecond)
		f.call("super", "GET", "/api/v1/collectors/"+sim+"/history", nil, &hist)
	}
	before := len(hist.Data)
	// hourScrapes is what the store counts of sim's scrapes in the current
	// hour's bucket (the writer flushes every second).
	hourScrapes := func() int64 {
		hour := time.Now().UTC().Truncate(time.Hour)
		var c wire.Completeness
		f.call("super", "GET", "/api/v1/collectors/"+sim+"/completeness?window=1h", nil, &c)
		for _, b := range c.Data {
			if b.Start.Equal(hour) && b.ScrapesTotal != nil {
				return *b.ScrapesTotal
			}
		}
		return 0
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	time.Sleep(1500 * time.Millisecond) // a few more scrapes, flushed
	scrapesBefore := hourScrapes()
	if scrapesBefore < 5 {
		t.Fatalf("%d scrapes in the hour's bucket before unregistering, want a few", scrapesBefore)
	}
	var un struct {
		Success bool  `json:"success"`
		Count   int64 `json:"archived_metrics_count"`
		Archive struct {
			ID              string `json:"id"`
			MetricsArchived bool   `json:"metrics_archived"`
		} `json:"archive"`
	}
	if code := f.call("viewer", "DELETE", "/api/v1/collectors/"+sim, map[string]any{"reason": "x"}, &un); code != 403 {
		t.Errorf("viewer unregisters: %d", code)
	}
	if code := f.call("orgadmin", "DELETE", "/api/v1/collectors/"+sim, map[string]any{"reason": "moving hosts", "retention_days": 30}, &un); code != 200 ||
		!un.Archive.MetricsArchived || un.Count == 0 {
		t.Fatalf("unregister: %d %+v", code, un)
	}
	var gone map[string]any
	if code := f.call("super", "GET", "/api/v1/collectors/"+sim, nil, &gone); code != 410 || gone["code"] != "unregistered" {
		t.Errorf("unregistered collector: %d %v", code, gone)
	}
	if code := f.call("outsider", "GET", "/api/v1/collectors/"+sim, nil, &gone); code != 404 {
		t.Errorf("unregistered collector out of scope: %d", code)
	}
	time.Sleep(500 * time.Millisecond) // a few scrape intervals: nobody scrapes it
	var list struct {
		Data []map[string]any `json:"data"`
	}
	f.call("super", "GET", "/api/v1/collectors/archived", nil, &list)
	if len(list.Data) != 1 || list.Data[0]["still_discovered"] != true || list.Data[0]["reason"] != "moving hosts" {
		t.Fatalf("archived: %+v", list.Data)
	}
	var tg struct {
		Data struct {
			Active  []map[string]any `json:"activeTargets"`
			Dropped []map[string]any `json:"droppedTargets"`
		} `json:"data"`
	}
	f.call("super", "GET", "/api/v1/targets?scrapePool=sim", nil, &tg)
	if len(tg.Data.Active) != 0 || len(tg.Data.Dropped) != 1 || !strings.Contains(tg.Data.Dropped[0]["reason"].(string), "ignored until re-registered") {
		t.Errorf("targets: %+v", tg.Data)
	}
	var re map[string]any
	if code := f.call("super", "POST", "/api/v1/collectors/re-register", map[string]any{"archived_collector_id": un.Archive.ID}, &re); code != 200 {
		t.Fatalf("re-register: %d %v", code, re)
	}
	f.waitDetail(sim, func(d map[string]any) bool { return d["up"] == true })
	f.call("super", "GET", "/api/v1/collectors/"+sim+"/history", nil, &hist)
	if len(hist.Data) < before {
		t.Errorf("history after re-register with restore: %d rows, had %d", len(hist.Data), before)
	}
	// The restored archive's buckets go on counting, as its history does.
	time.Sleep(1500 * time.Millisecond)
	scrapesRestored := hourScrapes()
	if time.Now().UTC().Truncate(time.Hour).Equal(hour) && scrapesRestored <= scrapesBefore {
		t.Errorf("the current hour's bucket after re-register with restore: %d scrapes, had %d before", scrapesRestored, scrapesBefore)
	}

	// Now with delete: the history is gone at once; back fresh.
	// (its options as query parameters this time: some clients drop a DELETE's body)
	if code := f.call("super", "DELETE", "/api/v1/collectors/"+sim+"?archive_metrics=false&reason=gone", nil, &un); code != 200 || un.Archive.MetricsArchived {
		t.Fatalf("unregister & delete: %d %+v", code, un)
	}
	if code := f.call("super", "POST", "/api/v1/collectors/re-register", map[string]any{"archived_collector_id": un.Archive.ID, "restore_metrics": false}, &re); code != 200 {
		t.Fatalf("re-register fresh: %d %v", code, re)
	}
	f.waitDetail(sim, func(d map[string]any) bool { return d["up"] == true })
	time.Sleep(1500 * time.Millisecond)
	if n := hourScrapes(); time.Now().UTC().Truncate(time.Hour).Equal(hour) && n >= scrapesBefore {
		t.Errorf("the deleted buckets came back: %d scrapes in the hour after a fresh re-register, %d before the delete", n, scrapesBefore)
	}
	f.call("super", "GET", "/api/v1/collectors/"+sim+"/history", nil, &hist)
	for _, h := range hist.Data {
		if at, _ := time.Parse(time.RFC3339Nano, h["at"].(string)); at.Before(time.Now().Add(-10 * time.Second)) {
			t.Errorf("an old history row survived the delete: %v", h)
		}
	}
	var audit struct {
		Total int `json:"total"`
	}
	f.call("super", "GET", "/api/v1/audit?collector="+sim+"&action=unregister", nil, &audit)
	if audit.Total != 2 {
		t.Errorf("%d unregister rows in the audit trail, want 2 (audit rows survive the delete)", audit.Total)
	}
}

// TestRegisterThroughTheAPI: a registered collector is scraped with its own
// token, from an agent run with the config the registration answered.
func TestRegisterThroughTheAPI(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 1, "")
	port := freePort(t)
	var reg struct {
		Token       string `json:"scrape_token"`
		AgentConfig string `json:"agent_config"`
	}
	body := map[string]any{"name": "pg-eu-1", "url": fmt.Sprintf("http://127.0.0.1:%d/metrics", port), "labels": map[string]string{"env": "prod"},
		"org": "default", "team": "a", "thresholds": map[string]string{"stale_after": "10m"}}
	if code := f.call("viewer", "POST", "/api/v1/collectors/register", body, &reg); code != 403 {
		t.Errorf("viewer registers: %d", code)
	}
	if code := f.call("lead-a", "POST", "/api/v1/collectors/register", body, &reg); code != 201 || !strings.HasPrefix(reg.Token, "corral_scrape_") {
		t.Fatalf("register: %d %+v", code, reg)
	}
	var e map[string]any
	if code := f.call("lead-a", "POST", "/api/v1/collectors/register", body, &e); code != 409 {
		t.Errorf("second registration: %d %v", code, e)
	}
	cfgPath := filepath.Join(t.TempDir(), "pg-eu-1.yml")
	writeFile(t, cfgPath, reg.AgentConfig+"synthetic: {rate: 2}\ninterval: 200ms\n")
	b, _ := os.ReadFile(cfgPath)
	b = bytes.Replace(b, []byte("kind: synthetic\n"), []byte("kind: synthetic\n    interval: 1s\n"), 1)
	b = bytes.Replace(b, []byte("synthetic: {rate: 2}\ninterval: 200ms\n"), nil, 1)
	writeFile(t, cfgPath, string(b))
	if _, err := agentcfg.LoadConfig(cfgPath); err != nil {
		t.Fatalf("the answered agent config does not load: %v\n%s", err, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agentcfg.Run(ctx, agentcfg.Options{ConfigPath: cfgPath, Stderr: io.Discard}) }()
	t.Cleanup(func() { cancel(); <-done })
	d := f.waitDetail("pg-eu-1", func(d map[string]any) bool { return d["up"] == true })
	if d["team"] != "a" || d["provider"] != "registry" || d["thresholds"].(map[string]any)["stale_after_seconds"] != 600.0 {
		t.Errorf("registered collector: %v", d)
	}
	// Without the token its /metrics is closed; the server's signed commands work.
	if code, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); code != 401 {
		t.Errorf("agent /metrics without the token: %d", code)
	}
	var ans cmdAnswer
	if code := f.call("lead-a", "POST", "/api/v1/collectors/pg-eu-1/stop?wait=confirmed", nil, &ans); code != 200 {
		t.Fatalf("stop the registered collector: %d %+v", code, ans)
	}
	// Its scrape token rotated: the agent gets the new token's hash, the server
	// switches on the acknowledgement, and no scrape fails on the way.
	if code := f.call("lead-a", "POST", "/api/v1/collectors/pg-eu-1/resume?wait=confirmed", nil, &ans); code != 200 {
		t.Fatalf("resume: %d %+v", code, ans)
	}
	if code := f.call("lead-a", "POST", "/api/v1/collectors/pg-eu-1/rotate-credentials?wait=confirmed", map[string]any{"scrape_token": true}, &ans); code != 200 ||
		!strings.Contains(string(ans.Command.Result), "previous_token_valid_until") {
		t.Fatalf("rotate the scrape token: %d %+v", code, ans)
	}
	st, err := store.Open(context.Background(), f.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rc store.RegisteredCollector
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rc, _ = st.Registered(context.Background(), "pg-eu-1")
		if rc.Token != reg.Token && rc.NextToken == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not switch to the new token: %+v", rc)
		}
	}
	st.Close()
	failures := f.detail("pg-eu-1")["consecutive_failures"]
	time.Sleep(time.Second)
	if d := f.detail("pg-eu-1"); d["up"] != true || d["consecutive_failures"] != failures || d["last_error_reason"] == "http_401" {
		t.Errorf("after the token rotation: %v", d)
	}
	if code := f.call("super", "POST", "/api/v1/collectors/"+f.agents[0].Name+"/rotate-credentials", map[string]any{"scrape_token": true}, &e); code != 400 {
		t.Errorf("scrape token of a file_sd collector: %d %v", code, e)
	}
	// Unregistered, its token no longer works: re-registered with a new one.
	var un struct {
		Archive struct{ ID string } `json:"archive"`
	}
	f.call("lead-a", "DELETE", "/api/v1/collectors/pg-eu-1", nil, &un)
	var re struct {
		Registration struct {
			Token string `json:"scrape_token"`
		} `json:"registration"`
	}
	if code := f.call("lead-a", "POST", "/api/v1/collectors/re-register", map[string]any{"archived_collector_id": un.Archive.ID}, &re); code != 200 ||
		re.Registration.Token == "" || re.Registration.Token == reg.Token {
		t.Fatalf("re-register with a new token: %d %+v", code, re)
	}
	// The agent still has the old token's hash: the server's scrapes now fail
	// with 401 until the agent's config gets the new one.
	f.waitDetail("pg-eu-1", func(d map[string]any) bool { return d["last_error_reason"] == "http_401" })
}

// TestReregisterAfterScrapeTokenRotation: the scrape token rotated into the
// agent's state file, then unregister and re-register with a new token; the
// agent started with exactly the new config is scraped again (the config is
// newer than the rotation, so it wins), not locked out at http_401.
func TestReregisterAfterScrapeTokenRotation(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 1, "")
	port := freePort(t)
	dir := t.TempDir() // the agent's config and its state file, as the answered config names it
	cfgPath := filepath.Join(dir, "pg-eu-2.yml")
	// runAgent starts the agent with exactly the answered config (a scrape
	// interval added) and returns its stop function.
	runAgent := func(agentConfig string) (stop func()) {
		t.Helper()
		writeFile(t, cfgPath, strings.Replace(agentConfig, "kind: synthetic\n", "kind: synthetic\n    interval: 1s\n", 1))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- agentcfg.Run(ctx, agentcfg.Options{ConfigPath: cfgPath, Stderr: io.Discard}) }()
		var once bool
		stop = func() {
			if !once {
				once = true
				cancel()
				if err := <-done; err != nil {
					t.Errorf("agent: %v", err)
				}
			}
		}
		t.Cleanup(stop)
		return stop
	}
	var reg struct {
		Token       string `json:"scrape_token"`
		AgentConfig string `json:"agent_config"`
	}
	body := map[string]any{"name": "pg-eu-2", "url": fmt.Sprintf("http://127.0.0.1:%d/metrics", port), "org": "default", "team": "a"}
	if code := f.call("lead-a", "POST", "/api/v1/collectors/register", body, &reg); code != 201 {
		t.Fatalf("register: %d %+v", code, reg)
	}
	stop := runAgent(reg.AgentConfig)
	f.waitDetail("pg-eu-2", func(d map[string]any) bool { return d["up"] == true })
	var ans cmdAnswer
	if code := f.call("lead-a", "POST", "/api/v1/collectors/pg-eu-2/rotate-credentials?wait=confirmed", map[string]any{"scrape_token": true}, &ans); code != 200 {
		t.Fatalf("rotate the scrape token: %d %+v", code, ans)
	}
	state, err := os.ReadFile(filepath.Join(dir, "pg-eu-2.state.json"))
	if err != nil || !bytes.Contains(state, []byte(`"metrics_token_sha256"`)) {
		t.Fatalf("the rotated token is not in the agent's state file: %v\n%s", err, state)
	}
	// The agent is down while it moves: no 401 from the old config can mix in.
	stop()
	var un struct {
		Archive struct{ ID string } `json:"archive"`
	}
	if code := f.call("lead-a", "DELETE", "/api/v1/collectors/pg-eu-2", map[string]any{"reason": "moving"}, &un); code != 200 {
		t.Fatalf("unregister: %d", code)
	}
	var re struct {
		Registration struct {
			Token       string `json:"scrape_token"`
			AgentConfig string `json:"agent_config"`
		} `json:"registration"`
	}
	if code := f.call("lead-a", "POST", "/api/v1/collectors/re-register", map[string]any{"archived_collector_id": un.Archive.ID}, &re); code != 200 ||
		re.Registration.Token == "" || re.Registration.AgentConfig == "" {
		t.Fatalf("re-register with a new token: %d %+v", code, re)
	}
	// The agent started with the new config, its state file kept.
	runAgent(re.Registration.AgentConfig)
	d := f.waitDetail("pg-eu-2", func(d map[string]any) bool {
		return d["up"] == true || d["last_error_reason"] == "http_401"
	})
	if d["up"] != true {
		t.Fatalf("the agent run with the re-registration's config refuses the new token: %v", d)
	}
	failures := f.detail("pg-eu-2")["consecutive_failures"]
	time.Sleep(time.Second)
	if d := f.detail("pg-eu-2"); d["up"] != true || d["consecutive_failures"] != failures {
		t.Errorf("scrapes after the restart with the new config: %v", d)
	}
	code, h := get(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	var health struct {
		Source string `json:"metrics_token_source"`
	}
	if err := json.Unmarshal([]byte(h), &health); err != nil || code != 200 || health.Source != "config" {
		t.Errorf("/healthz after the config replaced the rotated token: %d %s", code, h)
	}
}

// TestBulkOperations: partial failure, a dry run, a scheduled operation that
// survives a server restart, and a cancelled one.
func TestBulkOperations(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 3, "")
	a0, a1, a2 := f.agents[0].Name, f.agents[1].Name, f.agents[2].Name
	var res wire.BulkResult
	code := f.call("orgadmin", "POST", "/api/v1/collectors/bulk-action", map[string]any{"action": "stop", "collector_ids": []string{a0, "ghost", "nope"},
		"reason": "bulk test"}, &res)
	if code != 200 || res.Total != 3 || res.Succeeded != 1 || res.Pending != 1 || res.Failed != 1 {
		t.Fatalf("bulk with partial failure: %d %+v", code, res)
	}
	for _, it := range res.Results {
		switch it.Collector {
		case a0:
			if it.Status != "ok" || it.CommandID == "" {
				t.Errorf("live agent: %+v", it)
			}
		case "ghost":
			if it.Status != "pending" {
				t.Errorf("dead agent: %+v", it)
			}
		case "nope":
			if it.Status != "failed" || it.Error != "collector not found" {
				t.Errorf("unknown collector: %+v", it)
			}
		}
	}
	// A dry run by selector changes nothing.
	res = wire.BulkResult{}
	code = f.call("super", "POST", "/api/v1/collectors/bulk-action", map[string]any{"action": "restart", "selector": `{collector=~"sim-.*"}`, "dry_run": true}, &res)
	if code != 200 || res.Total != 3 || res.Succeeded != 3 {
		t.Fatalf("dry run: %d %+v", code, res)
	}
	var cmds struct {
		Total int `json:"total"`
	}
	f.call("super", "GET", "/api/v1/commands?collector="+a1, nil, &cmds)
	if cmds.Total != 0 {
		t.Errorf("the dry run sent %d commands", cmds.Total)
	}
	// A viewer may not; out-of-scope ids read as not found.
	if code := f.call("viewer", "POST", "/api/v1/collectors/bulk-action", map[string]any{"action": "stop", "collector_ids": []string{a1}}, &res); code != 403 {
		t.Errorf("viewer bulk: %d", code)
	}
	f.call("outsider", "POST", "/api/v1/collectors/bulk-action", map[string]any{"action": "stop", "collector_ids": []string{a1}}, &res)
	if res.Failed != 1 || res.Results[0].Error != "collector not found" {
		t.Errorf("out-of-scope bulk: %+v", res)
	}

	// Scheduled in 2s, the server stops at once and starts again: it still runs.
	at := time.Now().Add(2 * time.Second).UTC()
	code = f.call("orgadmin", "POST", "/api/v1/collectors/bulk-action", map[string]any{"action": "stop", "collector_ids": []string{a1, a2},
		"schedule_at": at.Format(time.RFC3339Nano), "reason": "night"}, &res)
	if code != 202 || res.State != store.BulkScheduled {
		t.Fatalf("schedule: %d %+v", code, res)
	}
	scheduled := res.ID
	var later wire.BulkResult
	f.call("orgadmin", "POST", "/api/v1/collectors/bulk-action", map[string]any{"action": "restart", "collector_ids": []string{a1},
		"schedule_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &later)
	f.srv.stop()
	f.start()
	for _, a := range []string{a1, a2} {
		f.waitDetail(a, func(d map[string]any) bool { return d["agent_state"] == "paused" })
	}
	var got wire.BulkResult
	deadline := time.Now().Add(15 * time.Second)
	for f.call("orgadmin", "GET", "/api/v1/bulk-actions/"+scheduled, nil, &got); got.State != store.BulkDone; f.call("orgadmin", "GET", "/api/v1/bulk-actions/"+scheduled, nil, &got) {
		if time.Now().After(deadline) {
			t.Fatalf("scheduled operation: %+v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Total != 2 || got.Succeeded != 2 || got.StartedAt == nil || got.StartedAt.Before(at.Truncate(time.Millisecond)) {
		t.Errorf("scheduled operation ran: %+v", got)
	}
	var audit struct {
		Data []struct {
			Actor store.Actor `json:"actor"`
		} `json:"data"`
	}
	f.call("super", "GET", "/api/v1/audit?collector="+a1+"&action=stop", nil, &audit)
	if len(audit.Data) != 1 || audit.Data[0].Actor.Kind != store.ActorScheduler || audit.Data[0].Actor.Name != "orgadmin" {
		t.Errorf("the scheduled stop in the audit trail: %+v", audit.Data)
	}
	// The other one is cancelled; cancelling twice is a conflict; others' ops are not visible.
	if code := f.call("lead-a", "POST", "/api/v1/bulk-actions/"+later.ID+"/cancel", nil, &got); code != 404 {
		t.Errorf("someone else cancels: %d", code)
	}
	if code := f.call("orgadmin", "POST", "/api/v1/bulk-actions/"+later.ID+"/cancel", nil, &got); code != 200 || got.State != store.BulkCancelled {
		t.Errorf("cancel: %d %+v", code, got)
	}
	var e map[string]any
	if code := f.call("orgadmin", "POST", "/api/v1/bulk-actions/"+later.ID+"/cancel", nil, &e); code != 409 {
		t.Errorf("cancel twice: %d %v", code, e)
	}
	var ops struct {
		Data []wire.BulkResult `json:"data"`
	}
	f.call("orgadmin", "GET", "/api/v1/bulk-actions?state=cancelled", nil, &ops)
	if len(ops.Data) != 1 || ops.Data[0].ID != later.ID {
		t.Errorf("cancelled list: %+v", ops.Data)
	}
}

// TestServerKilledMidCommand: the server stops right after a restart command
// was submitted; on start it is carried through, and the agent restarts once.
func TestServerKilledMidCommand(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 1, "")
	sim := f.agents[0].Name
	var ans cmdAnswer
	if code := f.call("super", "POST", "/api/v1/collectors/"+sim+"/restart?wait=none", nil, &ans); code != 202 {
		t.Fatalf("restart: %d %+v", code, ans)
	}
	f.srv.stop()
	f.start()
	if c := f.waitCommand(ans.Command.ID, func(c wire.Command) bool { return store.CommandFinal(c.State) }); c.State != store.CommandConfirmed {
		t.Fatalf("restart after the server's restart: %+v", c)
	}
	// Confirmed means the start time moved; it must not move again (a re-sent
	// restart is answered from the agent's memory, not run a second time).
	var m1, m2 string
	_, m1 = get(t, "http://"+f.agents[0].Address+"/metrics")
	time.Sleep(time.Second)
	_, m2 = get(t, "http://"+f.agents[0].Address+"/metrics")
	if startTime(m1) == 0 || startTime(m1) != startTime(m2) {
		t.Errorf("the agent restarted again after the command was confirmed: %v → %v", startTime(m1), startTime(m2))
	}
}

func startTime(metrics string) float64 {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, "process_start_time_seconds "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// TestKeyRotationEndToEnd: the server's key rotated through the API reaches
// every agent; the server switches, and commands signed with the new key work.
func TestKeyRotationEndToEnd(t *testing.T) {
	f := newFleet(t, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"), 2, "")
	var before, after wire.Rotation
	if code := f.call("super", "GET", "/api/v1/keys", nil, &before); code != 200 || before.Active == nil || before.InProgress {
		t.Fatalf("keys: %d %+v", code, before)
	}
	if code := f.call("orgadmin", "POST", "/api/v1/keys/rotate", nil, &after); code != 403 {
		t.Errorf("an org admin rotates the server key: %d", code)
	}
	// Both agents acknowledge the next key (the ghost never showed the corral
	// contract, so it is no agent to wait for): the server switches by itself.
	var r wire.Rotation
	if code := f.call("super", "POST", "/api/v1/keys/rotate", nil, &r); code != 202 || r.Next == nil {
		t.Fatalf("rotate: %d %+v", code, r)
	}
	next := r.Next.KID
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		f.call("super", "GET", "/api/v1/keys", nil, &after)
		if !after.InProgress && after.Active.KID == next {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation: %+v", after)
		}
	}
	var e map[string]any
	if code := f.call("super", "POST", "/api/v1/keys/rotate/complete", map[string]any{}, &e); code != 409 {
		t.Errorf("complete with no rotation: %d %v", code, e)
	}
	var audit struct {
		Total int `json:"total"`
	}
	f.call("super", "GET", "/api/v1/audit?action=activate-server-key", nil, &audit)
	if audit.Total != 1 {
		t.Errorf("%d activate-server-key rows in the audit trail", audit.Total)
	}
	var ans cmdAnswer
	if code := f.call("super", "POST", "/api/v1/collectors/"+f.agents[1].Name+"/stop?wait=confirmed", nil, &ans); code != 200 {
		t.Fatalf("stop with the new key: %d %+v", code, ans)
	}
}
