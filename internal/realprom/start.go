package realprom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort is a loopback port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Proc is one of the programs running; Stop and Start keep its port,
// config and data folder, as a restart of the real service would.
type Proc struct {
	t     testing.TB
	name  string
	bin   string
	args  []string
	Port  int
	Dir   string // its config and data
	ready string // path answering 200 once it is ready

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
}

// URL is http://127.0.0.1:<port>.
func (p *Proc) URL() string { return "http://127.0.0.1:" + strconv.Itoa(p.Port) }

// Start runs the program and waits until it is ready (60s at most).
func (p *Proc) Start() {
	p.t.Helper()
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		p.t.Fatalf("%s is running already", p.name)
	}
	cmd := exec.Command(p.bin, p.args...)
	p.out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: p.out}, &lockedWriter{w: p.out}
	cmd.Dir = p.Dir
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL() + p.ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			p.t.Fatalf("%s exited before it was ready:\n%s", p.name, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			p.t.Fatalf("%s not ready on %s within 60s:\n%s", p.name, p.URL(), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the program (SIGTERM, SIGKILL after 10s) and waits for it.
func (p *Proc) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Output is what the program printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// DefaultAlertmanagerConfig routes every alert to a receiver that sends
// nothing: the tests read the alerts back from the API.
const DefaultAlertmanagerConfig = `route:
  receiver: "null"
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: "null"
`

// StartAlertmanager runs the real Alertmanager on a free loopback port with
// config (DefaultAlertmanagerConfig when empty), clustering off, and stops
// it when the test ends.
func StartAlertmanager(t testing.TB, config string) *Proc {
	t.Helper()
	b := Binaries(t)
	if config == "" {
		config = DefaultAlertmanagerConfig
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, name: "alertmanager", bin: b.Alertmanager, Port: FreePort(t), Dir: dir, ready: "/-/ready"}
	p.args = []string{"--config.file=" + filepath.Join(dir, "alertmanager.yml"), "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(p.Port), "--cluster.listen-address=", "--log.level=warn"}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// StartPrometheus runs the real Prometheus on a free loopback port with
// config (a prometheus.yml; files it names may be written into Dir before,
// see NewPrometheus) and stops it when the test ends.
func StartPrometheus(t testing.TB, config string, files map[string]string) *Proc {
	t.Helper()
	p := NewPrometheus(t, config, files)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// NewPrometheus is StartPrometheus without the start: Dir holds
// prometheus.yml and files, and Port is chosen.
func NewPrometheus(t testing.TB, config string, files map[string]string) *Proc {
	t.Helper()
	b := Binaries(t)
	dir := t.TempDir()
	files = mapWith(files, "prometheus.yml", config)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &Proc{t: t, name: "prometheus", bin: b.Prometheus, Port: FreePort(t), Dir: dir, ready: "/-/ready"}
	p.args = []string{"--config.file=" + filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(p.Port), "--log.level=warn", "--web.enable-remote-write-receiver"}
	return p
}

func mapWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// AMAlert is an alert as Alertmanager's GET /api/v2/alerts lists it.
type AMAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"` // active, suppressed, unprocessed
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

// Alerts are the unresolved alerts Alertmanager holds (GET
// /api/v2/alerts: an alert whose endsAt has passed is not listed).
func Alerts(am *Proc) ([]AMAlert, error) {
	resp, err := http.Get(am.URL() + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /api/v2/alerts: %s: %s", resp.Status, b)
	}
	var out []AMAlert
	return out, json.NewDecoder(resp.Body).Decode(&out)
}
