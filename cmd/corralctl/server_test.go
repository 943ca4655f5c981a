package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/exporter/synthetic"
)

// The control-plane tests run the real corral server — the binary built from
// ./cmd/corral, as operators run it — against real agents in this process.
// The server's wiring (scraper, dispatcher, lifecycle, bulk runner) lives in
// package main of cmd/corral, which cannot be imported; a copy of it here would
// test the copy.

// builtBin builds a command of this module once per test run.
type builtBin struct {
	once sync.Once
	path string
	err  error
}

var (
	binDir     string
	corralBin  builtBin
	corralctlB builtBin
)

func (b *builtBin) get(t *testing.T, pkg string) string {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(binDir, filepath.Base(pkg))
		out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	os.Unsetenv("CORRAL_TOKEN") // the tests' config file holds the token
	var err error
	if binDir, err = os.MkdirTemp("", "corralctl-test-bin"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

const adminPassword = "pw-for-tests-0123"

// fleet is a corral server and its agents for one test.
type fleet struct {
	t       *testing.T
	dir     string
	storage string
	pub     ed25519.PublicKey // the server's control key, which the agents trust
	agents  map[string]*testAgent
	targets []string        // the static targets' YAML
	noAgent map[string]bool // the dead targets
	base    string          // the server's URL once started
	cfg     string          // corralctl's config, logged in as admin

	mu  sync.Mutex
	log bytes.Buffer // the server's stderr
}

type testAgent struct {
	*exporter.Agent
	addr string
}

// newFleet makes the store and the server's key (corral keys show), so that
// agents can trust it before the server starts.
func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{t: t, dir: t.TempDir(), agents: map[string]*testAgent{}, noAgent: map[string]bool{}}
	f.storage = "sqlite:" + filepath.Join(f.dir, "corral.db")
	out, err := exec.Command(corralBin.get(t, "github.com/corral-dev/corral/cmd/corral"), "keys", "show", "--storage.url", f.storage).Output()
	if err != nil {
		t.Fatalf("corral keys show: %v", err)
	}
	if f.pub, err = control.ParsePublicKey(strings.TrimSpace(string(out))); err != nil {
		t.Fatalf("corral keys show printed %q: %v", out, err)
	}
	return f
}

// agent starts a real corral agent (synthetic collector) that trusts the
// server's key, and lists it as a static target with labels.
func (f *fleet) agent(name, labels string) *testAgent {
	f.t.Helper()
	a, err := exporter.New(synthetic.New(synthetic.Config{Rate: 50, BackfillDelay: 300 * time.Millisecond}, 1),
		exporter.Options{Name: name, Kind: "synthetic", Interval: 200 * time.Millisecond, TrustedKeys: []ed25519.PublicKey{f.pub}})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	srv := httptest.NewServer(a.Handler())
	f.t.Cleanup(func() { cancel(); <-done; srv.Close() })
	ta := &testAgent{Agent: a, addr: strings.TrimPrefix(srv.URL, "http://")}
	f.agents[name] = ta
	f.target(name, ta.addr, labels)
	return ta
}

// dead lists a target where no agent listens: connections are refused.
func (f *fleet) dead(name, labels string) {
	f.t.Helper()
	f.noAgent[name] = true
	f.target(name, freeAddr(f.t), labels)
}

func (f *fleet) target(name, addr, labels string) {
	if labels != "" {
		labels = ", " + labels
	}
	f.targets = append(f.targets, fmt.Sprintf("      - targets: ['%s']\n        labels: {collector: %s%s}\n", addr, name, labels))
}

// freeAddr is a local address nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var listenRE = regexp.MustCompile(`msg="corral started".* listen=(\S+)`)

// start writes corral.yml (the static targets, and a registry job), starts
// the server, logs corralctl in as admin and waits until the agents are
// online and the dead targets known.
func (f *fleet) start() {
	t := f.t
	t.Helper()
	cfg := filepath.Join(f.dir, "corral.yml")
	yml := `global:
  scrape_interval: 300ms
  scrape_timeout: 300ms
  thresholds: {offline_after: 5s, stale_after: 20s, slow_scrape: 5s, slow_collection: 5s}
scrape_configs:
  - job_name: registry
    registry: true
`
	if len(f.targets) > 0 {
		yml += "  - job_name: fleet\n    static_configs:\n" + strings.Join(f.targets, "")
	}
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(corralBin.get(t, "github.com/corral-dev/corral/cmd/corral"), "--config.file", cfg,
		"--web.listen-address", "127.0.0.1:0", "--storage.url", f.storage, "--log.level", "info")
	cmd.Env = append(os.Environ(), "CORRAL_ADMIN_PASSWORD="+adminPassword)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			f.mu.Lock()
			f.log.WriteString(sc.Text() + "\n")
			f.mu.Unlock()
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		<-logDone
		if t.Failed() {
			f.mu.Lock()
			t.Logf("corral's log:\n%s", f.log.String())
			f.mu.Unlock()
		}
	})
	select {
	case addr := <-listening:
		f.base = "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatal("corral did not listen within 30s")
	}
	f.cfg = filepath.Join(f.dir, "corralctl.json")
	if err := login(context.Background(), loginCmd{Server: f.base, Username: "admin", PasswordStdin: true, ExpiresInDays: 1}, f.cfg,
		strings.NewReader(adminPassword+"\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for name := range f.agents {
		want[name] = "online"
	}
	for name := range f.noAgent {
		want[name] = "unknown offline"
	}
	f.waitStatus(want)
}

// status is a collector's status as the API has it ("" when it has none).
func (f *fleet) status(id string) string {
	f.t.Helper()
	c, err := apiClient(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	var d struct {
		Status string `json:"status"`
	}
	if err := c.do(context.Background(), http.MethodGet, "/api/v1/collectors/"+id, nil, nil, &d); err != nil {
		return ""
	}
	return d.Status
}

// waitStatus waits until each collector is in one of its statuses
// (space-separated).
func (f *fleet) waitStatus(want map[string]string) {
	f.t.Helper()
	for id, s := range want {
		waitFor(f.t, 20*time.Second, id+" in "+s, func() bool {
			got := f.status(id)
			return got != "" && strings.Contains(" "+s+" ", " "+got+" ")
		})
	}
}

// run runs a corralctl command function and returns what it printed and its
// exit code, as main would exit.
func run(t *testing.T, fn func(out *bytes.Buffer) error) (string, int) {
	t.Helper()
	var out bytes.Buffer
	err := fn(&out)
	if err != nil && !errors.Is(err, errNotOK) {
		t.Logf("corralctl: %v", err)
	}
	return out.String(), exitCode(err)
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// corralctl runs the built corralctl with stdin from /dev/null (not a
// terminal) and returns its output and exit code.
func corralctl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(corralctlB.get(t, "github.com/corral-dev/corral/cmd/corralctl"), args...)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}
