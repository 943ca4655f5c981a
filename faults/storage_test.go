package faults

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store/testdb"
)

// storeDB opens the server's store for the test's own checks, with the
// drivers the store package registers ("pgx" and "sqlite").
func storeDB(t testing.TB, storage string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", storage
	if rest, ok := strings.CutPrefix(storage, "sqlite:"); ok {
		driver, dsn = "sqlite", "file:"+rest+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// historyCheck reads every stored status change and checks it exactly once: no
// duplicate key, and per collector a chain without gaps (each change starts
// from the status the previous one ended in) that ends in the status the
// server shows now (current, by collector). It returns the changes stored and
// how many of them happened within [from, to].
func historyCheck(t testing.TB, db *sql.DB, current map[string]string, from, to time.Time) (total, within int) {
	t.Helper()
	ctx := context.Background()
	var rows, keys int
	if err := db.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT dedup_key) FROM status_changes").Scan(&rows, &keys); err != nil {
		t.Fatal(err)
	}
	if rows != keys {
		t.Errorf("%d status changes stored under %d distinct keys: some were written twice", rows, keys)
	}
	rs, err := db.QueryContext(ctx, "SELECT collector, from_status, to_status, at FROM status_changes ORDER BY collector, at, id")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	last := map[string]string{}
	for rs.Next() {
		var c, f, to2 string
		var at int64
		if err := rs.Scan(&c, &f, &to2, &at); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[c]; ok && prev != f {
			t.Errorf("collector %s: a change from %q follows one to %q: a change between them is missing", c, f, prev)
		}
		last[c] = to2
		total++
		if ts := time.UnixMilli(at); !ts.Before(from) && !ts.After(to) {
			within++
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	for c, st := range current {
		if last[c] != st {
			t.Errorf("collector %s shows %q, its last stored change ends in %q", c, st, last[c])
		}
	}
	return total, within
}

// storedScrapes is the sum of the scrapes counted in the stored hourly buckets.
func storedScrapes(t testing.TB, db *sql.DB) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.QueryRow("SELECT sum(scrapes_total) FROM buckets WHERE bucket_window = '1h'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n.Int64
}

// metricOr0 is a metric's value, 0 when it is absent.
func metricOr0(body, prefix string) float64 { v, _ := metricValue(body, prefix); return v }

// statuses reads every collector's status from the server's /metrics (served
// from memory, with no credential and no store).
func statuses(body string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, "corral_collector_status{") || !strings.HasSuffix(line, " 1") {
			continue
		}
		c, st := labelOf(line, "collector"), labelOf(line, "status")
		if c != "" {
			out[c] = st
		}
	}
	return out
}

// labelOf is the value of label name in one exposition line.
func labelOf(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// flapper makes the agents of a simulate process fail their scrapes and come
// back, again and again (SIGSTOP for every period, SIGCONT for the next): every
// round is a status change per agent for corral to record.
func flapper(p *Proc, period time.Duration) (stop func() int) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	rounds := 0
	wg.Go(func() {
		for {
			select {
			case <-done:
				p.Signal(syscall.SIGCONT)
				return
			case <-time.After(period):
			}
			p.Signal(syscall.SIGSTOP)
			select {
			case <-done:
				p.Signal(syscall.SIGCONT)
				return
			case <-time.After(period):
			}
			p.Signal(syscall.SIGCONT)
			rounds++
		}
	})
	return func() int { close(done); wg.Wait(); return rounds }
}

// TestPostgresStopped stops corral's PostgreSQL for a while under write load:
// a fleet scraped every second, some of its agents failing and coming back so
// that statuses change. corral goes on scraping and showing status from
// memory, says the store is down, refuses API writes it cannot store, and
// once the database is back stores every change exactly once.
func TestPostgresStopped(t *testing.T) {
	outage := scale(15*time.Second, 60*time.Second)
	n := scale(20, 200)
	pg := testdb.PostgresServer(t)
	s := NewServer(t, ServerOptions{Storage: pg.URL(t)})
	StartSim(t, s.Dir, SimOptions{N: n, Key: s.PublicKey, Job: "steady", SDFile: s.Dir + "/sd/steady.yml"})
	flappy := StartSim(t, s.Dir, SimOptions{N: 4, Key: s.PublicKey, Job: "flappy", First: 9000, SDFile: s.Dir + "/sd/flappy.yml"})
	s.WriteConfig(`global: {scrape_interval: 1s, scrape_timeout: 800ms, thresholds: {offline_after: 5m}}
scrape_configs:
  - job_name: sim
    file_sd_configs: [{files: ['sd/*.yml']}]
`)
	s.Start()
	s.WaitStatus("sim-0000", "online", 60*time.Second)
	s.WaitStatus(fmt.Sprintf("sim-%04d", n-1), "online", 60*time.Second)
	s.WaitStatus("sim-9000", "online", 60*time.Second)
	db := storeDB(t, s.Storage)
	stopFlap := flapper(flappy.Proc, 3*time.Second)
	time.Sleep(7 * time.Second) // some changes stored before the outage; a connection to every agent
	before := s.Usage()

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	t.Logf("PostgreSQL stopped for %v", outage)

	// During the outage: scraping goes on, statuses change in memory (seen on
	// /metrics), the writer's backlog grows, reads and writes of the API answer.
	var (
		changesSeen               int
		pendingMax                float64
		shownDown                 time.Duration
		readCode, writeCode       int
		readAnswer, writeAnswer   wire.Error
		scrapesBefore             = metricOr0(s.Metrics(), "corral_scrapes_total")
		last                      = statuses(s.Metrics())
		errorsAtStart             = metricOr0(s.Metrics(), "corral_store_write_errors_total")
		readTried, writeTried     bool
		hidden, back              bool
		readLatency, writeLatency time.Duration
	)
	for time.Since(down) < outage {
		m := s.Metrics()
		if m == "" {
			t.Fatal("/metrics did not answer during the outage")
		}
		pendingMax = max(pendingMax, metricOr0(m, "corral_store_pending_writes"))
		if shownDown == 0 && metricOr0(m, "corral_store_write_errors_total") > errorsAtStart {
			shownDown = time.Since(down)
		}
		now := statuses(m)
		for c, st := range now {
			if last[c] != "" && last[c] != st {
				changesSeen++
			}
		}
		last = now
		// The flapping agents leave discovery and come back meanwhile (an
		// operator editing file_sd): corral must not start them afresh.
		if !hidden && time.Since(down) > 2*time.Second {
			hidden = true
			if err := os.Rename(flappy.SDFile, flappy.SDFile+".away"); err != nil {
				t.Fatal(err)
			}
		}
		if hidden && !back && time.Since(down) > 6*time.Second {
			back = true
			if err := os.Rename(flappy.SDFile+".away", flappy.SDFile); err != nil {
				t.Fatal(err)
			}
		}
		if !readTried && time.Since(down) > 3*time.Second {
			readTried = true
			t0 := time.Now()
			readCode, _ = s.Call("super", "GET", "/api/v1/collectors/sim-0000", nil, &readAnswer)
			readLatency = time.Since(t0)
		}
		if !writeTried && time.Since(down) > 5*time.Second {
			writeTried = true
			t0 := time.Now()
			writeCode, _ = s.Call("super", "POST", "/api/v1/collectors/sim-0001/stop?wait=none", map[string]any{"reason": "during the outage"}, &writeAnswer)
			writeLatency = time.Since(t0)
		}
		time.Sleep(200 * time.Millisecond)
	}
	scrapesDuring := metricOr0(s.Metrics(), "corral_scrapes_total") - scrapesBefore
	t.Logf("outage: %v scrapes, %d status changes seen on /metrics, pending up to %v; GET %d %+v (%v); POST stop %d %+v (%v)",
		scrapesDuring, changesSeen, pendingMax, readCode, readAnswer, readLatency, writeCode, writeAnswer, writeLatency)
	if min := float64(n) * outage.Seconds() / 2; scrapesDuring < min {
		t.Errorf("only %v scrapes during the outage, want at least %v: scraping must not wait for the store", scrapesDuring, min)
	}
	if changesSeen == 0 {
		t.Error("no status changed during the outage: the flapping agents did not flap")
	}
	if pendingMax == 0 || shownDown == 0 {
		t.Errorf("corral_store_pending_writes peaked at %v, write errors shown after %v: the outage did not show", pendingMax, shownDown)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	rounds := stopFlap()
	// Once back, the backlog drains; wait for it, then for the flushes of
	// what was scraped until then.
	var drained time.Duration
	for {
		if p, ok := metricValue(s.Metrics(), "corral_store_pending_writes"); ok && p < float64(n) {
			drained = time.Since(up)
			break
		}
		if time.Since(up) > 60*time.Second {
			t.Fatalf("store writes still pending 60s after PostgreSQL came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	outageEnd := time.Now()
	scrapesNow := metricOr0(s.Metrics(), "corral_scrapes_total")
	time.Sleep(3 * time.Second) // flush interval 1s: what was counted until now is stored
	stored := storedScrapes(t, db)
	scrapesAfter := metricOr0(s.Metrics(), "corral_scrapes_total")
	if float64(stored) < scrapesNow || float64(stored) > scrapesAfter {
		t.Errorf("stored buckets count %d scrapes; corral had made %v, then %v: scrapes were lost or counted twice", stored, scrapesNow, scrapesAfter)
	}
	current := map[string]string{}
	for c, st := range statuses(s.Metrics()) {
		current[c] = st
	}
	// A change seen in the first poll may come from a scrape that began just
	// before the stop: the window starts a little earlier.
	total, within := historyCheck(t, db, current, down.Add(-2*time.Second), outageEnd)
	if within < changesSeen {
		t.Errorf("%d status changes stored from the outage, %d seen on /metrics", within, changesSeen)
	}
	// None started afresh: every collector's first sighting is from before
	// the outage, the ones that left discovery during it included.
	var fresh int
	if err := db.QueryRow("SELECT count(*) FROM collectors WHERE first_seen >= $1", down.UnixMilli()).Scan(&fresh); err != nil {
		t.Fatal(err)
	}
	if fresh > 0 {
		t.Errorf("%d collectors are stored as first seen during the outage: they started afresh", fresh)
	}
	logged, _ := os.ReadFile(s.Proc.Log)
	downLines, upLines := strings.Count(string(logged), "store unavailable: the database is unreachable"), strings.Count(string(logged), "store writable again")
	if downLines == 0 || upLines == 0 {
		t.Errorf("the log says %d times that the store is unreachable and %d times that it is back", downLines, upLines)
	}

	// A write refused during the outage left nothing behind; one acknowledged
	// must be there.
	var cmds int
	if err := db.QueryRow("SELECT count(*) FROM commands WHERE collector = 'sim-0001'").Scan(&cmds); err != nil {
		t.Fatal(err)
	}
	writeShown := fmt.Sprintf("%d %s %q", writeCode, writeAnswer.Code, writeAnswer.Message)
	switch {
	case writeCode == http.StatusServiceUnavailable && cmds != 0:
		t.Errorf("the stop answered 503 during the outage, yet %d commands are stored", cmds)
	case writeCode >= 200 && writeCode < 300 && cmds != 1:
		t.Errorf("the stop was acknowledged (%d) during the outage, yet %d commands are stored", writeCode, cmds)
	case writeCode != http.StatusServiceUnavailable && (writeCode < 200 || writeCode >= 300):
		t.Errorf("a stop during the outage answered %s: want 503 (refused, retry) or 2xx (kept)", writeShown)
	}
	if readCode != http.StatusOK {
		t.Errorf("GET /collectors/{id} during the outage answered %d %s %q: status is served from memory", readCode, readAnswer.Code, readAnswer.Message)
	}
	after := s.Usage()
	record(t, Row{
		Fault: fmt.Sprintf("PostgreSQL stopped for %v under write load (%d agents scraped every 1s, 4 flapping and leaving file_sd for 4s)", outage, n),
		Shown: fmt.Sprintf("scraping went on (%.0f scrapes, %d status changes seen on /metrics); corral_store_write_errors_total rose after %s, corral_store_pending_writes up to %.0f, log \"store unavailable: the database is unreachable\"; GET /collectors/{id} %d (in %v); POST stop %s; back: backlog stored %s after the restart",
			scrapesDuring, changesSeen, since(shownDown), pendingMax, readCode, readLatency.Round(time.Millisecond), writeShown, since(drained)),
		Lost: fmt.Sprintf("nothing: %d status changes stored once each, chains unbroken (%d from the outage, %d flap rounds); %d scrapes in the buckets, %.0f–%.0f made", total, within, rounds, stored, scrapesNow, scrapesAfter),
		FDs:  fdsCell(before, after),
		RSS:  rssCell(before, after),
	})
}

// mountTmpfs mounts a tmpfs of size bytes at a new folder, unmounted when t
// ends, and returns the folder.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir() + "/store"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a %d-byte tmpfs for the SQLite store at %s: %v: %s\n"+
			"the disk-full fault needs to mount a small file system: run the suite as root (as CI does) or with CAP_SYS_ADMIN",
			size, dir, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fill writes path until the file system is full and returns how much it wrote.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for len(chunk) > 0 {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			chunk = chunk[:len(chunk)/2] // the last few pages too
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// commander sends stop and resume in turn to the agents, one request every
// period, each answered at once (wait=none), and keeps what was answered.
type commander struct {
	s        *Server
	acked    map[string]string // command ID → collector, of the 2xx answers
	refused  int               // 503 unavailable
	other    []string          // any other answer
	lastCode int
	lastErr  wire.Error
	sent     int
	stopped  map[string]bool
}

func newCommander(s *Server) *commander {
	return &commander{s: s, acked: map[string]string{}, stopped: map[string]bool{}}
}

// send sends the next command to collector id and returns the answer's status.
func (c *commander) send(id string) int {
	action := "stop"
	if c.stopped[id] {
		action = "resume"
	}
	var out struct {
		wire.CommandResponse
		wire.Error
	}
	code, err := c.s.Call("super", "POST", "/api/v1/collectors/"+id+"/"+action+"?wait=none", map[string]any{"reason": "fault suite"}, &out)
	c.sent++
	c.lastCode, c.lastErr = code, out.Error
	switch {
	case err == nil && code >= 200 && code < 300 && out.Command != nil:
		c.acked[out.Command.ID] = id
		c.stopped[id] = !c.stopped[id]
	case err == nil && code == http.StatusServiceUnavailable && out.Error.Code == wire.CodeUnavailable:
		c.refused++
	default:
		c.other = append(c.other, fmt.Sprintf("%s %s: %d %v %s %q", action, id, code, err, out.Error.Code, out.Error.Message))
	}
	return code
}

// checkCommands checks that every acknowledged command is stored and reaches a
// final state within d; it returns how many are stored and the states.
func checkCommands(t *testing.T, db *sql.DB, acked map[string]string, d time.Duration) (stored int, states map[string]int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		stored, states = 0, map[string]int{}
		open := 0
		rs, err := db.Query("SELECT id, collector, state FROM commands")
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var id, coll, state string
			if err := rs.Scan(&id, &coll, &state); err != nil {
				t.Fatal(err)
			}
			if want, ok := acked[id]; ok {
				if want != coll {
					t.Errorf("command %s is stored for %s, was acknowledged for %s", id, coll, want)
				}
				stored++
				states[state]++
				if state != wire.CommandConfirmed && state != wire.CommandFailed && state != wire.CommandExpired {
					open++
				}
			}
		}
		rs.Close()
		if stored < len(acked) {
			t.Fatalf("%d commands acknowledged, %d of them stored", len(acked), stored)
		}
		if open == 0 || time.Now().After(deadline) {
			if open > 0 {
				t.Errorf("%d acknowledged commands not final %v after the store came back: %v", open, d, states)
			}
			return stored, states
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestSQLiteDiskFull fills the file system of corral's SQLite store, then
// frees it: corral goes on scraping and showing status, says the disk is full,
// refuses API writes with 503 and keeps the scrape path's writes pending; once
// there is room again it stores them all, once, and every write it had
// acknowledged is there.
func TestSQLiteDiskFull(t *testing.T) {
	full := scale(30*time.Second, 60*time.Second)
	n := scale(10, 100)
	dir := mountTmpfs(t, 16<<20)
	s := NewServer(t, ServerOptions{Storage: "sqlite:" + dir + "/corral.db"})
	StartSim(t, s.Dir, SimOptions{N: n, Key: s.PublicKey, Job: "steady", SDFile: s.Dir + "/sd/steady.yml"})
	flappy := StartSim(t, s.Dir, SimOptions{N: 4, Key: s.PublicKey, Job: "flappy", First: 9000, SDFile: s.Dir + "/sd/flappy.yml"})
	s.WriteConfig(`global: {scrape_interval: 1s, scrape_timeout: 800ms, thresholds: {offline_after: 5m}}
scrape_configs:
  - job_name: sim
    file_sd_configs: [{files: ['sd/*.yml']}]
`)
	s.Start()
	for _, id := range []string{"sim-0000", fmt.Sprintf("sim-%04d", n-1), "sim-9000"} {
		s.WaitStatus(id, "online", 60*time.Second)
	}
	db := storeDB(t, s.Storage)
	stopFlap := flapper(flappy.Proc, 3*time.Second)
	cmd := newCommander(s)
	for i := range n { // some commands acknowledged before the disk fills
		cmd.send(fmt.Sprintf("sim-%04d", i))
	}
	time.Sleep(2 * time.Second) // delivered: corral holds a connection to each agent
	before := s.Usage()

	filler := dir + "/filler"
	filled := fill(t, filler)
	fullAt := time.Now()
	t.Logf("disk full: %d bytes of filler", filled)
	var (
		firstRefusal, shownDown time.Duration
		refusal                 wire.Error
		pendingMax              float64
		readCode                int
		errorsAtStart           = metricOr0(s.Metrics(), "corral_store_write_errors_total")
		scrapesBefore           = metricOr0(s.Metrics(), "corral_scrapes_total")
		changesSeen             int
		last                    = statuses(s.Metrics())
	)
	for i := 0; time.Since(fullAt) < full; i++ {
		if s.Proc.Exited() {
			t.Fatalf("corral exited with its disk full: %v", s.Proc.Wait())
		}
		if cmd.send(fmt.Sprintf("sim-%04d", i%n)) == http.StatusServiceUnavailable && firstRefusal == 0 {
			firstRefusal, refusal = time.Since(fullAt), cmd.lastErr
		}
		m := s.Metrics()
		pendingMax = max(pendingMax, metricOr0(m, "corral_store_pending_writes"))
		if shownDown == 0 && metricOr0(m, "corral_store_write_errors_total") > errorsAtStart {
			shownDown = time.Since(fullAt)
		}
		now := statuses(m)
		for c, st := range now {
			if last[c] != "" && last[c] != st {
				changesSeen++
			}
		}
		last = now
		time.Sleep(500 * time.Millisecond)
	}
	readCode, _ = s.Call("super", "GET", "/api/v1/collectors/sim-0000", nil, nil)
	scrapesDuring := metricOr0(s.Metrics(), "corral_scrapes_total") - scrapesBefore
	t.Logf("disk full for %v: %d commands sent, %d acknowledged, %d refused, first refusal after %v (%+v); write errors after %v; pending up to %v; %v scrapes, %d changes seen",
		full, cmd.sent, len(cmd.acked), cmd.refused, firstRefusal, refusal, shownDown, pendingMax, scrapesDuring, changesSeen)
	if firstRefusal == 0 || shownDown == 0 {
		t.Fatalf("the disk was full for %v and corral never said so (first 503 after %v, write errors after %v): the test did not fill the store", full, firstRefusal, shownDown)
	}
	if len(cmd.other) > 0 {
		t.Errorf("commands answered neither 2xx nor 503 unavailable: %q", cmd.other)
	}
	if readCode != http.StatusOK {
		t.Errorf("GET /collectors/{id} with the disk full answered %d: status is served from memory", readCode)
	}
	if min := float64(n) * full.Seconds() / 2; scrapesDuring < min {
		t.Errorf("only %v scrapes with the disk full, want at least %v", scrapesDuring, min)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	rounds := stopFlap()
	var recovered time.Duration
	for {
		p, ok := metricValue(s.Metrics(), "corral_store_pending_writes")
		if ok && p < float64(n) {
			if code := cmd.send("sim-0000"); code >= 200 && code < 300 {
				recovered = time.Since(freed)
				break
			}
		}
		if time.Since(freed) > 60*time.Second {
			t.Fatalf("60s after the disk was freed: %v writes pending, the last command answered %d %+v", p, cmd.lastCode, cmd.lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	scrapesNow := metricOr0(s.Metrics(), "corral_scrapes_total")
	time.Sleep(3 * time.Second)
	stored := storedScrapes(t, db)
	scrapesAfter := metricOr0(s.Metrics(), "corral_scrapes_total")
	if float64(stored) < scrapesNow || float64(stored) > scrapesAfter {
		t.Errorf("stored buckets count %d scrapes; corral had made %v, then %v: scrapes were lost or counted twice", stored, scrapesNow, scrapesAfter)
	}
	total, within := historyCheck(t, db, statuses(s.Metrics()), fullAt.Add(-2*time.Second), time.Now())
	if within < changesSeen {
		t.Errorf("%d status changes stored since the disk filled, %d seen on /metrics", within, changesSeen)
	}
	nStored, states := checkCommands(t, db, cmd.acked, 90*time.Second)
	var ours int
	if err := db.QueryRow("SELECT count(*) FROM commands WHERE reason = 'fault suite'").Scan(&ours); err != nil {
		t.Fatal(err)
	}
	if ours != len(cmd.acked) {
		t.Errorf("%d commands of the test stored, %d acknowledged: a refused one was kept, or one acknowledged lost", ours, len(cmd.acked))
	}
	logged, _ := os.ReadFile(s.Proc.Log)
	if !strings.Contains(string(logged), "store unavailable: the store's disk is full") || !strings.Contains(string(logged), "store writable again") {
		t.Errorf("the log does not say that the store's disk is full, then that it is writable again")
	}
	after := s.Usage()
	record(t, Row{
		Fault: fmt.Sprintf("SQLite's disk full for %v, then freed (%d agents scraped every 1s, 4 flapping, a command every 0.5s)", full, n),
		Shown: fmt.Sprintf("scraping and status went on (%.0f scrapes, %d changes; GET /collectors/{id} %d); corral_store_write_errors_total rose after %s, pending up to %.0f, log \"store unavailable: the store's disk is full\"; commands refused after %s: %d %s %q; freed: a command acknowledged and the backlog stored %s later",
			scrapesDuring, changesSeen, readCode, since(shownDown), pendingMax, since(firstRefusal), http.StatusServiceUnavailable, refusal.Code, refusal.Message, since(recovered)),
		Lost: fmt.Sprintf("nothing: %d commands acknowledged, %d stored, all final %v; %d refused (none stored); %d status changes stored once, chains unbroken (%d while full, %d flap rounds); %d scrapes in the buckets, %.0f–%.0f made",
			len(cmd.acked), nStored, states, cmd.refused, total, within, rounds, stored, scrapesNow, scrapesAfter),
		FDs: fdsCell(before, after),
		RSS: rssCell(before, after),
	})
}
