package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/internal/realprom"
)

// alertEvents subscribes to the alert events of the WebSocket as user and
// sends each "<type> <collector> <alertname>" to the channel.
func alertEvents(t *testing.T, s *Server, user string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hdr := http.Header{"Authorization": {"Bearer " + s.Tokens[user]}}
	conn, _, err := websocket.Dial(ctx, "ws://"+s.Addr+"/api/v1/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); conn.CloseNow() })
	sub := `{"action":"subscribe","types":["` + wire.EventAlertFiring + `","` + wire.EventAlertResolved + `"]}`
	if err := conn.Write(ctx, websocket.MessageText, []byte(sub)); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 64)
	go func() {
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var e wire.Event[wire.Alert]
			if json.Unmarshal(b, &e) == nil && strings.HasPrefix(e.Type, "alert:") {
				select {
				case out <- e.Type + " " + e.Collector + " " + e.Data.Name:
				default:
				}
			}
		}
	}()
	return out
}

// waitEvent waits for event want on ch.
func waitEvent(t *testing.T, ch <-chan string, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no WebSocket event %q within %s", want, within)
		}
	}
}

// amAlert is the CollectorDown alert of collector in Alertmanager, if it
// holds one.
func amAlert(t *testing.T, am *realprom.Proc, collector string) (realprom.AMAlert, bool) {
	t.Helper()
	as, err := realprom.Alerts(am)
	if err != nil {
		return realprom.AMAlert{}, false // stopped or starting: not there
	}
	for _, a := range as {
		if a.Labels["alertname"] == "CollectorDown" && a.Labels["collector"] == collector {
			return a, true
		}
	}
	return realprom.AMAlert{}, false
}

func waitAM(t *testing.T, am *realprom.Proc, collector string, want bool, within time.Duration) (realprom.AMAlert, time.Duration) {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(within); ; time.Sleep(100 * time.Millisecond) {
		a, ok := amAlert(t, am, collector)
		if ok == want {
			return a, time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager: CollectorDown of %s present=%v after %s, want %v\n%s", collector, ok, within, want, am.Output())
		}
	}
}

// restartAgent starts a killed agent again on its port.
func restartAgent(t *testing.T, a *Agent) {
	t.Helper()
	a.Proc = start(t, "corral-agent", nil, "run", "--config", a.Config)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", a.Port))
		if err == nil {
			resp.Body.Close()
			return
		}
		if a.Exited() || time.Now().After(deadline) {
			t.Fatalf("agent on port %d did not come back: %v", a.Port, err)
		}
	}
}

// corralAlert is the state of collector's CollectorDown in GET /api/v1/alerts.
func corralAlert(t *testing.T, s *Server, collector string) string {
	t.Helper()
	var list wire.List[wire.Alert]
	if code, err := s.Call("viewer", "GET", "/api/v1/alerts", nil, &list); err != nil || code != 200 {
		t.Fatalf("GET /api/v1/alerts: %d %v", code, err)
	}
	for _, a := range list.Data {
		if a.Name == "CollectorDown" && a.Collector == collector {
			return a.State
		}
	}
	return "none"
}

// TestAlertsReachAlertmanager runs the real corral, a simulated fleet, one
// agent of its own and the real Alertmanager: the agent killed, its
// CollectorDown fires in GET /api/v1/alerts and on the WebSocket, and
// reaches Alertmanager with the labels routing needs; the agent back, the
// alert resolves in all three; Alertmanager stopped while an agent
// dies, the alert waits in corral's queue and reaches Alertmanager once it
// is back.
func TestAlertsReachAlertmanager(t *testing.T) {
	am := realprom.StartAlertmanager(t, "")
	s := NewServer(t, ServerOptions{})
	sim := StartSim(t, s.Dir, SimOptions{N: 3, Key: s.PublicKey})
	a := StartAgent(t, s.Dir, "victim", "collector: {name: victim, kind: synthetic, interval: 1s}")
	s.WriteConfig(fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 800ms, thresholds: {offline_after: 3s}}
scrape_configs:
  - job_name: sim
    file_sd_configs: [{files: ['%s']}]
  - job_name: agents
    static_configs: [{targets: ['%s'], labels: {collector: victim, team: db, group: eu-west}}]
alerting:
  evaluation_interval: 500ms
  resend_delay: 2s
  external_url: https://corral.example.com
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:%d']}]
      timeout: 2s
  rules:
    CollectorDown: {for: 1s}
`, sim.SDFile, a.Target(), am.Port))
	s.Start()
	s.WaitStatus("victim", "online", 30*time.Second)
	s.WaitStatus("sim-0000", "online", 30*time.Second)
	if _, ok := amAlert(t, am, "victim"); ok {
		t.Fatal("CollectorDown in Alertmanager before anything went down")
	}
	events := alertEvents(t, s, "viewer")

	killed := time.Now()
	a.Kill()
	got, _ := waitAM(t, am, "victim", true, 30*time.Second)
	tFire := time.Since(killed)
	want := map[string]string{"alertname": "CollectorDown", "collector": "victim", "job": "agents", "instance": a.Target(),
		"org": "default", "team": "db", "group": "eu-west", "severity": "critical"}
	for k, v := range want {
		if got.Labels[k] != v {
			t.Errorf("label %s=%q in Alertmanager, want %q (all: %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if got.Annotations["runbook_url"] == "" || got.Annotations["collector_url"] != "https://corral.example.com/collectors/victim" ||
		!strings.Contains(got.Annotations["description"], "offline") || got.GeneratorURL != got.Annotations["collector_url"] {
		t.Errorf("annotations %v, generatorURL %s", got.Annotations, got.GeneratorURL)
	}
	if got.Status.State != "active" {
		t.Errorf("Alertmanager state %q, want active", got.Status.State)
	}
	if _, ok := amAlert(t, am, "sim-0000"); ok {
		t.Error("an online collector of the simulated fleet alerted")
	}
	if st := corralAlert(t, s, "victim"); st != wire.AlertFiring {
		t.Errorf("GET /api/v1/alerts: victim's CollectorDown is %s, want firing", st)
	}
	waitEvent(t, events, "alert:firing victim CollectorDown", 5*time.Second)

	restartAgent(t, a)
	back := time.Now()
	waitAM(t, am, "victim", false, 30*time.Second)
	tResolve := time.Since(back)
	if st := corralAlert(t, s, "victim"); st != wire.AlertResolved {
		t.Errorf("GET /api/v1/alerts after the agent came back: %s, want resolved", st)
	}
	waitEvent(t, events, "alert:resolved victim CollectorDown", 5*time.Second)

	// Alertmanager down while the agent dies again: the alert waits.
	am.Stop()
	a.Kill()
	for deadline := time.Now().Add(30 * time.Second); corralAlert(t, s, "victim") != wire.AlertFiring; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("CollectorDown never fired again in corral")
		}
	}
	var queued, errs float64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m := s.Metrics()
		queued, _ = metricValue(m, `corral_notifications_queue_length{alertmanager="http://127.0.0.1:`+fmt.Sprint(am.Port)+`/api/v2/alerts"}`)
		errs, _ = metricValue(m, `corral_notifications_errors_total{alertmanager="http://127.0.0.1:`+fmt.Sprint(am.Port)+`/api/v2/alerts"}`)
		if queued > 0 && errs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with Alertmanager down: queue_length %v, errors_total %v; want both above 0", queued, errs)
		}
	}
	time.Sleep(3 * time.Second) // an outage longer than a re-send
	am.Start()
	restarted := time.Now()
	waitAM(t, am, "victim", true, 30*time.Second)
	tDeliver := time.Since(restarted)
	m := s.Metrics()
	dropped, _ := metricValue(m, "corral_notifications_dropped_total")
	if dropped != 0 {
		t.Errorf("corral_notifications_dropped_total %v, want 0", dropped)
	}
	record(t, Row{
		Fault: "Alertmanager down while an agent dies",
		Shown: fmt.Sprintf("CollectorDown in Alertmanager %s after the kill (for: 1s, offline_after 3s), resolved %s after the agent was back; with Alertmanager down %.0f alert(s) queued, %.0f failed send(s) counted, delivered %s after it restarted",
			since(tFire), since(tResolve), queued, errs, since(tDeliver)),
		Lost: "nothing: corral_notifications_dropped_total 0",
	})
}
