package httpsd

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/targets"
)

// sdServer is a real HTTP SD server on loopback whose answer the test sets.
type sdServer struct {
	*httptest.Server
	mu          sync.Mutex
	status      int
	contentType string
	body        string
	refreshHdr  string
	auth        string
}

func newSDServer(t *testing.T) *sdServer {
	s := &sdServer{status: 200, contentType: "application/json"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.refreshHdr = r.Header.Get("X-Prometheus-Refresh-Interval-Seconds")
		s.auth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", s.contentType)
		w.WriteHeader(s.status)
		w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sdServer) set(status int, contentType, body string) {
	s.mu.Lock()
	s.status, s.contentType, s.body = status, contentType, body
	s.mu.Unlock()
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestDiscovery runs the provider against a real HTTP SD server: its groups,
// their source and __meta_url, a group that goes away, and failed refreshes
// (a 500, a wrong content type, garbage, a null group) that keep the last
// good targets, each logged once and counted.
func TestDiscovery(t *testing.T) {
	srv := newSDServer(t)
	srv.set(200, "application/json; charset=utf-8", `[{"targets": ["a:1", "b:1"], "labels": {"team": "data"}}, {"targets": ["c:1"]}]`)
	var cfg Config
	if err := yaml.Unmarshal([]byte("url: "+srv.URL+"/sd\nrefresh_interval: 200ms\nauthorization: {credentials: s3cret}\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var logs logBuf
	reg := prometheus.NewRegistry()
	d, err := New("j", cfg, slog.New(slog.NewTextHandler(&logs, nil)), NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan []*targets.Group, 100)
	go d.Run(ctx, up)

	recv := func() []*targets.Group {
		t.Helper()
		select {
		case gs := <-up:
			return gs
		case <-time.After(5 * time.Second):
			t.Fatal("no update within 5s")
			return nil
		}
	}
	gs := recv()
	if len(gs) != 2 || !slices.Equal(gs[0].Targets, []string{"a:1", "b:1"}) || gs[0].Labels["team"] != "data" ||
		gs[0].Labels[LabelURL] != srv.URL+"/sd" || gs[1].Source != srv.URL+"/sd:1" {
		t.Fatalf("groups %+v %+v", gs[0], gs[1])
	}
	srv.mu.Lock()
	hdr, auth := srv.refreshHdr, srv.auth
	srv.mu.Unlock()
	if hdr != "0.2" || auth != "Bearer s3cret" {
		t.Errorf("refresh header %q, authorization %q", hdr, auth)
	}

	// One group fewer: the missing source is sent empty.
	srv.set(200, "application/json", `[{"targets": ["a:1"]}]`)
	for {
		gs = recv()
		if len(gs) == 2 && len(gs[0].Targets) == 1 {
			break
		}
	}
	if gs[1].Source != srv.URL+"/sd:1" || len(gs[1].Targets) != 0 {
		t.Errorf("removed group sent as %+v", gs[1])
	}

	for _, bad := range []struct {
		status        int
		ct, body, err string
	}{
		{500, "application/json", `[]`, "HTTP status 500"},
		{200, "text/html", `<html>`, "unsupported content type"},
		{200, "application/json", `{not json`, "decoding the answer"},
		{200, "application/json", `[{"targets": ["a:1"]}, null]`, "nil target group"},
	} {
		srv.set(bad.status, bad.ct, bad.body)
		deadline := time.Now().Add(5 * time.Second)
		for d.LastError() == nil || !strings.Contains(d.LastError().Error(), bad.err) {
			if time.Now().After(deadline) {
				t.Fatalf("want error %q, have %v", bad.err, d.LastError())
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // a few more failed refreshes
		if n := logs.count(bad.err); n != 1 {
			t.Errorf("%q logged %d times, want once", bad.err, n)
		}
	}
	// Nothing was sent while failing: the last good targets stand.
	for len(up) > 0 {
		if gs := <-up; len(gs) != 2 || len(gs[0].Targets) != 1 {
			t.Errorf("sent %v while the URL was failing", gs)
		}
	}
	if v := testutil.ToFloat64(d.metrics.failures.WithLabelValues("j")); v < 8 {
		t.Errorf("corral_sd_http_failures_total = %v, want every failed refresh", v)
	}
	srv.set(200, "application/json", `[{"targets": ["z:1"]}]`)
	for gs = recv(); len(gs) == 0 || !slices.Equal(gs[0].Targets, []string{"z:1"}); gs = recv() {
	}
	if logs.count("works again") == 0 {
		t.Error("no recovery line")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct{ y, err string }{
		{"url: http://sd:8080/targets", ""},
		{"url: ''", "url: required"},
		{"url: 'ftp://sd/'", "want an http or https URL"},
		{"url: 'http:///x'", "with a host"},
		{"url: http://sd/\nrefresh_interval: 0s", "must be positive"},
		{"url: http://sd/\nbasic_auth: {username: u, password: p}\nauthorization: {credentials: c}", "at most one of"},
	} {
		var c Config
		dec := yaml.NewDecoder(strings.NewReader(tt.y))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", tt.y, err)
		}
		err := c.Validate("/etc/corral")
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: %v, want %q", tt.y, err, tt.err)
		}
		if tt.err == "" && (c.RefreshInterval != DefaultRefreshInterval || !c.HTTPClientConfig.FollowRedirects) {
			t.Errorf("defaults not applied: %+v", c)
		}
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader("url: http://sd/\nrefresh: 1m\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Error("unknown field accepted")
	}
}
