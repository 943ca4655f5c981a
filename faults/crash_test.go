package faults

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// burst is what the requests of one kind of a burst got: answered 2xx
// (acknowledged), answered otherwise, or cut by the kill (no answer).
type burst struct {
	mu    sync.Mutex
	acked map[string]string // key (a name, a command or bulk ID) → what the answer gave
	cut   []string          // keys of requests that got no answer (names; "" when unknown)
	other []string
}

func newBurst() *burst { return &burst{acked: map[string]string{}} }

func (b *burst) ack(key, v string) { b.mu.Lock(); b.acked[key] = v; b.mu.Unlock() }
func (b *burst) lose(key string)   { b.mu.Lock(); b.cut = append(b.cut, key); b.mu.Unlock() }
func (b *burst) odd(s string)      { b.mu.Lock(); b.other = append(b.other, s); b.mu.Unlock() }

// agentCommands reads what an agent ran, from its own /metrics:
// corral_collector_commands_total by command, of the outcome ok (a command id
// answered again from memory is not counted).
func agentCommands(t *testing.T, port int) map[string]int {
	t.Helper()
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("agent on port %d: %v", port, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "corral_collector_commands_total{") || labelOf(line, "result") != "ok" {
			continue
		}
		v, _ := metricValue(line, "corral_collector_commands_total")
		out[labelOf(line, "command")] += int(v)
	}
	return out
}

// TestServerKilledDuringBursts kills corral with SIGKILL while bursts of
// registrations, commands and bulk operations are under way, and restarts it
// on the same store: everything answered 2xx before the kill is there, the
// requests the kill cut are whole or absent, every command reaches a final
// state that the agent confirms having run once, and the bulk operations the
// server stopped in are finished without repeating anything.
func TestServerKilledDuringBursts(t *testing.T) {
	before := scale(4*time.Second, 10*time.Second) // of bursts before the kill
	const nCmd, nBulk = 6, 6                       // agents for single commands, for bulk operations
	s := NewServer(t, ServerOptions{})
	sim := StartSim(t, s.Dir, SimOptions{N: nCmd + nBulk, Key: s.PublicKey, StateDir: s.Dir + "/agent-state"})
	s.WriteConfig(`global: {scrape_interval: 1s, scrape_timeout: 800ms, thresholds: {offline_after: 5m}}
scrape_configs:
  - job_name: sim
    file_sd_configs: [{files: ['sd/*.yml']}]
  - job_name: registry
    registry: true
    scrape_interval: 30s
`)
	s.Start()
	for i := range nCmd + nBulk {
		s.WaitStatus(fmt.Sprintf("sim-%04d", i), "online", 60*time.Second)
	}
	usage0 := s.Usage()

	regs, cmds, bulks := newBurst(), newBurst(), newBurst()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Registrations: 4 clients, each as fast as answers come.
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("reg-%d-%04d", g, i)
				var out struct {
					wire.Registered
					wire.Error
				}
				code, err := s.Call("super", "POST", "/api/v1/collectors/register",
					wire.RegisterRequest{Name: name, URL: fmt.Sprintf("http://127.0.0.1:9/%s/metrics", name), Labels: map[string]string{"burst": "yes"}}, &out)
				switch {
				case err != nil && code == 0:
					regs.lose(name)
					return // the server is gone
				case code == http.StatusCreated && out.Token != "":
					regs.ack(name, out.Token)
				default:
					regs.odd(fmt.Sprintf("register %s: %d %v %q", name, code, err, out.Error.Message))
				}
			}
		})
	}
	// Commands: stop and resume in turn to each of the first agents.
	for i := range nCmd {
		wg.Go(func() {
			id, action := fmt.Sprintf("sim-%04d", i), "stop"
			for {
				select {
				case <-stop:
					return
				default:
				}
				var out struct {
					wire.CommandResponse
					wire.Error
				}
				code, err := s.Call("super", "POST", "/api/v1/collectors/"+id+"/"+action+"?wait=none", map[string]any{"reason": "burst"}, &out)
				switch {
				case err != nil && code == 0:
					cmds.lose(id)
					return
				case code >= 200 && code < 300 && out.Command != nil:
					cmds.ack(out.Command.ID, id)
				default:
					cmds.odd(fmt.Sprintf("%s %s: %d %v %q", action, id, code, err, out.Error.Message))
				}
				if action == "stop" {
					action = "resume"
				} else {
					action = "stop"
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	// Bulk operations: collect on the other agents, one operation after the other.
	bulkIDs := make([]string, nBulk)
	for i := range nBulk {
		bulkIDs[i] = fmt.Sprintf("sim-%04d", nCmd+i)
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var out struct {
				wire.BulkResult
				Code string `json:"code"`
			}
			code, err := s.Call("super", "POST", "/api/v1/collectors/bulk-action", wire.BulkRequest{Action: "collect", CollectorIDs: bulkIDs, Reason: "burst"}, &out)
			switch {
			case err != nil && code == 0:
				bulks.lose("")
				return
			case code >= 200 && code < 300 && out.ID != "":
				bulks.ack(out.ID, out.State)
			default:
				bulks.odd(fmt.Sprintf("bulk: %d %v %s %q", code, err, out.Code, out.Error))
			}
		}
	})

	time.Sleep(before)
	s.Proc.Kill()
	killed := time.Now()
	close(stop)
	wg.Wait()
	t.Logf("killed after %v of bursts: %d registrations acknowledged (%d cut), %d commands (%d cut), %d bulk operations (%d cut)",
		before, len(regs.acked), len(regs.cut), len(cmds.acked), len(cmds.cut), len(bulks.acked), len(bulks.cut))
	for _, b := range []*burst{regs, cmds, bulks} {
		if len(b.other) > 0 {
			t.Errorf("answers neither 2xx nor cut by the kill: %q", b.other)
		}
	}
	if len(regs.acked) == 0 || len(cmds.acked) == 0 || len(bulks.acked)+len(bulks.cut) == 0 {
		t.Fatal("a burst got nothing acknowledged before the kill: nothing was at stake")
	}

	s.Start()
	restarted := time.Since(killed)
	db := storeDB(t, s.Storage)

	// Registrations: each acknowledged one is there with its token; each cut
	// one is there whole (row and audit) or not at all.
	regPresent, cutPresent := 0, 0
	for name, tok := range regs.acked {
		var sum, stored string
		if err := db.QueryRow("SELECT token_sha256, scrape_token FROM registered_collectors WHERE id = $1 AND archived_at IS NULL", name).Scan(&sum, &stored); err != nil {
			t.Errorf("registration %s was acknowledged, then: %v", name, err)
			continue
		}
		h := sha256.Sum256([]byte(tok))
		if sum != hex.EncodeToString(h[:]) || stored != tok {
			t.Errorf("registration %s is stored with another token than the one answered", name)
			continue
		}
		regPresent++
	}
	for _, name := range regs.cut {
		var rows, audits int
		_ = db.QueryRow("SELECT count(*) FROM registered_collectors WHERE id = $1", name).Scan(&rows)
		_ = db.QueryRow("SELECT count(*) FROM audit_log WHERE action = 'register' AND collector = $1", name).Scan(&audits)
		if rows != audits || rows > 1 {
			t.Errorf("registration %s, cut by the kill: %d rows and %d audit rows: half there", name, rows, audits)
		}
		cutPresent += rows
	}
	// The registry serves them again after the restart.
	for name := range regs.acked {
		if _, ok := s.Collector(name); !ok {
			t.Errorf("registration %s acknowledged before the kill is not a collector after the restart", name)
			break
		}
	}

	// Bulk operations: every one stored — acknowledged or cut — is finished,
	// with one command per collector.
	var bulkRows []struct{ id, state string }
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		bulkRows = bulkRows[:0]
		rs, err := db.Query("SELECT id, state FROM bulk_operations")
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for rs.Next() {
			var r struct{ id, state string }
			if err := rs.Scan(&r.id, &r.state); err != nil {
				t.Fatal(err)
			}
			bulkRows = append(bulkRows, r)
			if r.state != wire.BulkDone {
				running++
			}
		}
		rs.Close()
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bulk operations not done 90s after the restart: %v", running, bulkRows)
		}
	}
	for id := range bulks.acked {
		found := false
		for _, r := range bulkRows {
			found = found || r.id == id
		}
		if !found {
			t.Errorf("bulk operation %s was acknowledged, then is not stored", id)
		}
	}
	for _, r := range bulkRows {
		var n, distinct int
		if err := db.QueryRow("SELECT count(*), count(DISTINCT collector) FROM commands WHERE bulk_id = $1", r.id).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		// Finished after the restart, it saw its collectors: none of its items
		// may say the collector is unknown (it ran before discovery was back).
		var result string
		_ = db.QueryRow("SELECT result FROM bulk_operations WHERE id = $1", r.id).Scan(&result)
		if n != nBulk || distinct != nBulk {
			t.Errorf("bulk operation %s has %d commands for %d collectors, want one for each of %d; its result: %s", r.id, n, distinct, nBulk, result)
		}
		if strings.Contains(result, "collector not found") {
			t.Errorf("bulk operation %s finished with collectors not found: %s", r.id, result)
		}
	}

	// Commands: every acknowledged one stored; every stored one final.
	allStored := map[string]string{}
	rs, err := db.Query("SELECT id, collector FROM commands")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id, c string
		if err := rs.Scan(&id, &c); err != nil {
			t.Fatal(err)
		}
		allStored[id] = c
	}
	rs.Close()
	for id, c := range cmds.acked {
		if allStored[id] != c {
			t.Errorf("command %s to %s was acknowledged, then is not stored", id, c)
		}
	}
	_, states := checkCommands(t, db, allStored, 120*time.Second)
	if t.Failed() {
		logOpenCommands(t, db)
	}

	// At the agents: each ran every command delivered to it once (its own
	// count of commands run), and is in the state the store wants.
	ranMismatch := 0
	for i := range nCmd + nBulk {
		id := fmt.Sprintf("sim-%04d", i)
		ran := agentCommands(t, sim.BasePort+i)
		for _, name := range []string{"pause", "resume", "collect"} {
			var delivered int
			if err := db.QueryRow("SELECT count(*) FROM commands WHERE collector = $1 AND command = $2 AND state IN ('acknowledged', 'confirmed')", id, name).Scan(&delivered); err != nil {
				t.Fatal(err)
			}
			if ran[name] != delivered {
				ranMismatch++
				t.Errorf("%s ran %s %d times; the store has %d delivered", id, name, ran[name], delivered)
			}
		}
		if i < nCmd {
			var desired sql.NullString
			_ = db.QueryRow("SELECT run_state FROM desired_state WHERE collector = $1", id).Scan(&desired)
			want := "running"
			if desired.String == "paused" {
				want = "paused"
			}
			s.WaitCollector(id, 30*time.Second, "in its desired state "+want, func(d wire.CollectorDetail) bool {
				return (want == "paused") == (d.AgentState == "paused")
			})
		}
	}

	logged, _ := os.ReadFile(s.Proc.Log)
	finished := strings.Count(string(logged), "finishing a bulk operation the server stopped in")
	usage1 := s.Usage()
	record(t, Row{
		Fault: fmt.Sprintf("server kill -9 after %v of concurrent bursts (4 clients registering, stop/resume to %d agents, bulk collect over %d more), restarted on the same SQLite store", before, nCmd, nBulk),
		Shown: fmt.Sprintf("ready %s after the restart; %d bulk operations it stopped in finished on start (log \"finishing a bulk operation the server stopped in\")", since(restarted), finished),
		Lost: fmt.Sprintf("nothing: %d registrations acknowledged, %d present with their tokens (%d cut by the kill: %d whole, the rest absent); %d commands acknowledged, %d stored, all final %v, each run once at its agent; %d bulk operations acknowledged, %d stored, all done with one command per collector",
			len(regs.acked), regPresent, len(regs.cut), cutPresent, len(cmds.acked), len(cmds.acked), states, len(bulks.acked), len(bulkRows)),
		FDs: fdsCell(usage0, usage1) + " (the restarted process)",
		RSS: rssCell(usage0, usage1) + " (the restarted process)",
	})
}

// logOpenCommands says, per collector, how many commands are still open and
// where the oldest of them is, so that a failure shows a stall from slowness.
func logOpenCommands(t *testing.T, db *sql.DB) {
	t.Helper()
	rs, err := db.Query(`SELECT collector, count(*), min(created_at), sum(CASE WHEN state = 'confirmed' THEN 1 ELSE 0 END) FROM commands GROUP BY collector ORDER BY collector`)
	if err != nil {
		t.Log(err)
		return
	}
	for rs.Next() {
		var c string
		var n, first, done int64
		if err := rs.Scan(&c, &n, &first, &done); err != nil {
			t.Log(err)
			break
		}
		if done < n {
			t.Logf("%s: %d commands, %d confirmed", c, n, done)
		}
	}
	rs.Close()
	rs, err = db.Query(`SELECT collector, id, command, state, attempts, error, created_at, COALESCE(sent_at, 0), COALESCE(acked_at, 0), COALESCE(finished_at, 0) FROM commands WHERE state NOT IN ('confirmed') ORDER BY collector, created_at LIMIT 40`)
	if err != nil {
		t.Log(err)
		return
	}
	defer rs.Close()
	for rs.Next() {
		var c, id, cmd, state, why string
		var attempts, created, sent, acked, finished int64
		if err := rs.Scan(&c, &id, &cmd, &state, &attempts, &why, &created, &sent, &acked, &finished); err != nil {
			t.Log(err)
			return
		}
		ms := func(v int64) string {
			if v == 0 {
				return "-"
			}
			return time.UnixMilli(v).UTC().Format("15:04:05.000")
		}
		t.Logf("  %s %s %s %s attempts=%d created=%s sent=%s acked=%s finished=%s error=%q", c, id, cmd, state, attempts, ms(created), ms(sent), ms(acked), ms(finished), why)
	}
}
