package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/store"
)

var (
	full     = flag.Bool("faults.full", false, "run at the sizes docs/reliability.md reports (1,000 targets, 60 s outages); without it the suite runs smaller, as make test does")
	binDir   = flag.String("faults.bin", "", "folder with the corral, corral-agent and corralctl binaries (default: built into a temporary folder)")
	tableOut = flag.String("faults.table", "", "also write the table of results, as Markdown, to this file")
)

// bin is the folder of the binaries under test, set by TestMain.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	bin = *binDir
	if bin == "" {
		dir, err := os.MkdirTemp("", "corral-faults-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// The binaries as make build makes them, from this checkout (the
		// package's folder is faults/, the module's root one up).
		build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/corral", "./cmd/corral-agent", "./cmd/corralctl")
		build.Dir = ".."
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "faults: building the binaries:", err)
			os.Exit(1)
		}
		bin = dir
		defer os.RemoveAll(dir)
	}
	code := m.Run()
	if len(rows) > 0 {
		var b bytes.Buffer
		writeTable(&b)
		os.Stdout.Write(b.Bytes())
		if *tableOut != "" {
			if err := os.WriteFile(*tableOut, b.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}
	}
	if bin != *binDir {
		os.RemoveAll(bin)
	}
	os.Exit(code)
}

// scale picks the figure for this run: small as make test runs the suite,
// large with -faults.full.
func scale[T any](small, large T) T {
	if *full {
		return large
	}
	return small
}

// Row is one fault and what became of it.
type Row struct {
	Fault string // what was done to corral, its agents or its store
	Shown string // what corral showed: status and reason, and when
	Lost  string // what was lost of what corral had acknowledged ("nothing")
	FDs   string // corral's open files before → after
	RSS   string // corral's resident memory before → after
	test  string
}

var (
	rowsMu sync.Mutex
	rows   []Row
)

// record adds the test's row to the table; a failed test's row says so.
func record(t *testing.T, r Row) {
	t.Helper()
	r.test = t.Name()
	rowsMu.Lock()
	rows = append(rows, r)
	i := len(rows) - 1
	rowsMu.Unlock()
	t.Cleanup(func() {
		if t.Failed() {
			rowsMu.Lock()
			rows[i].Lost = "**FAILED** (" + rows[i].Lost + "); see " + t.Name()
			rowsMu.Unlock()
		}
	})
}

func writeTable(w io.Writer) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	mode := "make test sizes"
	if *full {
		mode = "full sizes (-faults.full)"
	}
	fmt.Fprintf(w, "\ncorral fault suite, %s, %s\n\n", mode, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "| fault | what corral showed (and when) | lost | fds before → after | RSS before → after | test |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", cell(r.Fault), cell(r.Shown), cell(r.Lost), cell(r.FDs), cell(r.RSS), r.test)
	}
}

// Proc is a started binary; its stderr goes to a log file kept in the test's
// folder and printed when the test fails.
type Proc struct {
	t    testing.TB
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// start runs one of the binaries under test with args and env (added to the
// test's own environment).
func start(t testing.TB, name string, env []string, args ...string) *Proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{t: t, Cmd: cmd, Log: logf.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("%s %s, last of its log:\n%s", name, strings.Join(args, " "), b)
		}
	})
	return p
}

// Pid of the process.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited tells whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop ends the process with SIGTERM (SIGKILL after 15 s) and waits for it.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Kill()
	}
}

// Wait waits for the process to end and returns its exit error.
func (p *Proc) Wait() error { <-p.done; return p.err }

// FDs counts the process's open files.
func FDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// RSS is the process's resident memory in bytes.
func RSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Usage is a process's open files and memory at one moment.
type Usage struct {
	FDs int
	RSS int64
}

// Usage reads the server's open files and memory.
func (s *Server) Usage() Usage { return Usage{FDs: FDs(s.Pid()), RSS: RSS(s.Pid())} }

// fdsCell and rssCell format before → after for the table.
func fdsCell(before, after Usage) string { return fmt.Sprintf("%d → %d", before.FDs, after.FDs) }

func rssCell(before, after Usage) string {
	return fmt.Sprintf("%.0f → %.0f MiB", float64(before.RSS)/(1<<20), float64(after.RSS)/(1<<20))
}

// freePort is a loopback port free when asked.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is a corral binary under test with its folder, config and store, and
// API tokens for a super_admin ("super") and a viewer ("viewer").
type Server struct {
	t         testing.TB
	Dir       string
	Config    string // path of corral.yml
	Storage   string
	Addr      string // host:port
	Base      string // http://host:port
	Tokens    map[string]string
	PublicKey string // the server's control key, for agents to trust
	Proc      *Proc
	args      []string
}

// ServerOptions of a corral binary under test.
type ServerOptions struct {
	// Config is corral.yml without its storage section (the harness adds it).
	Config string
	// Storage is the store's URL; default SQLite in the server's folder.
	Storage string
	// Args are extra flags.
	Args []string
}

// NewServer prepares the store (the server key, an org, users with API
// tokens) and writes the config, without starting the server: agents that
// must trust the server's key can start first (Start starts the server).
func NewServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Storage: o.Storage, Tokens: map[string]string{}, args: o.Args}
	if s.Storage == "" {
		s.Storage = "sqlite:" + filepath.Join(dir, "data", "corral.db")
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, s.Storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := control.EnsureKey(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	s.PublicKey = key.PublicKey
	if err := st.CreateOrg(ctx, store.Org{ID: "default", Name: "default"}); err != nil {
		t.Fatal(err)
	}
	for user, b := range map[string]store.RoleBinding{"super": {Role: store.RoleSuperAdmin}, "viewer": {Role: store.RoleViewer, Org: "default"}} {
		u, err := st.CreateUser(ctx, store.User{Username: user, PasswordHash: "unused: tokens"}, b)
		if err != nil {
			t.Fatal(err)
		}
		secret, sum := auth.NewToken()
		if _, err := st.CreateToken(ctx, store.APIToken{UserID: u.ID, Name: "faults", SecretSHA256: sum}); err != nil {
			t.Fatal(err)
		}
		s.Tokens[user] = secret
	}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.Base = "http://" + s.Addr
	s.Config = filepath.Join(dir, "corral.yml")
	s.WriteConfig(o.Config)
	return s
}

// WriteConfig replaces corral.yml (a reload or restart reads it).
func (s *Server) WriteConfig(cfg string) {
	s.t.Helper()
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// Start starts the server (again, after Kill or Stop) on the same address and
// store and waits until it is ready.
func (s *Server) Start() {
	s.t.Helper()
	args := append([]string{"--config.file", s.Config, "--web.listen-address", s.Addr,
		"--storage.url", s.Storage, "--log.level", "info"}, s.args...)
	s.Proc = start(s.t, "corral", nil, args...)
	s.WaitReady(60 * time.Second)
}

// WaitReady waits until /-/ready answers 200.
func (s *Server) WaitReady(within time.Duration) {
	s.t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		if s.Proc.Exited() {
			s.t.Fatalf("corral exited before it was ready: %v", s.Proc.err)
		}
		resp, err := http.Get(s.Base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("corral not ready within %v", within)
		}
	}
}

// Pid of the running server.
func (s *Server) Pid() int { return s.Proc.Pid() }

// Call sends a request as user ("super" or "viewer") with body as JSON and
// decodes a JSON answer into out when it is not nil. It returns the status,
// or 0 and the error when no answer came.
func (s *Server) Call(user, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Tokens[user])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d, not JSON: %.200s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Collector reads GET /collectors/{id}; ok is false when it is not found or the
// server did not answer.
func (s *Server) Collector(id string) (d wire.CollectorDetail, ok bool) {
	code, err := s.Call("super", "GET", "/api/v1/collectors/"+id, nil, &d)
	return d, err == nil && code == http.StatusOK
}

// WaitCollector polls the collector until cond holds and returns it and how
// long that took; the test fails after within.
func (s *Server) WaitCollector(id string, within time.Duration, what string, cond func(wire.CollectorDetail) bool) (wire.CollectorDetail, time.Duration) {
	s.t.Helper()
	t0 := time.Now()
	var last wire.CollectorDetail
	for {
		d, ok := s.Collector(id)
		if ok {
			last = d
			if cond(d) {
				return d, time.Since(t0)
			}
		}
		if time.Since(t0) > within {
			s.t.Fatalf("collector %s: not %s within %v; last: status %q reason %q up %v last_error %q", id, what, within, last.Status, last.Reason, last.Up, last.LastError)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitStatus waits for the collector to show status.
func (s *Server) WaitStatus(id, status string, within time.Duration) (wire.CollectorDetail, time.Duration) {
	s.t.Helper()
	return s.WaitCollector(id, within, status, func(d wire.CollectorDetail) bool { return d.Status == status })
}

// Metrics is the server's /metrics.
func (s *Server) Metrics() string {
	resp, err := httpClient.Get(s.Base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue is the value of the first series of body that starts with
// prefix (a name, or a name and the start of its labels).
func metricValue(body, prefix string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// Sim is a corral-agent simulate process: n synthetic agents on consecutive
// loopback ports that trust the server's key, listed in a file_sd file.
type Sim struct {
	*Proc
	SDFile   string
	BasePort int
	N        int
}

// SimOptions of a simulated fleet.
type SimOptions struct {
	N        int
	Mix      string        // default online=1
	Interval time.Duration // default 1s
	Series   int           // default 5
	Job      string        // default sim
	Key      string        // public key the agents trust (the server's)
	SDFile   string        // default sd/sim.yml in dir
	StateDir string        // default none (state kept in a temporary folder)
	First    int           // first index (sim-<n>)
}

// StartSim starts a simulated fleet and waits until its file_sd file is written.
func StartSim(t testing.TB, dir string, o SimOptions) *Sim {
	t.Helper()
	if o.Mix == "" {
		o.Mix = "online=1"
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Series == 0 {
		o.Series = 5
	}
	if o.Job == "" {
		o.Job = "sim"
	}
	if o.SDFile == "" {
		o.SDFile = filepath.Join(dir, "sd", "sim.yml")
	}
	if err := os.MkdirAll(filepath.Dir(o.SDFile), 0o755); err != nil {
		t.Fatal(err)
	}
	base := freeRange(t, o.N)
	args := []string{"simulate", "-n", strconv.Itoa(o.N), "--base-port", strconv.Itoa(base), "--mix", o.Mix,
		"--interval", o.Interval.String(), "--series", strconv.Itoa(o.Series), "--job", o.Job, "--sd-file", o.SDFile,
		"--log.level", "warn", "--first-index", strconv.Itoa(o.First)}
	if o.Key != "" {
		args = append(args, "--trusted-key", o.Key)
	}
	if o.StateDir != "" {
		args = append(args, "--state-dir", o.StateDir)
	}
	p := start(t, "corral-agent", nil, args...)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(o.SDFile); err == nil {
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("simulate wrote no file_sd file (exited: %v)", p.Exited())
		}
	}
	return &Sim{Proc: p, SDFile: o.SDFile, BasePort: base, N: o.N}
}

// freeRange finds n consecutive free loopback ports below the ephemeral range
// (so that no client connection of another test takes one meanwhile).
func freeRange(t testing.TB, n int) int {
	t.Helper()
	for attempt := range 100 {
		base := 20000 + (os.Getpid()*7919+attempt*4099+int(time.Now().UnixNano()%9973))%(12000-n)
		var lns []net.Listener
		ok := true
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// Agent is one corral-agent run process with its config.
type Agent struct {
	*Proc
	Config string
	Port   int
}

// StartAgent runs `corral-agent run` on a config whose listen address the
// harness picks: cfg is the YAML without the listen section.
func StartAgent(t testing.TB, dir, name, cfg string) *Agent {
	t.Helper()
	port := freePort(t)
	path := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(path, []byte(cfg+fmt.Sprintf("\nlisten: {address: '127.0.0.1:%d'}\n", port)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "corral-agent", nil, "run", "--config", path)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("agent %s did not listen: %v", name, err)
		}
	}
	return &Agent{Proc: p, Config: path, Port: port}
}

// Target is the agent's address as a file_sd or static target.
func (a *Agent) Target() string { return fmt.Sprintf("127.0.0.1:%d", a.Port) }

// writeFile writes a file the test needs, failing it on error.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// since formats how long after t0 something happened, for the table.
func since(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
