package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter/control"
)

// TestSimulatedRestartKeepsState: a simulated agent restarted by command comes
// back with its state file — still paused, and a re-sent restart id answered
// from memory instead of restarting it again.
func TestSimulatedRestartKeepsState(t *testing.T) {
	pub, priv, err := control.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	stateDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []SimAgent, 1)
	done := make(chan error, 1)
	go func() {
		done <- Simulate(ctx, SimulateOptions{Count: 1, BasePort: port, Interval: time.Second, Series: 1, Mix: "paused=1",
			TrustedKeys: []string{control.FormatPublicKey(pub)}, StateDir: stateDir, Ready: func(a []SimAgent) { ready <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var agents []SimAgent
	select {
	case agents = <-ready:
	case err := <-done:
		t.Fatalf("simulate: %v", err)
	}
	base := "http://" + agents[0].Address
	signer := control.NewSigner(priv)
	// startTime reads process_start_time_seconds and checks the agent is paused.
	startTime := func() float64 {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				continue // restarting
			}
			var start float64
			paused, stopping := false, false
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "process_start_time_seconds "); ok {
					start, _ = strconv.ParseFloat(v, 64)
				}
				paused = paused || line == `corral_collector_state{state="paused"} 1`
				stopping = stopping || line == `corral_collector_state{state="stopping"} 1`
			}
			if stopping {
				continue // the old instance on its way out
			}
			if !paused {
				t.Fatalf("not paused:\n%s", b)
			}
			return start
		}
		t.Fatal("agent did not answer /metrics")
		return 0
	}
	first := startTime()
	req := control.Request{ID: "restart-1", Command: control.Restart}
	if resp, status, err := signer.Send(ctx, nil, base, agents[0].Name, req); err != nil || status != 200 || !resp.OK {
		t.Fatalf("restart: %d %+v %v", status, resp, err)
	}
	var second float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if second = startTime(); second > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not restart")
		}
	}
	resp, status, err := signer.Send(ctx, nil, base, agents[0].Name, req)
	if err != nil || status != 200 || !resp.OK {
		t.Fatalf("re-sent restart: %d %+v %v", status, resp, err)
	}
	time.Sleep(300 * time.Millisecond)
	if third := startTime(); third != second {
		t.Fatalf("a re-sent restart id restarted the agent again")
	}
	if _, err := os.Stat(filepath.Join(stateDir, agents[0].Name+".json")); err != nil {
		t.Fatalf("no state file: %v", err)
	}
}

// TestSimulatedAgentServesLogs: a simulated agent keeps its own log records for
// /logs, as one started by run does, so corral has logs to pull from the demo fleet.
func TestSimulatedAgentServesLogs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []SimAgent, 1)
	done := make(chan error, 1)
	go func() {
		done <- Simulate(ctx, SimulateOptions{Count: 1, BasePort: port, Interval: time.Second, Series: 1, Mix: "online=1",
			StateDir: t.TempDir(), Ready: func(a []SimAgent) { ready <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var agents []SimAgent
	select {
	case agents = <-ready:
	case err := <-done:
		t.Fatalf("simulate: %v", err)
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + agents[0].Address + "/logs")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if resp.StatusCode == http.StatusOK && strings.Contains(body, `"collector started"`) {
			return
		}
	}
	t.Fatalf("no \"collector started\" record in /logs: %s", body)
}
