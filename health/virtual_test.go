package health

import (
	"context"
	"math"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/synthetic"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// TestFaultModesInVirtualTime runs real agents with the synthetic collector's fault
// modes for two virtual hours, scrapes their real /metrics every 15 s (in memory:
// sockets do not take part in virtual time) through the real parser, and checks
// freshness, completeness and status at the end.
func TestFaultModesInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type agentCase struct {
			name     string
			cfg      synthetic.Config
			sched    exporter.Schedule
			wantStat fleet.Status
			want1h   float64 // NaN: no judgement
		}
		never := &exporter.WeeklySchedule{From: 23 * time.Hour, To: 23*time.Hour + time.Minute} // synctest's clock starts at midnight
		cases := []agentCase{
			{"healthy", synthetic.Config{Rate: 1}, nil, fleet.StatusOnline, 1},
			{"half-missing", synthetic.Config{Rate: 1, MissingRatio: 0.5}, nil, fleet.StatusIncomplete, 0.5},
			{"lagging", synthetic.Config{Rate: 1, Lag: 20 * time.Minute}, nil, fleet.StatusStale, 1},
			{"off-hours", synthetic.Config{Rate: 1}, never, fleet.StatusWaiting, math.NaN()},
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := NewEvaluator(Options{})
		type running struct {
			c  agentCase
			a  *exporter.Agent
			tg *targets.Target
		}
		var rs []running
		for _, c := range cases {
			a, err := exporter.New(synthetic.New(c.cfg, 1), exporter.Options{
				Name: c.name, Interval: time.Minute, ExpectedItems: 60, Schedule: c.sched,
			})
			if err != nil {
				t.Fatal(err)
			}
			go a.Run(ctx)
			tg := &targets.Target{Collector: c.name, Labels: map[string]string{"collector": c.name}}
			e.Track(tg, 15*time.Second, 10*time.Second)
			rs = append(rs, running{c, a, tg})
		}
		var p expo.Parser
		for range 2 * 60 * 4 { // every 15 s for two hours
			time.Sleep(15 * time.Second)
			synctest.Wait()
			for _, r := range rs {
				rec := httptest.NewRecorder()
				r.a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				body := rec.Body.Bytes()
				start := time.Now()
				if err := p.Parse(body, false, 0); err != nil {
					t.Fatal(err)
				}
				e.Observe(&scrape.Result{Target: r.tg, Start: start, Samples: len(p.Samples()), Agent: scrape.ExtractAgent(p.Samples(), nil)})
			}
		}
		for _, r := range rs {
			h, _ := e.Get(r.c.name)
			if h.Status != r.c.wantStat {
				t.Errorf("%s: status %s (%s), want %s", r.c.name, h.Status, h.Reason, r.c.wantStat)
			}
			switch {
			case math.IsNaN(r.c.want1h):
				if !math.IsNaN(h.Completeness1h) {
					t.Errorf("%s: completeness %v, want none", r.c.name, h.Completeness1h)
				}
			case math.Abs(h.Completeness1h-r.c.want1h) > 0.02:
				t.Errorf("%s: completeness 1h %.3f, want %.2f", r.c.name, h.Completeness1h, r.c.want1h)
			}
		}
		lag, _ := e.Get("lagging")
		if lag.Freshness < 20*time.Minute || lag.Freshness > 22*time.Minute {
			t.Errorf("lagging freshness %s, want ≈ 20m + one interval", lag.Freshness)
		}
		fresh, _ := e.Get("healthy")
		if fresh.Freshness > time.Minute {
			t.Errorf("healthy freshness %s", fresh.Freshness)
		}
		cancel()
		synctest.Wait()
	})
}
