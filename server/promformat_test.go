package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/prompb"

	"github.com/corral-dev/corral/exporter/synthetic"
)

// prometheusAccept is the Accept header of a Prometheus 3 scrape with its
// default scrape_protocols.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"

// TestOpenMetricsNegotiation: /metrics and /federate answer OpenMetrics to a
// Prometheus asking for it (read back with Prometheus's own parser, # EOF
// and all) and the text format to a client that does not ask (curl's */*).
func TestOpenMetricsNegotiation(t *testing.T) {
	addr := agent(t, "om1", synthetic.Config{Rate: 10, Series: 2}, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "corral.yml")
	writeFile(t, cfg, fmt.Sprintf(`global: {scrape_interval: 200ms, scrape_timeout: 150ms}
scrape_configs:
  - job_name: om
    static_configs: [{targets: [%q], labels: {collector: om1}}]
`, addr))
	t.Setenv("CORRAL_ADMIN_PASSWORD", "om-test-password")
	srv := startServer(t, cfg, "sqlite:"+filepath.Join(dir, "corral.db"))
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"om1": "online"})

	// The agent answered OpenMetrics; the API's latest scrape is still the
	// text format, its families named as the text format names them.
	code, latest := do(t, "GET", srv.base+"/api/v1/collectors/om1/metrics", session(t, srv.base, "admin", "om-test-password"))
	if code != 200 || !strings.Contains(latest, "# TYPE corral_collector_items_total counter\ncorral_collector_items_total") {
		t.Errorf("latest metrics: %d, counter family not named as in the text format:\n%.600s", code, latest)
	}
	if _, err := textparse.NewPromParser([]byte(latest), labels.NewSymbolTable(), false).Next(); err != nil {
		t.Errorf("latest metrics do not parse: %v", err)
	}

	for _, path := range []string{"/metrics", "/federate?match[]=" + url.QueryEscape(`{job="om"}`)} {
		t.Run(strings.SplitN(path, "?", 2)[0], func(t *testing.T) {
			for _, c := range []struct {
				accept, wantType string
			}{
				{prometheusAccept, "application/openmetrics-text; version=1.0.0"},
				{"application/openmetrics-text;version=0.0.1", "application/openmetrics-text; version=0.0.1"},
				{"*/*", "text/plain; version=0.0.4"},
				{"", "text/plain; version=0.0.4"},
			} {
				req, _ := http.NewRequest("GET", srv.base+path, nil)
				if c.accept != "" {
					req.Header.Set("Accept", c.accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ct := resp.Header.Get("Content-Type")
				if resp.StatusCode != 200 || !strings.HasPrefix(ct, c.wantType) {
					t.Fatalf("Accept %q: %d, Content-Type %q; want %s", c.accept, resp.StatusCode, ct, c.wantType)
				}
				var p textparse.Parser
				if strings.HasPrefix(ct, "application/openmetrics-text") {
					if !strings.HasSuffix(string(body), "# EOF\n") {
						t.Fatalf("OpenMetrics without # EOF at the end")
					}
					p = textparse.NewOpenMetricsParser(body, labels.NewSymbolTable())
				} else {
					p = textparse.NewPromParser(body, labels.NewSymbolTable(), false)
				}
				found := false
				for {
					e, err := p.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("Accept %q: Prometheus's parser: %v", c.accept, err)
					}
					if e == textparse.EntrySeries {
						var ls labels.Labels
						p.Labels(&ls)
						if ls.Get("collector") == "om1" && ls.Get("job") == "om" {
							found = true
						}
					}
				}
				if !found {
					t.Errorf("Accept %q: no series of om1 with job om", c.accept)
				}
			}
		})
	}
}

// rwReceiver is a Remote Write 1.0 receiver on loopback (snappy,
// prompb.WriteRequest), keeping the label sets it was sent.
type rwReceiver struct {
	mu     sync.Mutex
	series map[string]bool
}

func (r *rwReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	raw, err := snappy.Decode(nil, body)
	var wr prompb.WriteRequest
	if err == nil {
		err = wr.Unmarshal(raw)
	}
	if err != nil || req.Header.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" {
		http.Error(w, fmt.Sprint("bad request: ", err), 400)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range wr.Timeseries {
		var ls []string
		for _, l := range ts.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		r.series[strings.Join(ls, ",")] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *rwReceiver) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.series {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// TestRemoteWriteEndToEnd: with remote_write in corral.yml, a receiver gets
// the agents' samples with their target labels (job, instance, collector),
// up, and the fleet series, with the external labels, minus what
// write_relabel_configs drop.
func TestRemoteWriteEndToEnd(t *testing.T) {
	addr := agent(t, "rw1", synthetic.Config{Rate: 10, Series: 2}, nil)
	rcv := &rwReceiver{series: map[string]bool{}}
	rs := httptest.NewServer(rcv)
	defer rs.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "corral.yml")
	writeFile(t, cfg, fmt.Sprintf(`global:
  scrape_interval: 200ms
  scrape_timeout: 150ms
  external_labels: {site: lab}
scrape_configs:
  - job_name: rw
    static_configs: [{targets: [%q], labels: {collector: rw1}}]
remote_write:
  - url: %s/api/v1/write
    queue_config: {batch_send_deadline: 100ms}
    write_relabel_configs:
      - {source_labels: [__name__], regex: 'go_.*', action: drop}
`, addr, rs.URL))
	srv := startServer(t, cfg, "sqlite:"+filepath.Join(dir, "corral.db"))
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"rw1": "online"})
	want := []string{
		"__name__=corral_collector_state,collector=rw1,instance=" + addr + ",job=rw,site=lab,state=running",
		"__name__=up,collector=rw1,instance=" + addr + ",job=rw,site=lab",
		"__name__=corral_collector_up,collector=rw1,instance=" + addr + ",job=rw,site=lab",
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		missing := ""
		for _, w := range want {
			if !rcv.has(w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver never got %s", missing)
		}
	}
	if rcv.has("__name__=go_") {
		t.Error("write_relabel_configs did not drop go_* series")
	}
	_, m := get(t, srv.base+"/metrics")
	if v := grep(m, `corral_remote_write_samples_total{remote_name="`, ""); v == "" || strings.HasSuffix(v, " 0") {
		t.Errorf("corral_remote_write_samples_total: %q", v)
	}
}
