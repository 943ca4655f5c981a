package exporter_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dtopkg "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// fixture is a real agent behind a real HTTP server and a signer whose key it trusts.
type fixture struct {
	agent  *exporter.Agent
	srv    *httptest.Server
	signer *control.Signer
	pub    ed25519.PublicKey
	cancel context.CancelFunc
	done   chan error
}

func newFixture(t *testing.T, c exporter.Collector, mod func(*exporter.Options)) *fixture {
	t.Helper()
	return makeFixture(t, c, mod, true)
}

// newIdleFixture does not start the schedule: every collection is commanded.
func newIdleFixture(t *testing.T, c exporter.Collector, mod func(*exporter.Options)) *fixture {
	t.Helper()
	return makeFixture(t, c, mod, false)
}

func makeFixture(t *testing.T, c exporter.Collector, mod func(*exporter.Options), run bool) *fixture {
	t.Helper()
	pub, priv, err := control.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	opts := exporter.Options{
		Name:        "test-collector",
		Kind:        "synthetic",
		Version:     "v0.0.0-test",
		Interval:    time.Hour, // collections in these tests are commanded
		TrustedKeys: []ed25519.PublicKey{pub},
		StatePath:   filepath.Join(t.TempDir(), "agent.state.json"),
	}
	if mod != nil {
		mod(&opts)
	}
	a, err := exporter.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{agent: a, signer: control.NewSigner(priv), pub: pub, done: make(chan error, 1)}
	f.srv = httptest.NewServer(a.Handler())
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
		go func() { f.done <- a.Run(ctx) }()
	}
	t.Cleanup(func() {
		f.stop()
		f.srv.Close()
	})
	return f
}

func (f *fixture) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

var cmdSeq atomic.Int64

func (f *fixture) send(t *testing.T, command string, args any) (control.Response, int) {
	t.Helper()
	var raw json.RawMessage
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		raw = b
	}
	req := control.Request{ID: fmt.Sprintf("cmd-%d", cmdSeq.Add(1)), Command: command, Args: raw}
	resp, status, err := f.signer.Send(context.Background(), f.srv.Client(), f.srv.URL, "test-collector", req)
	if err != nil {
		t.Fatalf("send %s: %v", command, err)
	}
	return resp, status
}

// health fetches the agent's /healthz: the status code and the decoded body.
func (f *fixture) health(t *testing.T) (int, exporter.Health) {
	t.Helper()
	var h exporter.Health
	code := getJSON(t, f.srv.URL+"/healthz", &h)
	return code, h
}

// getJSON fetches url and decodes its JSON body, whatever the status, into
// out; it returns the status code.
func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

func scrape(t *testing.T, url string) map[string]*dto {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	return parse(t, resp.Body)
}

type dto = familyValues

// familyValues maps "name{labels}" to a value, for readable assertions.
type familyValues struct{ values map[string]float64 }

func parse(t *testing.T, r io.Reader) map[string]*dto {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto{}
	for name, mf := range fams {
		fv := &familyValues{values: map[string]float64{}}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := strings.Join(labels, ",")
			switch {
			case m.Gauge != nil:
				fv.values[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				fv.values[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				fv.values[key] = float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				fv.values[key] = m.GetUntyped().GetValue()
			}
		}
		out[name] = fv
	}
	return out
}

func value(t *testing.T, fams map[string]*dto, name, labels string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	v, ok := f.values[labels]
	if !ok {
		t.Fatalf("metric %s{%s} missing; have %v", name, labels, f.values)
	}
	return v
}

func TestContractMetricsArePresentAndLintClean(t *testing.T) {
	f := newIdleFixture(t, synthetic.New(synthetic.Config{Rate: 1000}, 1), func(o *exporter.Options) {
		o.ExpectedItems = 60
		o.ExpectedInterval = time.Minute
	})
	if resp, _ := f.send(t, control.Collect, nil); !resp.OK {
		t.Fatalf("collect: %+v", resp)
	}
	fams := scrape(t, f.srv.URL)
	for _, name := range []string{
		"corral_collector_info", "corral_collector_state", "corral_collector_items_total",
		"corral_collector_last_item_timestamp_seconds", "corral_collector_expected_items",
		"corral_collector_expected_interval_seconds", "corral_collector_collections_total",
		"corral_collector_collection_duration_seconds", "corral_collector_last_collection_timestamp_seconds",
		"corral_collector_config_generation", "corral_collector_commands_total",
		"corral_collector_backfill_progress_ratio", "corral_collector_backfill_running", "corral_collector_backfill_items_total",
		"process_start_time_seconds", "process_resident_memory_bytes", "go_goroutines", "synthetic_value",
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("missing %s", name)
		}
	}
	if v := value(t, fams, "corral_collector_info", "collector=test-collector,kind=synthetic,version=v0.0.0-test"); v != 1 {
		t.Errorf("info = %v", v)
	}
	states := 0.0
	for _, s := range exporter.States() {
		states += value(t, fams, "corral_collector_state", "state="+s)
	}
	if states != 1 || value(t, fams, "corral_collector_state", "state=running") != 1 {
		t.Errorf("state set: %v", fams["corral_collector_state"].values)
	}
	if value(t, fams, "corral_collector_items_total", "") <= 0 {
		t.Error("no items counted after a collection at 1000 items/s")
	}
	if ts := value(t, fams, "corral_collector_last_item_timestamp_seconds", ""); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("last item timestamp %v is not recent", ts)
	}
	if value(t, fams, "corral_collector_expected_items", "") != 60 || value(t, fams, "corral_collector_expected_interval_seconds", "") != 60 {
		t.Error("expectation not exposed")
	}
	if value(t, fams, "corral_collector_collections_total", "result=success") != 1 {
		t.Error("collections_total{result=success} != 1")
	}
	if value(t, fams, "corral_collector_commands_total", "command=collect,result=ok") != 1 {
		t.Error("commands_total not counted")
	}

	problems, err := promlint.NewWithMetricFamilies(gather(t, f.agent)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "corral_") || strings.HasPrefix(p.Metric, "synthetic_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestHealthzCodes(t *testing.T) {
	fail := &switchable{}
	f := newIdleFixture(t, fail, func(o *exporter.Options) { o.Retry.Attempts = 1 })
	if code, h := f.health(t); code != 503 || h.State != exporter.StateStarting {
		t.Errorf("before the first collection: %d %s, want 503 starting", code, h.State)
	}
	f.send(t, control.Collect, nil)
	if code, h := f.health(t); code != 200 || h.State != exporter.StateRunning || !h.Healthy || h.LastCollection == nil {
		t.Errorf("after a success: %d %+v", code, h)
	}
	fail.fail.Store(true)
	if resp, _ := f.send(t, control.Collect, nil); resp.OK {
		t.Error("a failing collection answered ok")
	}
	code, h := f.health(t)
	if code != 503 || h.State != exporter.StateError || !strings.Contains(h.LastError, "source down") {
		t.Errorf("after a failure: %d %+v", code, h)
	}
	f.send(t, control.Pause, map[string]string{"reason": "maintenance"})
	if code, h := f.health(t); code != 200 || h.State != exporter.StatePaused || h.PausedReason != "maintenance" {
		t.Errorf("paused: %d %+v", code, h)
	}
}

// switchable succeeds with one item until fail is set.
type switchable struct {
	fail  atomic.Bool
	calls atomic.Int64
}

func (s *switchable) Collect(ctx context.Context) (exporter.Result, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return exporter.Result{}, errors.New("source down")
	}
	return exporter.Result{Items: 1, Newest: time.Now()}, nil
}

func TestSignedPauseShowsInMetricsAndSurvivesRestart(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "agent.state.json")
	col := synthetic.New(synthetic.Config{}, 1)
	f := newFixture(t, col, func(o *exporter.Options) { o.StatePath = statePath })
	resp, status := f.send(t, control.Pause, map[string]string{"reason": "db maintenance"})
	if status != 200 || !resp.OK {
		t.Fatalf("pause: %d %+v", status, resp)
	}
	if v := value(t, scrape(t, f.srv.URL), "corral_collector_state", "state=paused"); v != 1 {
		t.Fatalf("corral_collector_state{state=paused} = %v", v)
	}
	resp, _ = f.send(t, control.UpdateConfig, map[string]any{"interval": "30s", "rate": 5})
	if !resp.OK {
		t.Fatalf("update_config: %+v", resp)
	}
	f.stop()

	// A new agent on the same state file: still paused, same generation, same config.
	pub := f.pub
	a2, err := exporter.New(synthetic.New(synthetic.Config{}, 2), exporter.Options{
		Name: "test-collector", Kind: "synthetic", StatePath: statePath, TrustedKeys: []ed25519.PublicKey{pub},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := a2.Health()
	if h.State != exporter.StatePaused || h.ConfigGeneration != 1 || h.PausedReason != "db maintenance" {
		t.Errorf("after restart: %+v", h)
	}
	fams := gatherValues(t, a2)
	if value(t, fams, "corral_collector_config_generation", "") != 1 {
		t.Error("config generation not restored")
	}
}

func TestCommandsAreIdempotentByID(t *testing.T) {
	col := &switchable{}
	f := newIdleFixture(t, col, nil)
	req := control.Request{ID: "same-id", Command: control.Collect}
	for i := range 3 {
		resp, status, err := f.signer.Send(context.Background(), f.srv.Client(), f.srv.URL, "test-collector", req)
		if err != nil || status != 200 || !resp.OK {
			t.Fatalf("try %d: %v %d %+v", i, err, status, resp)
		}
	}
	if n := col.calls.Load(); n != 1 {
		t.Errorf("collect ran %d times for one command id", n)
	}
	req.Command = control.Pause
	if _, status, _ := f.signer.Send(context.Background(), f.srv.Client(), f.srv.URL, "test-collector", req); status != http.StatusConflict {
		t.Errorf("id reused for another command: status %d, want 409", status)
	}
}

// blockingCollector blocks each collection until release is closed.
type blockingCollector struct {
	calls   atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (s *blockingCollector) Collect(ctx context.Context) (exporter.Result, error) {
	if s.calls.Add(1) == 1 {
		close(s.started)
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return exporter.Result{}, ctx.Err()
	}
	return exporter.Result{Items: 1, Newest: time.Now()}, nil
}

// TestCommandRetriedWhileRunningRunsOnce sends a command id again while its
// first request is still being carried out, as a server that timed out or was
// restarted does: the second request waits for the first answer, and the
// command runs once.
func TestCommandRetriedWhileRunningRunsOnce(t *testing.T) {
	col := &blockingCollector{started: make(chan struct{}), release: make(chan struct{})}
	f := newIdleFixture(t, col, nil)
	req := control.Request{ID: "slow-id", Command: control.Collect}
	type answer struct {
		resp   control.Response
		status int
		err    error
	}
	first := make(chan answer, 1)
	go func() {
		r, s, err := f.signer.Send(context.Background(), f.srv.Client(), f.srv.URL, "test-collector", req)
		first <- answer{r, s, err}
	}()
	<-col.started
	second := make(chan answer, 1)
	go func() {
		r, s, err := f.signer.Send(context.Background(), f.srv.Client(), f.srv.URL, "test-collector", req)
		second <- answer{r, s, err}
	}()
	// A retry whose own deadline passes first is told to ask again, not run.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	r, status, err := f.signer.Send(ctx, f.srv.Client(), f.srv.URL, "test-collector", req)
	cancel()
	if err == nil && (status == http.StatusOK || r.OK) {
		t.Fatalf("a retry answered %d %+v while the first request was still running", status, r)
	}
	close(col.release)
	for _, ch := range []chan answer{first, second} {
		a := <-ch
		if a.err != nil || a.status != http.StatusOK || !a.resp.OK {
			t.Fatalf("answer: %v %d %+v", a.err, a.status, a.resp)
		}
	}
	if n := col.calls.Load(); n != 1 {
		t.Errorf("collect ran %d times for one command id sent three times at once", n)
	}
}

// TestHealthListsCurrentConfig: /healthz says what update_config would change,
// the runner's keys and the collector's, as they are now.
func TestHealthListsCurrentConfig(t *testing.T) {
	col := synthetic.New(synthetic.Config{Rate: 2}, 1)
	f := newIdleFixture(t, col, nil)
	config := func() map[string]any {
		t.Helper()
		_, h := f.health(t)
		out := map[string]any{}
		for _, k := range h.Config {
			if k.Doc == "" {
				t.Errorf("key %s has no doc", k.Key)
			}
			out[k.Key] = k.Value
		}
		return out
	}
	before := config()
	if before["rate"] != 2.0 || before["lag"] != "0s" || before["interval"] == nil || before["series"] == nil {
		t.Fatalf("config before: %v", before)
	}
	if resp, status := f.send(t, control.UpdateConfig, map[string]any{"rate": 5, "interval": "2s", "lag": "3s"}); status != 200 || !resp.OK {
		t.Fatalf("update_config: %d %+v", status, resp)
	}
	after := config()
	if after["rate"] != 5.0 || after["interval"] != "2s" || after["lag"] != "3s" {
		t.Errorf("config after update_config: %v", after)
	}
}

func TestControlRejectsBadRequests(t *testing.T) {
	f := newFixture(t, &switchable{}, nil)
	post := func(body, auth string) (int, control.Response) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/control", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r control.Response
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r
	}
	sign := func(body string) string {
		tok, err := f.signer.Token("test-collector", "POST", "/control", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	_, other, _ := control.GenerateKey()
	otherTok, _ := control.NewSigner(other).Token("test-collector", "POST", "/control", []byte(`{"id":"a","command":"pause"}`))
	wrongAud, _ := f.signer.Token("someone-else", "POST", "/control", []byte(`{"id":"a","command":"pause"}`))
	swapped, _ := f.signer.Token("test-collector", "POST", "/logs", []byte(`{"id":"a","command":"pause"}`))
	cases := []struct {
		name, body, auth string
		want             int
	}{
		{"missing token", `{"id":"a","command":"pause"}`, "", 401},
		{"garbage token", `{"id":"a","command":"pause"}`, "Bearer abc.def.ghi", 401},
		{"wrong key", `{"id":"a","command":"pause"}`, "Bearer " + otherTok, 401},
		{"wrong audience", `{"id":"a","command":"pause"}`, "Bearer " + wrongAud, 403},
		{"path swapped", `{"id":"a","command":"pause"}`, "Bearer " + swapped, 403},
		{"body tampered", `{"id":"a","command":"resume"}`, sign(`{"id":"a","command":"pause"}`), 403},
		{"malformed body", `{"id":"a","command":`, sign(`{"id":"a","command":`), 400},
		{"unknown command", `{"id":"a","command":"selfdestruct"}`, sign(`{"id":"a","command":"selfdestruct"}`), 400},
		{"bad args", `{"id":"b","command":"update_config","args":{"interval":"x"}}`, sign(`{"id":"b","command":"update_config","args":{"interval":"x"}}`), 400},
		{"args not an object", `{"id":"c","command":"pause","args":[1]}`, sign(`{"id":"c","command":"pause","args":[1]}`), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, resp := post(c.body, c.auth)
			if status != c.want {
				t.Errorf("status %d, want %d (%+v)", status, c.want, resp)
			}
			if resp.Error == "" {
				t.Error("no reason given")
			}
		})
	}
	if f.agent.State() == exporter.StatePaused {
		t.Error("a rejected request paused the agent")
	}
	// The replay of a good request is refused.
	body := `{"id":"r1","command":"resume"}`
	auth := sign(body)
	if status, _ := post(body, auth); status != 200 {
		t.Fatalf("first use: %d", status)
	}
	if status, _ := post(body, auth); status != 401 {
		t.Errorf("replay: %d, want 401", status)
	}
}

func TestBackfillProgressRefusalAndPause(t *testing.T) {
	col := synthetic.New(synthetic.Config{Rate: 1, BackfillStep: time.Hour, BackfillDelay: 20 * time.Millisecond}, 1)
	f := newFixture(t, col, nil)
	to := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	from := to.Add(-200 * time.Hour)
	resp, _ := f.send(t, control.Backfill, map[string]any{"from": from, "to": to})
	if !resp.OK {
		t.Fatalf("backfill: %+v", resp)
	}
	resp, _ = f.send(t, control.Backfill, map[string]any{"from": from, "to": to})
	if resp.OK || !strings.Contains(resp.Error, "already running") {
		t.Errorf("second backfill: %+v", resp)
	}
	waitFor(t, func() bool {
		fams := scrape(t, f.srv.URL)
		return value(t, fams, "corral_collector_backfill_progress_ratio", "") > 0.05 &&
			value(t, fams, "corral_collector_backfill_items_total", "") > 0 &&
			value(t, fams, "corral_collector_backfill_running", "") == 1
	})
	f.send(t, control.Pause, nil)
	waitFor(t, func() bool { b := f.agent.Health().Backfill; return b != nil && !b.Running })
	// Stopped below 1: the server tells a stopped backfill from a finished one by this.
	if fams := scrape(t, f.srv.URL); value(t, fams, "corral_collector_backfill_running", "") != 0 ||
		value(t, fams, "corral_collector_backfill_progress_ratio", "") >= 1 {
		t.Errorf("stopped backfill exposes running %v progress %v", value(t, fams, "corral_collector_backfill_running", ""),
			value(t, fams, "corral_collector_backfill_progress_ratio", ""))
	}
	b := f.agent.Health().Backfill
	if b.Progress >= 1 || !strings.Contains(b.Error, "stopped") {
		t.Errorf("backfill after pause: %+v", b)
	}
	resp, _ = f.send(t, control.Backfill, map[string]any{"from": from, "to": to})
	if resp.OK || !strings.Contains(resp.Error, "paused") {
		t.Errorf("backfill while paused: %+v", resp)
	}
	// Resumed, a short backfill runs to the end.
	f.send(t, control.Resume, nil)
	resp, _ = f.send(t, control.Backfill, map[string]any{"from": to.Add(-3 * time.Hour), "to": to})
	if !resp.OK {
		t.Fatalf("backfill: %+v", resp)
	}
	waitFor(t, func() bool { b := f.agent.Health().Backfill; return b != nil && !b.Running })
	if b := f.agent.Health().Backfill; b.Progress != 1 || b.Items != 3*3600 || b.Error != "" {
		t.Errorf("finished backfill: %+v", b)
	}
}

func TestUpdateConfigValidatesEverythingFirst(t *testing.T) {
	f := newFixture(t, synthetic.New(synthetic.Config{}, 1), nil)
	resp, status := f.send(t, control.UpdateConfig, map[string]any{"interval": "10s", "missing_ratio": 2})
	if status != 400 || resp.OK || !strings.Contains(resp.Error, "missing_ratio") {
		t.Errorf("invalid collector key: %d %+v", status, resp)
	}
	if g := f.agent.Health().ConfigGeneration; g != 0 {
		t.Errorf("generation moved on a refused change: %d", g)
	}
	resp, status = f.send(t, control.UpdateConfig, map[string]any{"interval": "fast"})
	if status != 400 || !strings.Contains(resp.Error, "interval") {
		t.Errorf("bad interval: %d %+v", status, resp)
	}
	resp, _ = f.send(t, control.UpdateConfig, map[string]any{"interval": "10s", "expected_items": 20, "missing_ratio": 0.1})
	if !resp.OK {
		t.Fatalf("valid change: %+v", resp)
	}
	fams := scrape(t, f.srv.URL)
	if value(t, fams, "corral_collector_config_generation", "") != 1 || value(t, fams, "corral_collector_expected_items", "") != 20 {
		t.Error("change not visible in /metrics")
	}
}

func TestUpdateConfigOnCollectorWithoutConfig(t *testing.T) {
	f := newFixture(t, &switchable{}, nil)
	resp, status := f.send(t, control.UpdateConfig, map[string]any{"query_limit": 5})
	if status != 400 || !strings.Contains(resp.Error, "query_limit") {
		t.Errorf("%d %+v", status, resp)
	}
}

func TestRotateCredentials(t *testing.T) {
	f := newFixture(t, synthetic.New(synthetic.Config{}, 1), nil)
	newPub, newPriv, _ := control.GenerateKey()
	token := "s3cret-token"
	sum := sha256.Sum256([]byte(token))
	resp, _ := f.send(t, control.RotateCredentials, map[string]any{
		"add_keys":             []string{control.FormatPublicKey(newPub)},
		"remove_keys":          []string{control.FormatPublicKey(f.pub)},
		"metrics_token_sha256": hex.EncodeToString(sum[:]),
	})
	if !resp.OK {
		t.Fatalf("rotate: %+v", resp)
	}
	// The old key no longer works; the new one does.
	if _, status := f.send(t, control.Collect, nil); status != 401 {
		t.Errorf("old key after rotation: %d, want 401", status)
	}
	f.signer = control.NewSigner(newPriv)
	if resp, status := f.send(t, control.Collect, nil); status != 200 || !resp.OK {
		t.Errorf("new key: %d %+v", status, resp)
	}
	// /metrics now wants the token.
	res, _ := http.Get(f.srv.URL + "/metrics")
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("/metrics without token: %d", res.StatusCode)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/metrics with token: %d", res.StatusCode)
	}
	// Removing the last key is refused.
	resp, status := f.send(t, control.RotateCredentials, map[string]any{"remove_keys": []string{control.FormatPublicKey(newPub)}})
	if status != 400 || resp.OK {
		t.Errorf("removing the last key: %d %+v", status, resp)
	}
}

func TestLogsEndpoint(t *testing.T) {
	buf := exporter.NewLogBuffer(5)
	f := newFixture(t, &switchable{}, func(o *exporter.Options) {
		o.Logs = buf
		o.Logger = slogFor(buf)
	})
	for range 4 {
		f.send(t, control.Collect, nil)
	}
	get := func(q string) exporter.LogPage {
		var p exporter.LogPage
		getJSON(t, f.srv.URL+"/logs"+q, &p)
		return p
	}
	p := get("?limit=2")
	if len(p.Records) != 2 || p.Missed == 0 {
		t.Fatalf("first page: %+v", p)
	}
	if p.Records[0].Cursor >= p.Records[1].Cursor {
		t.Error("cursors not increasing")
	}
	q := get(fmt.Sprintf("?after=%d", p.Next))
	if len(q.Records) == 0 || q.Records[0].Cursor != p.Next+1 || q.Stream != p.Stream {
		t.Errorf("next page: %+v", q)
	}
	if r, _ := http.Get(f.srv.URL + "/logs?limit=x"); r.StatusCode != 400 {
		t.Errorf("bad limit: %d", r.StatusCode)
	}
}

// TestStateMachineInVirtualTime drives the schedule, retries and the waiting state
// with testing/synctest: no sleeps, exact timing.
func TestStateMachineInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		col := &switchable{}
		// Active only from 10:00 to 11:00 UTC; synctest starts at 2000-01-01 00:00 UTC.
		sched := &exporter.WeeklySchedule{From: 10 * time.Hour, To: 11 * time.Hour}
		for i := range sched.Days {
			sched.Days[i] = true
		}
		a, err := exporter.New(col, exporter.Options{
			Name: "vt", Interval: 10 * time.Minute, Schedule: sched,
			Retry: exporter.RetryPolicy{Attempts: 3, InitialBackoff: time.Second}, ErrorAfter: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- a.Run(ctx) }()
		synctest.Wait()
		if a.State() != exporter.StateWaiting || col.calls.Load() != 0 {
			t.Fatalf("outside the window: %s, %d calls", a.State(), col.calls.Load())
		}
		time.Sleep(10*time.Hour + time.Second)
		synctest.Wait()
		if a.State() != exporter.StateRunning || col.calls.Load() == 0 {
			t.Fatalf("inside the window: %s, %d calls", a.State(), col.calls.Load())
		}
		col.fail.Store(true)
		before := col.calls.Load()
		time.Sleep(10*time.Minute - time.Second + 5*time.Second) // the run at 10:10 and its retries at +1s, +3s
		synctest.Wait()
		if got := col.calls.Load() - before; got != 3 {
			t.Errorf("a failed run made %d attempts, want 3", got)
		}
		if a.State() != exporter.StateRunning {
			t.Errorf("one failed run (error_after 2): %s", a.State())
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if a.State() != exporter.StateError {
			t.Errorf("two failed runs: %s", a.State())
		}
		col.fail.Store(false)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if a.State() != exporter.StateRunning {
			t.Errorf("after a success: %s", a.State())
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if a.State() != exporter.StateWaiting {
			t.Errorf("after the window: %s", a.State())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestShutdownLetsCollectionFinish: a collection in flight when the context ends
// finishes (within StopTimeout) before Run returns; one that overruns is cancelled.
func TestShutdownLetsCollectionFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		col := &slowCollector{d: 3 * time.Second}
		a, _ := exporter.New(col, exporter.Options{Name: "s", Interval: time.Minute, StopTimeout: 5 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(time.Second) // collection in flight
		cancel()
		start := time.Now()
		<-done
		if col.finished.Load() != 1 || time.Since(start) != 2*time.Second {
			t.Errorf("finished=%d after %s", col.finished.Load(), time.Since(start))
		}

		col = &slowCollector{d: time.Hour}
		a, _ = exporter.New(col, exporter.Options{Name: "s", Interval: 2 * time.Hour, StopTimeout: 5 * time.Second})
		ctx, cancel = context.WithCancel(context.Background())
		go func() { done <- a.Run(ctx) }()
		time.Sleep(time.Second)
		cancel()
		start = time.Now()
		<-done
		if col.cancelled.Load() != 1 || time.Since(start) != 5*time.Second {
			t.Errorf("overrunning collection: cancelled=%d after %s", col.cancelled.Load(), time.Since(start))
		}
	})
}

type slowCollector struct {
	d                   time.Duration
	finished, cancelled atomic.Int64
}

func (s *slowCollector) Collect(ctx context.Context) (exporter.Result, error) {
	select {
	case <-time.After(s.d):
		s.finished.Add(1)
		return exporter.Result{Items: 1, Newest: time.Now()}, nil
	case <-ctx.Done():
		s.cancelled.Add(1)
		return exporter.Result{}, ctx.Err()
	}
}

func TestConcurrentCommandsAndScrapes(t *testing.T) {
	f := newFixture(t, synthetic.New(synthetic.Config{Rate: 100}, 1), nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			cmds := []string{control.Collect, control.Pause, control.Resume, control.TestConnection}
			for j := range 10 {
				f.send(t, cmds[(i+j)%len(cmds)], nil)
				scrape(t, f.srv.URL)
			}
		})
	}
	wg.Wait()
}

func gather(t *testing.T, a *exporter.Agent) []*dtopkg.MetricFamily {
	t.Helper()
	fams, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func gatherValues(t *testing.T, a *exporter.Agent) map[string]*dto {
	t.Helper()
	var b strings.Builder
	for _, mf := range gather(t, a) {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return parse(t, strings.NewReader(b.String()))
}

func slogFor(buf *exporter.LogBuffer) *slog.Logger {
	return slog.New(buf.Handler(nil, slog.LevelDebug))
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTokenRotationGrace: after rotate_credentials sets a new /metrics token,
// the old one works for the grace period and not after; the grace survives a
// restart through the state file.
func TestTokenRotationGrace(t *testing.T) {
	oldSum := sha256.Sum256([]byte("old-token"))
	state := filepath.Join(t.TempDir(), "agent.state.json")
	f := newFixture(t, synthetic.New(synthetic.Config{}, 1), func(o *exporter.Options) {
		o.MetricsTokenSHA256 = hex.EncodeToString(oldSum[:])
		// Long enough for the checks below on a loaded machine (-race, the
		// whole suite at once: 300 ms was not).
		o.TokenGrace = 4 * time.Second
		o.StatePath = state
	})
	status := func(tok string) int {
		req, _ := http.NewRequest("GET", f.srv.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	newSum := sha256.Sum256([]byte("new-token"))
	resp, _ := f.send(t, control.RotateCredentials, map[string]any{"metrics_token_sha256": hex.EncodeToString(newSum[:])})
	answered := time.Now() // the grace started before this
	if !resp.OK || !strings.Contains(fmt.Sprint(resp.Result), "previous_token_valid_until") {
		t.Fatalf("rotate: %+v", resp)
	}
	if status("new-token") != 200 || status("old-token") != 200 || status("other") != 401 {
		t.Errorf("during the grace: new %d, old %d, other %d", status("new-token"), status("old-token"), status("other"))
	}
	b, _ := os.ReadFile(state)
	if !strings.Contains(string(b), "prev_token_until") {
		t.Errorf("grace not in the state file: %s", b)
	}
	time.Sleep(time.Until(answered.Add(4*time.Second + 100*time.Millisecond)))
	if status("old-token") != 401 || status("new-token") != 200 {
		t.Errorf("after the grace: old %d, new %d", status("old-token"), status("new-token"))
	}
}

// TestRotatedTokenAfterRestart: at start the newer of the config's /metrics
// token and the one rotate_credentials kept in the state file wins. The
// rotation is newer while the config still has the token it replaced; a config
// with another token (a re-registration answered it) was changed after.
func TestRotatedTokenAfterRestart(t *testing.T) {
	hash := func(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }
	for _, tc := range []struct {
		name    string
		config  string // the token in the config at the restart; "" none
		legacy  bool   // the state file does not say what the rotation replaced
		source  string
		good    []string // tokens /metrics takes after the restart
		refused []string
	}{
		{name: "config unchanged: the rotation wins", config: "config-token", source: "rotation", good: []string{"rotated-token"}, refused: []string{"other"}},
		{name: "config changed: the config wins", config: "reregistered-token", source: "config", good: []string{"reregistered-token"}, refused: []string{"rotated-token", "config-token"}},
		{name: "config token removed: the config wins", config: "", source: "none", good: []string{"anything"}},
		{name: "old state file: the rotation wins", config: "reregistered-token", legacy: true, source: "rotation", good: []string{"rotated-token"}, refused: []string{"reregistered-token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "agent.state.json")
			f := newIdleFixture(t, synthetic.New(synthetic.Config{}, 1), func(o *exporter.Options) {
				o.MetricsTokenSHA256, o.StatePath, o.TokenGrace = hash("config-token"), state, time.Nanosecond
			})
			if resp, _ := f.send(t, control.RotateCredentials, map[string]any{"metrics_token_sha256": hash("rotated-token")}); !resp.OK {
				t.Fatalf("rotate: %+v", resp)
			}
			if h := f.agent.Health(); h.MetricsTokenSource != "rotation" {
				t.Errorf("after the rotation: metrics_token_source %q", h.MetricsTokenSource)
			}
			f.stop()
			f.srv.Close()
			if tc.legacy {
				b, _ := os.ReadFile(state)
				var st map[string]any
				if err := json.Unmarshal(b, &st); err != nil || st["replaced_config_token_sha256"] != hash("config-token") {
					t.Fatalf("the state file does not say what the rotation replaced: %s", b)
				}
				delete(st, "replaced_config_token_sha256")
				b, _ = json.Marshal(st)
				if err := os.WriteFile(state, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			g := newIdleFixture(t, synthetic.New(synthetic.Config{}, 1), func(o *exporter.Options) {
				o.StatePath, o.MetricsTokenSHA256 = state, ""
				if tc.config != "" {
					o.MetricsTokenSHA256 = hash(tc.config)
				}
			})
			status := func(tok string) int {
				req, _ := http.NewRequest("GET", g.srv.URL+"/metrics", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			for _, tok := range tc.good {
				if c := status(tok); c != 200 {
					t.Errorf("token %s: %d, want 200", tok, c)
				}
			}
			for _, tok := range tc.refused {
				if c := status(tok); c != 401 {
					t.Errorf("token %s: %d, want 401", tok, c)
				}
			}
			if len(tc.refused) > 0 {
				// The refusal says which token the agent takes.
				res, err := http.Get(g.srv.URL + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if rotated := strings.Contains(string(b), "rotate_credentials"); rotated != (tc.source == "rotation") {
					t.Errorf("401 body %s, for a token from %s", b, tc.source)
				}
			}
			if h := g.agent.Health(); h.MetricsTokenSource != tc.source {
				t.Errorf("metrics_token_source %q, want %q", h.MetricsTokenSource, tc.source)
			}
		})
	}
}
