package remotewrite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/configs"
)

// receiver is a Remote Write 1.0 receiver on loopback: it decodes what it is
// sent as Prometheus's receiver does (snappy, prompb.WriteRequest) and
// answers 503 (or an other status) while told to.
type receiver struct {
	*httptest.Server
	status atomic.Int32 // 0: 204 No Content

	mu      sync.Mutex
	series  map[string][]prompb.Sample // by label set
	headers []http.Header
	errs    []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{series: map[string][]prompb.Sample{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if code := r.status.Load(); code != 0 {
		http.Error(w, "not now", int(code))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.headers = append(r.headers, req.Header.Clone())
	body, _ := io.ReadAll(req.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		r.errs = append(r.errs, "snappy: "+err.Error())
		http.Error(w, err.Error(), 400)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		r.errs = append(r.errs, "proto: "+err.Error())
		http.Error(w, err.Error(), 400)
		return
	}
	for _, ts := range wr.Timeseries {
		var ls []string
		for i, l := range ts.Labels {
			if i > 0 && ts.Labels[i-1].Name >= l.Name {
				r.errs = append(r.errs, "labels not sorted: "+fmt.Sprint(ts.Labels))
			}
			ls = append(ls, l.Name+"="+l.Value)
		}
		k := strings.Join(ls, ",")
		r.series[k] = append(r.series[k], ts.Samples...)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.series {
		n += len(s)
	}
	return n
}

func queueConfig(t *testing.T, url, extra string) configs.RemoteWriteConfig {
	t.Helper()
	y := "url: " + url + "\nqueue_config: {batch_send_deadline: 50ms, min_backoff: 10ms, max_backoff: 100ms, max_samples_per_send: 20}\n" + extra
	var c configs.RemoteWriteConfig
	dec := yaml.NewDecoder(strings.NewReader(y))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.Name = "test"
	for _, rc := range c.WriteRelabelConfigs {
		if err := rc.Validate(model.UTF8Validation); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.HTTPClientConfig.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func startQueue(t *testing.T, c configs.RemoteWriteConfig, external map[string]string) (*Queue, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	q, err := NewQueue(context.Background(), c, external, nil, NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Stop)
	return q, reg
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
	}
}

// TestRemoteWrite10: samples reach a real receiver in the Remote Write 1.0
// protocol (its headers, snappy, sorted labels), with the configured
// headers and basic auth, external labels added where missing, and
// write_relabel_configs applied.
func TestRemoteWrite10(t *testing.T) {
	rcv := newReceiver(t)
	c := queueConfig(t, rcv.URL+"/api/v1/write", `headers: {X-Scope-OrgID: fleet}
basic_auth: {username: corral, password: s3cret}
write_relabel_configs:
  - {source_labels: [__name__], regex: drop_me, action: drop}
  - {target_label: via, replacement: corral}
`)
	q, reg := startQueue(t, c, map[string]string{"cluster": "eu", "job": "never"})
	for i := range 10 {
		q.Append(labels.FromStrings("__name__", "items_total", "job", "a", "n", fmt.Sprint(i%3)), float64(i), int64(1000+i))
	}
	q.Append(labels.FromStrings("__name__", "drop_me", "job", "a"), 1, 1000)
	waitUntil(t, "10 samples received", 5*time.Second, func() bool { return rcv.count() == 10 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.errs) > 0 {
		t.Fatalf("receiver: %v", rcv.errs)
	}
	s := rcv.series["__name__=items_total,cluster=eu,job=a,n=1,via=corral"]
	if len(s) != 3 || s[0].Timestamp != 1001 || s[0].Value != 1 || s[2].Timestamp != 1007 {
		t.Errorf("series n=1: %v; all: %v", s, rcv.series)
	}
	h := rcv.headers[0]
	user, pass, _ := (&http.Request{Header: h}).BasicAuth()
	for k, want := range map[string]string{
		"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0", "X-Scope-Orgid": "fleet",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s: %q, want %q", k, got, want)
		}
	}
	if user != "corral" || pass != "s3cret" {
		t.Errorf("basic auth %q/%q", user, pass)
	}
	rcv.mu.Unlock()
	waitUntil(t, "samples_total 10", 5*time.Second, func() bool { return metric(t, reg, "corral_remote_write_samples_total") == 10 })
	rcv.mu.Lock()
}

// TestReceiverDownThenUp: while the receiver answers 503 and then refuses
// connections, samples wait in the queue and are retried with backoff; when
// it is back, every one arrives, in order per series, none dropped.
func TestReceiverDownThenUp(t *testing.T) {
	rcv := newReceiver(t)
	c := queueConfig(t, rcv.URL, "")
	q, reg := startQueue(t, c, nil)
	rcv.status.Store(http.StatusServiceUnavailable)
	const n = 600
	for i := range n {
		q.Append(labels.FromStrings("__name__", "m", "series", fmt.Sprint(i%7)), float64(i), int64(i))
		if i%100 == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil(t, "retries while down", 5*time.Second, func() bool { return metric(t, reg, "corral_remote_write_retried_samples_total") > 0 })
	if got := metric(t, reg, "corral_remote_write_pending_samples"); got != n {
		t.Errorf("pending while down: %v, want %d", got, n)
	}
	rcv.status.Store(0)
	waitUntil(t, "all samples after the receiver is back", 10*time.Second, func() bool { return rcv.count() == n })
	rcv.mu.Lock()
	for k, s := range rcv.series {
		if !sort.SliceIsSorted(s, func(i, j int) bool { return s[i].Timestamp < s[j].Timestamp }) {
			t.Errorf("series %s out of order", k)
		}
	}
	rcv.mu.Unlock()
	if d := metric(t, reg, "corral_remote_write_dropped_samples_total"); d != 0 {
		t.Errorf("dropped %v, want 0", d)
	}
	waitUntil(t, "nothing pending", 2*time.Second, func() bool { return metric(t, reg, "corral_remote_write_pending_samples") == 0 })
}

// TestQueueBound: with the receiver down, a shard keeps capacity samples and
// drops (and counts) the rest; those kept arrive once it is back.
func TestQueueBound(t *testing.T) {
	rcv := newReceiver(t)
	c := queueConfig(t, rcv.URL, "")
	c.QueueConfig.Capacity, c.QueueConfig.MinShards, c.QueueConfig.MaxShards = 50, 1, 1
	q, reg := startQueue(t, c, nil)
	rcv.status.Store(http.StatusBadGateway)
	for i := range 80 {
		q.Append(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), 1, int64(i))
	}
	if d := metric(t, reg, "corral_remote_write_dropped_samples_total"); d != 30 {
		t.Errorf("dropped %v, want 30", d)
	}
	rcv.status.Store(0)
	waitUntil(t, "the 50 kept", 10*time.Second, func() bool { return rcv.count() == 50 })
	time.Sleep(200 * time.Millisecond)
	if got := rcv.count(); got != 50 {
		t.Errorf("received %d, want 50", got)
	}
}

// TestRefusedAndRateLimited: a 400 is not retried, its samples are counted
// as failed; a 429 is retried unless retry_on_http_429 is false.
func TestRefusedAndRateLimited(t *testing.T) {
	for _, c := range []struct {
		name       string
		status     int32
		retry429   bool
		wantFailed bool
	}{
		{"400", http.StatusBadRequest, true, true},
		{"429 retried", http.StatusTooManyRequests, true, false},
		{"429 not retried", http.StatusTooManyRequests, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rcv := newReceiver(t)
			cfg := queueConfig(t, rcv.URL, "")
			cfg.QueueConfig.RetryOnRateLimit = c.retry429
			q, reg := startQueue(t, cfg, nil)
			rcv.status.Store(c.status)
			for i := range 5 {
				q.Append(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), 1, 1)
			}
			if c.wantFailed {
				waitUntil(t, "5 failed samples", 5*time.Second, func() bool { return metric(t, reg, "corral_remote_write_failed_samples_total") == 5 })
				return
			}
			waitUntil(t, "retries", 5*time.Second, func() bool { return metric(t, reg, "corral_remote_write_retried_samples_total") > 0 })
			rcv.status.Store(0)
			waitUntil(t, "the samples after the 429s", 5*time.Second, func() bool { return rcv.count() == 5 })
			if f := metric(t, reg, "corral_remote_write_failed_samples_total"); f != 0 {
				t.Errorf("failed %v after retried 429s", f)
			}
		})
	}
}

// TestReshard: a backlog the shards do not keep up with grows them up to
// max_shards, and no sample is lost or reordered while they change.
func TestReshard(t *testing.T) {
	old := reshardEvery
	reshardEvery = 100 * time.Millisecond
	t.Cleanup(func() { reshardEvery = old })
	var slow atomic.Bool
	slow.Store(true)
	rcv := newReceiver(t)
	inner := rcv.Server.Config.Handler
	rcv.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(30 * time.Millisecond)
		}
		inner.ServeHTTP(w, r)
	})
	c := queueConfig(t, rcv.URL, "")
	c.QueueConfig.MaxShards = 4
	q, reg := startQueue(t, c, nil)
	const n = 3000
	for i := range n {
		q.Append(labels.FromStrings("__name__", "m", "s", fmt.Sprint(i%11)), 1, int64(i))
	}
	waitUntil(t, "more shards", 5*time.Second, func() bool { return metric(t, reg, "corral_remote_write_shards") > 1 })
	slow.Store(false)
	waitUntil(t, "every sample", 20*time.Second, func() bool { return rcv.count() == n })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for k, s := range rcv.series {
		if !sort.SliceIsSorted(s, func(i, j int) bool { return s[i].Timestamp < s[j].Timestamp }) {
			t.Errorf("series %s out of order across a reshard", k)
		}
	}
}
