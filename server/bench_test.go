package server

import (
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/corral-dev/corral/store"
)

// BenchmarkCommandRoundTrip is the round trip an operator waits for, on
// loopback: POST /api/v1/collectors/{id}/test-connection?wait=ack to the real
// server (token check, a command and its audit row written to SQLite, queued,
// signed, POSTed to a real agent, run, answered, recorded) and back. It reports
// the p50 and p99 of the iterations.
func BenchmarkCommandRoundTrip(b *testing.B) {
	f := newFleet(b, "sqlite:"+filepath.Join(b.TempDir(), "corral.db"), 1, "")
	sim := f.agents[0].Name
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		var ans cmdAnswer
		if code := f.call("super", http.MethodPost, "/api/v1/collectors/"+sim+"/test-connection?wait=ack", nil, &ans); code != 200 || ans.Command.State != store.CommandConfirmed {
			b.Fatalf("test-connection: %d %+v", code, ans)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkStopConfirmed is stop then resume, each waited for until a scrape
// confirmed it (scrape interval 200ms): what an operator waits for with
// wait=confirmed, dominated by the scrape interval.
func BenchmarkStopConfirmed(b *testing.B) {
	f := newFleet(b, "sqlite:"+filepath.Join(b.TempDir(), "corral.db"), 1, "")
	sim := f.agents[0].Name
	var took []time.Duration
	for b.Loop() {
		for _, route := range []string{"stop", "resume"} {
			start := time.Now()
			var ans cmdAnswer
			if code := f.call("super", http.MethodPost, "/api/v1/collectors/"+sim+"/"+route+"?wait=confirmed", nil, &ans); code != 200 || ans.Command.State != store.CommandConfirmed {
				b.Fatalf("%s: %d %+v", route, code, ans)
			}
			took = append(took, time.Since(start))
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
