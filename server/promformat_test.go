package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

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
	srv := startServer(t, cfg, "sqlite:"+filepath.Join(dir, "corral.db"))
	waitStatuses(t, srv.base, 20*time.Second, map[string]string{"om1": "online"})

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
