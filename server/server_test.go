package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/exportertest"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// agent starts a real corral agent (synthetic collector, every 200ms) and
// returns its address.
func agent(t *testing.T, name string, cfg synthetic.Config, mod func(*exporter.Options)) string {
	t.Helper()
	srv, _ := exportertest.Synthetic(t, name, cfg, 200*time.Millisecond, mod)
	return strings.TrimPrefix(srv.URL, "http://")
}

type running struct {
	base   string
	cancel context.CancelFunc
	done   chan error
	reload chan struct{}
}

// startServer runs the server in-process; mods change its options (enable the
// lifecycle API, pprof …) before it starts.
func startServer(t testing.TB, cfgPath, storage string, mods ...func(*Options)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	r := &running{cancel: cancel, done: make(chan error, 1), reload: make(chan struct{}, 1)}
	o := Options{ConfigFile: cfgPath, ListenAddress: "127.0.0.1:0", StorageURL: storage,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Reload: r.reload,
		Listening: func(a net.Addr) { addr <- a }}
	for _, m := range mods {
		m(&o)
	}
	go func() { r.done <- Run(ctx, o) }()
	select {
	case a := <-addr:
		r.base = "http://" + a.String()
	case err := <-r.done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not listen within 30s")
	}
	t.Cleanup(r.stop)
	// Ready once discovery delivered its first targets: every collector of the
	// config is evaluated, so the API knows it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(r.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready within 30s")
		}
	}
	return r
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitMetrics polls /metrics until every want line is there.
func waitMetrics(t *testing.T, base string, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, body := get(t, base+"/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q after %s:\n%s", missing, within, grep(body, "corral_collector_status{", "} 1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grep(s, prefix, suffix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func hasStatus(body, collector, status string) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, `corral_collector_status{collector="`+collector+`",`) && strings.HasSuffix(l, `status="`+status+`"} 1`) {
			return true
		}
	}
	return false
}

func waitStatuses(t *testing.T, base string, within time.Duration, want map[string]string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, body := get(t, base+"/metrics")
		bad := ""
		for c, s := range want {
			if !hasStatus(body, c, s) {
				bad = c + "=" + s
				break
			}
		}
		if bad == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %s after %s; have:\n%s", bad, within, grep(body, "corral_collector_status{", "} 1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func setup(t *testing.T) (dir, cfgPath string, addrs map[string]string) {
	t.Helper()
	dir = t.TempDir()
	addrs = map[string]string{
		"ok":     agent(t, "ok", synthetic.Config{Rate: 100}, nil),
		"paused": agent(t, "paused", synthetic.Config{Rate: 100}, func(o *exporter.Options) { o.StartPaused = true }),
		"broken": agent(t, "broken", synthetic.Config{Rate: 100, ErrorRatio: 1}, func(o *exporter.Options) { o.Retry.Attempts = 1 }),
		"stale":  agent(t, "stale", synthetic.Config{Rate: 100, Lag: time.Hour}, nil),
	}
	os.MkdirAll(filepath.Join(dir, "sd"), 0o755)
	sd := "- targets: ['" + addrs["ok"] + "']\n  labels: {collector: ok, team: a}\n" +
		"- targets: ['" + addrs["paused"] + "']\n  labels: {collector: paused}\n" +
		"- targets: ['" + addrs["broken"] + "']\n  labels: {collector: broken}\n"
	writeFile(t, filepath.Join(dir, "sd", "fleet.yml"), sd)
	cfgPath = filepath.Join(dir, "corral.yml")
	writeFile(t, cfgPath, `global:
  scrape_interval: 300ms
  scrape_timeout: 300ms
  thresholds: {offline_after: 5s, stale_after: 20s, slow_scrape: 5s, slow_collection: 5s}
scrape_configs:
  - job_name: fleet
    file_sd_configs: [{files: [sd/*.yml], refresh_interval: 1s}]
  - job_name: fixed
    static_configs: [{targets: ['`+addrs["stale"]+`'], labels: {collector: stale}}]
`)
	return dir, cfgPath, addrs
}

func TestServerEndToEnd(t *testing.T) {
	dir, cfgPath, addrs := setup(t)
	storage := "sqlite:" + filepath.Join(dir, "corral.db")
	t.Setenv("CORRAL_ADMIN_PASSWORD", e2ePassword)
	srv := startServer(t, cfgPath, storage, withLifecycle)

	body := waitStatuses(t, srv.base, 60*time.Second, map[string]string{"ok": "online", "paused": "paused", "broken": "error", "stale": "stale"})
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	var mfs []*dto.MetricFamily
	for _, mf := range fams {
		mfs = append(mfs, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		if strings.HasPrefix(pr.Metric, "corral_") {
			t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
		}
	}
	for _, want := range []string{`team="a"`, `corral_collector_freshness_seconds{collector="stale"`, `corral_config_last_reload_successful 1`, `corral_sd_file_targets{`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := get(t, srv.base+"/-/ready"); code != 200 {
		t.Errorf("/-/ready: %d", code)
	}
	code, fed := get(t, srv.base+`/federate?match[]={__name__="corral_collector_state"}`)
	if code != 200 || strings.Count(fed, "\ncorral_collector_state{") != 4*6 {
		t.Errorf("/federate: %d, %d series\n%s", code, strings.Count(fed, "\ncorral_collector_state{"), fed)
	}
	if code, _ := get(t, srv.base+"/federate"); code != 400 {
		t.Errorf("/federate without match[]: %d", code)
	}

	// A broken edit keeps the file's last good targets; the error shows per file.
	sdFile := filepath.Join(dir, "sd", "fleet.yml")
	good, _ := os.ReadFile(sdFile)
	writeFile(t, sdFile, string(good)+"- targets: [\n")
	waitMetrics(t, srv.base, 30*time.Second, `corral_sd_file_error{file="`+sdFile+`"} 1`)
	if _, body := get(t, srv.base+"/metrics"); !hasStatus(body, "ok", "online") && !hasStatus(body, "ok", "slow") {
		t.Errorf("a broken file dropped its targets:\n%s", grep(body, "corral_collector_status{", "} 1"))
	}
	// Removing a collector from the file stops it; it disappears from /metrics.
	writeFile(t, sdFile, strings.SplitAfterN(string(good), "\n", 3)[0]+strings.SplitAfterN(string(good), "\n", 3)[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, srv.base+"/metrics")
		if !strings.Contains(body, `collector="paused"`) && hasStatus(body, "ok", "online") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("removed target still published")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A bad config reload keeps the old config and says so.
	cfgGood, _ := os.ReadFile(cfgPath)
	writeFile(t, cfgPath, string(cfgGood)+"  - job_name: fleet\n    registry: true\n")
	code, msg := postReload(t, srv.base, session(t, srv.base, "admin", e2ePassword), "")
	if code != 500 || !strings.Contains(msg, "used twice") {
		t.Errorf("bad reload: %d %s", code, msg)
	}
	waitMetrics(t, srv.base, 20*time.Second, "corral_config_last_reload_successful 0")
	// SIGHUP with a good config: a new static target appears, the others keep going.
	writeFile(t, cfgPath, string(cfgGood)+"  - job_name: more\n    static_configs: [{targets: ['"+addrs["paused"]+"'], labels: {collector: paused-again}}]\n")
	srv.reload <- struct{}{}
	waitMetrics(t, srv.base, 30*time.Second, "corral_config_last_reload_successful 1")
	waitStatuses(t, srv.base, 30*time.Second, map[string]string{"paused-again": "paused", "ok": "online"})

	// After a restart the status history and buckets are as before, and go on.
	srv.stop()
	st, err := store.Open(context.Background(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := st.StatusHistory(context.Background(), "ok", time.Time{}, time.Now().Add(time.Hour), 10)
	if err != nil || len(hist) == 0 || hist[len(hist)-1].To != "online" {
		t.Fatalf("history of ok: %v %+v", err, hist)
	}
	now := time.Now().UTC()
	bs, _ := st.Buckets(context.Background(), "ok", "1h", now.Truncate(time.Hour), now.Truncate(time.Hour))
	if len(bs) != 1 || bs[0].ScrapesTotal == 0 || bs[0].ActualItems == 0 {
		t.Fatalf("hour bucket of ok: %+v", bs)
	}
	before := bs[0]
	cs, _ := st.Collectors(context.Background())
	st.Close()
	if len(cs) < 4 {
		t.Errorf("collectors kept: %d", len(cs))
	}
	srv2 := startServer(t, cfgPath, storage)
	waitStatuses(t, srv2.base, 60*time.Second, map[string]string{"ok": "online"})
	time.Sleep(time.Second)
	srv2.stop()
	st, _ = store.Open(context.Background(), storage, nil)
	defer st.Close()
	bs, _ = st.Buckets(context.Background(), "ok", "1h", before.Start, before.Start)
	if bs[0].ScrapesTotal <= before.ScrapesTotal || bs[0].ActualItems < before.ActualItems {
		t.Errorf("bucket did not continue after the restart: before %+v, after %+v", before, bs[0])
	}
	hist2, _ := st.StatusHistory(context.Background(), "ok", time.Time{}, time.Now().Add(time.Hour), 10)
	if len(hist2) != len(hist) {
		t.Errorf("a restart added history rows for a collector that stayed online: %d → %d", len(hist), len(hist2))
	}
}

func TestServerOnPostgres(t *testing.T) {
	_, cfgPath, _ := setup(t)
	srv := startServer(t, cfgPath, testdb.Postgres(t))
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"ok": "online", "broken": "error"})
}

func TestConfigCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := CheckConfig("../configs/corral.example.yml", &out, &errb); code != 0 || !strings.Contains(out.String(), "job collectors") {
		t.Errorf("example: %d %s %s", code, out.String(), errb.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("global: {scrape_intervall: 1s}\n"), 0o644)
	out.Reset()
	errb.Reset()
	if code := CheckConfig(bad, &out, &errb); code != 2 || !strings.Contains(errb.String(), "scrape_intervall") {
		t.Errorf("bad: %d %s", code, errb.String())
	}
}

func TestDefaultStartNeedsNoConfig(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	srv := startServer(t, "", "")
	waitMetrics(t, srv.base, 10*time.Second, `corral_collectors{status="online"} 0`)
	srv.stop()
	if _, err := os.Stat(filepath.Join(dir, "data", "corral.db")); err != nil {
		t.Errorf("embedded store not in ./data: %v", err)
	}
}

// TestAPIBehindLogin: the first start creates the admin from CORRAL_ADMIN_PASSWORD;
// the collectors API answers only with a session or token.
func TestAPIBehindLogin(t *testing.T) {
	_, cfgPath, _ := setup(t)
	t.Setenv("CORRAL_ADMIN_PASSWORD", "correct horse battery staple")
	srv := startServer(t, cfgPath, "sqlite:"+filepath.Join(t.TempDir(), "corral.db"))
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"ok": "online"})
	if code, _ := get(t, srv.base+"/api/v1/collectors"); code != 401 {
		t.Errorf("unauthenticated list: %d", code)
	}
	resp, err := http.Post(srv.base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"admin","password":"correct horse battery staple"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", srv.base+"/api/v1/collectors?sort=id", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) || !strings.Contains(string(body), `"stale"`) {
		t.Errorf("list as admin: %d %s", resp.StatusCode, body)
	}

	// Real-time events: refused without a session, heartbeats with one.
	wsURL := "ws" + strings.TrimPrefix(srv.base, "http") + "/api/v1/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, r, err := websocket.Dial(ctx, wsURL, nil); err == nil || r == nil || r.StatusCode != 401 {
		t.Errorf("websocket without a session: %v", err)
	}
	hdr := http.Header{}
	for _, c := range req.Cookies() {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	conn.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","collectors":["ok"],"types":["collector:heartbeat"]}`))
	// Events sent before the subscription took effect may come first.
	for i := 0; ; i++ {
		_, msg, err := conn.Read(ctx)
		if err != nil || i > 100 {
			t.Fatalf("no heartbeat of ok: %v", err)
		}
		if strings.Contains(string(msg), `"collector:heartbeat"`) && strings.Contains(string(msg), `"collector":"ok"`) {
			break
		}
	}
}

// TestWebSocketScope: every role receives events of exactly the collectors in its
// scope — the four demo collectors live in org default, "ok" also in team a.
func TestWebSocketScope(t *testing.T) {
	_, cfgPath, _ := setup(t)
	storage := "sqlite:" + filepath.Join(t.TempDir(), "corral.db")
	st, err := store.Open(context.Background(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash, err := auth.HashPassword("pw-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"default", "other"} {
		if err := st.CreateOrg(ctx, store.Org{ID: o, Name: o}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateTeam(ctx, store.Team{Org: "default", ID: "a", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	all := "broken ok paused stale"
	cases := []struct {
		user    string
		binding *store.RoleBinding
		want    string
	}{
		{"super", &store.RoleBinding{Role: "super_admin"}, all},
		{"orgadmin", &store.RoleBinding{Role: "org_admin", Org: "default"}, all},
		{"lead-a", &store.RoleBinding{Role: "team_lead", Org: "default", Team: "a"}, "ok"},
		{"viewer-org", &store.RoleBinding{Role: "viewer", Org: "default"}, all},
		{"viewer-a", &store.RoleBinding{Role: "viewer", Org: "default", Team: "a"}, "ok"},
		{"outsider", &store.RoleBinding{Role: "org_admin", Org: "other"}, ""},
		{"norole", nil, ""},
	}
	for _, c := range cases {
		var bs []store.RoleBinding
		if c.binding != nil {
			bs = append(bs, *c.binding)
		}
		if _, err := st.CreateUser(ctx, store.User{Username: c.user, PasswordHash: hash}, bs...); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	srv := startServer(t, cfgPath, storage)
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"ok": "online", "paused": "paused"})

	collect := func(user string) string {
		resp, err := http.Post(srv.base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"pw-for-tests"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("login %s: %d", user, resp.StatusCode)
		}
		hdr := http.Header{}
		for _, c := range resp.Cookies() {
			hdr.Add("Cookie", c.Name+"="+c.Value)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.base, "http")+"/api/v1/ws", &websocket.DialOptions{HTTPHeader: hdr})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(websocket.StatusNormalClosure, "")
		seen := map[string]bool{}
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				break // the 2 s are up: several scrape rounds of every collector
			}
			var e struct{ Collector string }
			json.Unmarshal(msg, &e)
			seen[e.Collector] = true
		}
		var ids []string
		for id := range seen {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return strings.Join(ids, " ")
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			if got := collect(c.user); got != c.want {
				t.Errorf("%s saw events of [%s], want [%s]", c.user, got, c.want)
			}
		})
	}
}
