// Package testdb gives tests real databases: a PostgreSQL database and a MariaDB
// database of their own, on a server named by the environment or, when none is named,
// on a throwaway server started from the installed binaries.
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := testdb.Postgres(t) // a fresh database, dropped when the test ends
//		...
//	}
//
// CORRAL_TEST_PG_URL (a postgres:// URL or a key=value DSN) and CORRAL_TEST_MYSQL_DSN
// (a go-sql-driver/mysql DSN) name servers to use instead of throwaway ones; their
// user must be allowed to create databases. A throwaway server is started once per
// test binary, in a directory under os.TempDir, and shared by the tests of the
// package; Main stops it when the tests are done. Should the test binary die without
// running Main's cleanup, the kernel stops its servers (parent-death signal) and the
// next test binary that starts one removes the leftover directories.
//
// When running as root, the servers run as the postgres and mysql system users,
// since initdb and mariadbd refuse to run as root.
//
// The package keeps the servers it started in package-level state: a test binary has
// one set of them, and Main has no other way to find them. This is the one exception
// to the house rule against package-level state, confined to test code.
package testdb

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables naming servers to use instead of throwaway ones.
const (
	EnvPostgresURL = "CORRAL_TEST_PG_URL"
	EnvMySQLDSN    = "CORRAL_TEST_MYSQL_DSN"
)

// dirPrefix starts the name of every directory a throwaway server lives in.
const dirPrefix = "corral-testdb-"

// startTimeout bounds how long a throwaway server may take to accept connections.
const startTimeout = 60 * time.Second

// registry holds the servers this test binary started.
var registry struct {
	mu       sync.Mutex
	swept    bool
	pg       *PGServer
	pgErr    error
	maria    *MariaServer
	mariaErr error
	servers  []stopper
}

type stopper interface {
	destroy() error
}

// Main runs the tests and then stops every throwaway server the test binary started.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := StopAll(); err != nil {
		fmt.Fprintf(os.Stderr, "testdb: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// StopAll stops every throwaway server started by this test binary and removes its
// directory. Main calls it; a test binary without TestMain leaves that to the
// parent-death signal and to the sweep of the next run.
func StopAll() error {
	registry.mu.Lock()
	servers := registry.servers
	registry.servers = nil
	registry.pg, registry.pgErr = nil, nil
	registry.maria, registry.mariaErr = nil, nil
	registry.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.destroy())
	}
	return errors.Join(errs...)
}

func register(s stopper) {
	registry.mu.Lock()
	registry.servers = append(registry.servers, s)
	registry.mu.Unlock()
}

func unregister(s stopper) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for i, x := range registry.servers {
		if x == s {
			registry.servers = append(registry.servers[:i], registry.servers[i+1:]...)
			return
		}
	}
}

// sweepOnce removes the directories (and stops the servers) that earlier test
// binaries left behind when they died without cleaning up.
func sweepOnce() {
	registry.mu.Lock()
	done := registry.swept
	registry.swept = true
	registry.mu.Unlock()
	if done {
		return
	}
	for _, root := range []string{os.TempDir(), "/tmp"} {
		dirs, _ := filepath.Glob(filepath.Join(root, dirPrefix+"*"))
		for _, dir := range dirs {
			sweep(dir)
		}
	}
}

// tempRoot is os.TempDir, or /tmp when the server runs as another user who could
// not reach into os.TempDir (a TMPDIR under /root, say).
func tempRoot(u *runAs) string {
	root := os.TempDir()
	if u == nil {
		return root
	}
	for dir := root; ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if dir == filepath.Dir(dir) {
			return root
		}
	}
}

func sweep(dir string) {
	owner, err := readPID(filepath.Join(dir, "owner.pid"))
	if err != nil {
		// No owner yet: maybe another binary is creating it right now.
		if fi, err := os.Stat(dir); err != nil || time.Since(fi.ModTime()) < time.Hour {
			return
		}
	} else if alive(owner) {
		return
	}
	for _, pidFile := range []string{"data/postmaster.pid", "mysqld.pid"} {
		pid, err := readPID(filepath.Join(dir, pidFile))
		if err != nil || !alive(pid) {
			continue
		}
		// Kill it only if it really is the server of this directory, not a process
		// that reused the pid.
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = os.RemoveAll(dir)
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// runAs is the system user a throwaway server runs as; nil means the current user.
type runAs struct {
	name     string
	uid, gid uint32
}

// serverUser picks the user to run a server as: the current one, or, as root, the
// first of names that exists (initdb and mariadbd refuse to run as root).
func serverUser(names ...string) (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range names {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and none of the system users %s exists; create one (the Debian server packages do) or run the tests as an unprivileged user", strings.Join(names, ", "))
}

func (u *runAs) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
}

func (u *runAs) chown(path string) error {
	if u == nil {
		return nil
	}
	return os.Chown(path, int(u.uid), int(u.gid))
}

// newBaseDir makes the directory a throwaway server lives in, owned by u.
func newBaseDir(kind string, u *runAs) (string, error) {
	sweepOnce()
	dir, err := os.MkdirTemp(tempRoot(u), dirPrefix+kind+"-*")
	if err != nil {
		return "", fmt.Errorf("make the server directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("write the owner pid: %w", err)
	}
	if err := u.chown(dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("hand the server directory to user %s: %w", u.name, err)
	}
	return dir, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is one server process. It is reaped with wait4 rather than os/exec's Wait so
// that no goroutine waits on it (tests that check for leaked goroutines stay quiet).
type proc struct {
	p      *os.Process
	exited bool
	status syscall.WaitStatus
}

// startProc starts path with args, its output appended to logPath, as user u. The
// kernel sends deathSig to the process when the thread that started it ends, which
// for a Go program is when the process dies: the runtime only ends threads that a
// goroutine locked, and none is locked here.
func startProc(path string, args []string, dir, logPath string, u *runAs, deathSig syscall.Signal) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	p, err := os.StartProcess(path, append([]string{path}, args...), &os.ProcAttr{
		Dir:   dir,
		Env:   serverEnv(dir),
		Files: []*os.File{devnull, logf, logf},
		Sys: &syscall.SysProcAttr{
			Credential: u.credential(),
			Pdeathsig:  deathSig,
			Setpgid:    true, // a ^C in the terminal reaches the test binary only
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return &proc{p: p}, nil
}

// serverEnv is the environment of a server living in dir: the test's, less the
// variables that would point the server at the test's files, with its temporary
// files in dir.
func serverEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "MYSQL") || k == "HOME" || k == "TMPDIR" || k == "LC_ALL" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "TMPDIR="+dir)
}

// running reports whether the process is still running, reaping it if it exited.
func (p *proc) running() bool {
	if p.exited {
		return false
	}
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(p.p.Pid, &ws, syscall.WNOHANG, nil)
	if pid == p.p.Pid || errors.Is(err, syscall.ECHILD) {
		p.exited, p.status = true, ws
		_ = p.p.Release()
		return false
	}
	return true
}

// stop sends sig and waits up to timeout for the process to exit, then kills it.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	if !p.running() {
		return nil
	}
	if err := p.p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal pid %d: %w", p.p.Pid, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !p.running() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = p.p.Signal(syscall.SIGKILL)
	for p.running() {
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("pid %d did not stop within %s after %s; killed it", p.p.Pid, timeout, sig)
}

// logTail returns the end of a log file, for failure messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	const max = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// dbName returns a fresh database name.
func dbName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test_" + hex.EncodeToString(b)
}

// waitReady calls ping until it succeeds, the process exits or startTimeout passes.
func waitReady(p *proc, logPath string, ping func() error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("server exited during start (%s); its log:\n%s", exitReason(p.status), logTail(logPath))
		}
		if last = ping(); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server did not accept connections within %s (last error: %v); its log:\n%s", startTimeout, last, logTail(logPath))
}

func exitReason(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	}
	return "status " + strconv.Itoa(int(ws))
}
