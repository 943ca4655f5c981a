package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/exportertest"
)

// These tests run the real corral-agent binary: built once, started as a process,
// talked to over HTTP, stopped with signals.

var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "corral-agent-bin")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "corral-agent")
	out, err := exec.Command("go", "build", "-o", agentBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build corral-agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type proc struct {
	cmd    *exec.Cmd
	stderr *logFile
}

// start runs the agent with its output in a file: a process it respawns inherits
// the file, where a pipe would keep Wait waiting for the new process too.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "agent-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	p := &proc{cmd: exec.Command(agentBin, args...), stderr: &logFile{f}}
	p.cmd.Stderr = f
	p.cmd.Stdout = f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
	})
	return p
}

func writeConfig(t *testing.T, dir string, port int, pub string, extra string, interval string) string {
	t.Helper()
	path := filepath.Join(dir, "agent.yml")
	cfg := fmt.Sprintf(`collector:
  name: e2e
  kind: synthetic
  interval: %s
  synthetic: {rate: 100%s}
listen: {address: "127.0.0.1:%d"}
control: {trusted_keys: ["%s"]}
log: {level: debug}
`, interval, extra, port, pub)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within 15s", url)
}

func metric(t *testing.T, base, prefix string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix+" ") {
			return strings.TrimPrefix(sc.Text(), prefix+" ")
		}
	}
	return ""
}

func health(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestBadConfigExitsWithTwo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yml")
	os.WriteFile(path, []byte("collector: {name: a, kind: synthetic, intervall: 5s}\n"), 0o644)
	for _, args := range [][]string{{"run", "--config", path}, {"check", "config", path}} {
		out, err := exec.Command(agentBin, args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "intervall") {
			t.Errorf("%v: err %v, output %s", args, err, out)
		}
	}
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("collector: {name: a, kind: synthetic}\n"), 0o644)
	out, err := exec.Command(agentBin, "check", "config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("check config good: %v %s", err, out)
	}
	out, _ = exec.Command(agentBin, "--help").CombinedOutput()
	for _, w := range []string{"run", "check config", "simulate"} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("--help does not mention %q:\n%s", w, out)
		}
	}
}

// TestPauseAndRestartAcrossProcesses: a signed pause shows in /metrics, a signed
// restart starts a new process (new pid, new process_start_time_seconds) that is
// still paused.
func TestPauseAndRestartAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	pub, priv, _ := control.GenerateKey()
	cfg := writeConfig(t, dir, port, control.FormatPublicKey(pub), "", "1s")
	p := start(t, "run", "--config", cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/healthz")

	signer := control.NewSigner(priv)
	send := func(id, cmd string) control.Response {
		resp, status, err := signer.Send(context.Background(), nil, base, "e2e", control.Request{ID: id, Command: cmd})
		if err != nil || status != 200 || !resp.OK {
			t.Fatalf("%s: %v %d %+v\n%s", cmd, err, status, resp, p.stderr)
		}
		return resp
	}
	send("p1", control.Pause)
	if v := metric(t, base, `corral_collector_state{state="paused"}`); v != "1" {
		t.Fatalf(`corral_collector_state{state="paused"} = %q`, v)
	}
	startBefore := metric(t, base, "process_start_time_seconds")
	pidBefore := health(t, base)["pid"].(float64)
	time.Sleep(20 * time.Millisecond) // process start times have 10 ms resolution
	send("r1", control.Restart)
	// The old process exits 0 after starting the new one.
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("old process: %v\n%s", err, p.stderr)
	}
	var h map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h["pid"] != nil && h["pid"].(float64) != pidBefore {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new process within 15s\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	newPID := int(h["pid"].(float64))
	t.Cleanup(func() { syscall.Kill(newPID, syscall.SIGKILL) })
	if h["state"] != "paused" {
		t.Errorf("after restart the state is %v, want paused", h["state"])
	}
	if after := metric(t, base, "process_start_time_seconds"); after == startBefore {
		t.Errorf("process_start_time_seconds unchanged: %s", after)
	}
	// The restart command id is remembered across the restart: no second restart.
	resp := send("r1", control.Restart)
	if b, _ := json.Marshal(resp.Result); !strings.Contains(string(b), fmt.Sprint(int(pidBefore))) {
		t.Errorf("re-sent restart did not return the first answer: %s", b)
	}
	time.Sleep(300 * time.Millisecond)
	if pid := health(t, base)["pid"].(float64); int(pid) != newPID {
		t.Errorf("re-sent restart id restarted again (pid %v → %v)", newPID, pid)
	}
	syscall.Kill(newPID, syscall.SIGTERM)
}

// TestSIGTERMDuringCollection: the in-flight collection finishes, the shutdown is
// logged, the exit status is 0.
func TestSIGTERMDuringCollection(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	pub, _, _ := control.GenerateKey()
	cfg := writeConfig(t, dir, port, control.FormatPublicKey(pub), ", slow: 1500ms", "5s")
	p := start(t, "run", "--config", cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/healthz")
	time.Sleep(500 * time.Millisecond) // the first collection (no jitter) is in flight
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s\n%s", p.stderr)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "collection done") || !strings.Contains(logs, "agent shut down") {
		t.Errorf("the in-flight collection or the shutdown is not in the log:\n%s", logs)
	}
	if strings.Contains(logs, "collection failed") {
		t.Errorf("the in-flight collection was cut off:\n%s", logs)
	}
}

func TestSimulate(t *testing.T) {
	dir := t.TempDir()
	sd := filepath.Join(dir, "sd", "fleet.yml")
	const n = 14
	base := exportertest.FreePorts(t, n)
	p := start(t, "simulate", "--count", fmt.Sprint(n), "--base-port", fmt.Sprint(base), "--interval", "1s",
		"--mix", "online=2,slow=2,stale=2,incomplete=2,error=2,waiting=2,paused=2", "--sd-file", sd, "--series", "5")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sd); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sd file\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(sd)
	var groups []struct {
		Targets []string          `yaml:"targets"`
		Labels  map[string]string `yaml:"labels"`
	}
	if err := yaml.Unmarshal(b, &groups); err != nil || len(groups) != n {
		t.Fatalf("sd file: %v, %d groups\n%s", err, len(groups), b)
	}
	time.Sleep(2500 * time.Millisecond)
	want := map[string]string{"paused": "paused", "waiting": "waiting", "error": "error", "online": "running", "stale": "running", "incomplete": "running", "slow": "running"}
	for _, g := range groups {
		url := "http://" + g.Targets[0]
		waitHTTP(t, url+"/healthz")
		st := health(t, url)["state"]
		if st != want[g.Labels["behaviour"]] {
			t.Errorf("%s (%s): state %v, want %s", g.Labels["collector"], g.Labels["behaviour"], st, want[g.Labels["behaviour"]])
		}
		if g.Labels["job"] != "simulate" || !strings.HasPrefix(g.Labels["collector"], "sim-") {
			t.Errorf("labels: %v", g.Labels)
		}
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("simulate exit: %v", err)
	}
}

// logFile is a process's output file, read back for assertions and messages.
type logFile struct{ f *os.File }

func (l *logFile) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}
