package realprom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStartPrograms starts the real Alertmanager and Prometheus on loopback,
// posts an alert to one and has the other scrape it; Alertmanager keeps
// its port across Stop and Start.
func TestStartPrograms(t *testing.T) {
	am := StartAlertmanager(t, "")
	body, _ := json.Marshal([]map[string]any{{"labels": map[string]string{"alertname": "Probe", "collector": "c"},
		"endsAt": time.Now().Add(time.Hour)}})
	resp, err := http.Post(am.URL()+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
	as, err := Alerts(am)
	if err != nil || len(as) != 1 || as[0].Labels["alertname"] != "Probe" {
		t.Fatalf("alerts %+v, %v", as, err)
	}
	port := am.Port
	am.Stop()
	if _, err := Alerts(am); err == nil {
		t.Fatal("Alertmanager still answers after Stop")
	}
	am.Start()
	if am.Port != port {
		t.Fatalf("port %d after restart, want %d", am.Port, port)
	}

	p := StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
  - job_name: alertmanager
    static_configs: [{targets: ['127.0.0.1:%d']}]
`, am.Port), nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(p.URL() + "/api/v1/query?query=up")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"job":"alertmanager"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped anything: %s\n%s", b, p.Output())
		}
	}
}
