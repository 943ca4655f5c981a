package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/cluster"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/targets"
)

// Topics of the cluster bus.
const (
	topicEvents  = "corral_events"  // real-time events, for the WebSocket clients of every replica
	topicControl = "corral_control" // a collector whose commands or desired state changed
)

// replicas is this server's part in a cluster (cluster.enabled): which
// targets it scrapes, the fleet as the other replicas keep it in the store,
// and the bus to them. nil without a cluster.
type replicas struct {
	s        *server
	member   *cluster.Member
	bus      *cluster.Bus
	handover time.Duration

	mu       sync.Mutex
	scraping map[string]bool      // collectors handed to the scraper at the last sync
	released map[string]time.Time // collectors moved to another replica, scraped here until handover passed
	timer    *time.Timer          // the sync after the next handover ends

	remoteMu sync.Mutex
	remote   map[string]health.Health // collectors other replicas own, as the store has them
	sorted   []string
	readAt   time.Time // when remote was read; zero: read again at the next use
}

// remoteMaxAge is how old the view of the other replicas' collectors may be
// when the API uses it: it is read on use, so an idle replica reads nothing.
const remoteMaxAge = 2 * time.Second

// replicaName is cluster.replica_name, or hostname:port of the listen address.
func replicaName(c configs.ClusterConfig, listen string) string {
	if c.ReplicaName != "" {
		return c.ReplicaName
	}
	host, _ := os.Hostname()
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		port = listen
	}
	return host + ":" + port
}

// joinCluster takes this replica's lease; nil, nil without a cluster section.
func (s *server) joinCluster(ctx context.Context) (*replicas, error) {
	c := s.cfg.Cluster
	if !c.Enabled {
		return nil, nil
	}
	handover := time.Duration(c.Handover)
	if handover == 0 {
		handover = time.Duration(s.cfg.Global.ScrapeInterval)
		for _, sc := range s.cfg.ScrapeConfigs {
			handover = max(handover, time.Duration(sc.ScrapeInterval))
		}
	}
	r := &replicas{s: s, handover: handover, scraping: map[string]bool{}, released: map[string]time.Time{}, remote: map[string]health.Health{}}
	name := replicaName(c, s.opts.ListenAddress)
	m, err := cluster.Join(ctx, cluster.Options{URL: s.cfg.Storage.URL, Name: name, Address: s.opts.ListenAddress,
		Interval: time.Duration(c.LeaseInterval), Expiry: time.Duration(c.LeaseExpiry),
		Changed: r.membershipChanged, Logger: s.log, Registerer: s.reg})
	if err != nil {
		return nil, err
	}
	r.member = m
	r.bus = cluster.NewBus(s.cfg.Storage.URL, name, s.log, s.reg)
	r.bus.Handle(topicEvents, r.receiveEvent)
	r.bus.Handle(topicControl, r.receiveControl)
	return r, nil
}

// run keeps the lease, the bus and the view of the others' collectors until ctx ends.
func (r *replicas) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { r.member.Run(ctx) })
	wg.Go(func() { r.bus.Run(ctx) })
	wg.Go(func() { r.sweep(ctx) })
	wg.Wait()
	r.mu.Lock()
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
}

// sweep takes, every ten lease intervals (at least 10 s), the open commands of
// owned collectors whose announcement this replica missed.
func (r *replicas) sweep(ctx context.Context) {
	t := time.NewTicker(max(10*time.Second, 10*time.Duration(r.s.cfg.Cluster.LeaseInterval)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.s.plane.Dispatcher.AdoptOpen(ctx); err != nil && ctx.Err() == nil {
			r.s.log.Warn("sweeping for open commands failed", "err", err)
		}
	}
}

// abandon gives the lease up when the server fails to start after it joined.
func (r *replicas) abandon() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.member.Run(ctx) // leaves at once and closes the connections
}

// membershipChanged moves targets and commands to their new owners.
func (r *replicas) membershipChanged([]string) {
	r.s.syncTargets(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.s.plane.Dispatcher.Adopt(ctx); err != nil {
		r.s.log.Warn("taking over the commands of collectors this replica owns now failed; the next change or announcement retries", "err", err)
	}
	r.remoteMu.Lock()
	r.readAt = time.Time{} // the owners changed: read again at the next use
	r.remoteMu.Unlock()
}

// owned is the part of ts this replica scrapes: the targets it owns, and for
// handover after one moved to another replica, so that the new owner's first
// scrape comes before this one's last (at most one scrape of a moved target
// overlaps; none is missed). It runs under syncMu.
func (r *replicas) owned(ts []*targets.Target) []*targets.Target {
	now := time.Now()
	out := make([]*targets.Target, 0, len(ts)/max(1, len(r.member.Live()))+8)
	r.mu.Lock()
	defer r.mu.Unlock()
	next := time.Duration(0)
	scraping := make(map[string]bool, len(r.scraping))
	for _, t := range ts {
		id := t.Collector
		if r.member.Owns(id) {
			delete(r.released, id)
			out, scraping[id] = append(out, t), true
			continue
		}
		since, ok := r.released[id]
		if !ok && r.scraping[id] {
			since, ok = now, true
			r.released[id] = now
		}
		if ok && now.Sub(since) < r.handover {
			out, scraping[id] = append(out, t), true
			if left := r.handover - now.Sub(since); next == 0 || left < next {
				next = left
			}
			continue
		}
		delete(r.released, id)
	}
	for id := range r.released {
		if !scraping[id] {
			delete(r.released, id) // left discovery meanwhile
		}
	}
	r.scraping = scraping
	if next > 0 {
		if r.timer != nil {
			r.timer.Stop()
		}
		r.timer = time.AfterFunc(next+10*time.Millisecond, func() { r.s.syncTargets(nil) })
	}
	return out
}

// view is the other replicas' collectors, read from the store when the last
// read is older than remoteMaxAge. One read at a time: callers meanwhile wait
// for it rather than read too.
func (r *replicas) view() (map[string]health.Health, []string) {
	r.remoteMu.Lock()
	defer r.remoteMu.Unlock()
	if time.Since(r.readAt) > remoteMaxAge {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r.refreshLocked(ctx)
		cancel()
	}
	return r.remote, r.sorted
}

func (r *replicas) refreshLocked(ctx context.Context) {
	cs, err := r.s.store.Collectors(ctx)
	if err != nil {
		r.s.log.Warn("reading the other replicas' collectors failed; the API shows the last ones read", "err", err)
		return
	}
	r.s.mu.Lock()
	byID := make(map[string]*targets.Target, len(r.s.discovered))
	for _, t := range r.s.discovered {
		byID[t.Collector] = t
	}
	r.s.mu.Unlock()
	remote := make(map[string]health.Health, len(cs))
	sorted := make([]string, 0, len(cs))
	for _, c := range cs {
		t, ok := byID[c.ID]
		if !ok || r.member.Owns(c.ID) {
			continue // not a target now, or ours: the evaluator has it
		}
		remote[c.ID] = remoteHealth(c, t)
		sorted = append(sorted, c.ID)
	}
	sort.Strings(sorted)
	r.remote, r.sorted, r.readAt = remote, sorted, time.Now()
}

// remoteHealth is what the store keeps of a collector another replica scrapes.
func remoteHealth(c fleet.CollectorState, t *targets.Target) health.Health {
	h := health.Health{Collector: c.ID, Target: t, Status: c.Status, Reason: c.Reason, StatusSince: c.StatusSince,
		FirstSeen: c.FirstSeen, LastSeen: c.LastSeen, LastScrape: c.LastSeen, LastItem: c.LastItem}
	switch c.Status {
	case fleet.StatusOffline, fleet.StatusUnknown, fleet.StatusArchived, "":
	default:
		h.Up = true
	}
	if h.Status == "" {
		h.Status, h.Reason = fleet.StatusUnknown, "not scraped yet"
	}
	return h
}

// fleetView is the whole fleet behind this replica's API: the collectors it
// evaluates itself, live, and the others' as the store has them (as fresh as
// their owners' last write, about a second, and this replica's last read, at
// most remoteMaxAge).
type fleetView struct {
	eval *health.Evaluator
	r    *replicas
}

func (f fleetView) Get(id string) (health.Health, bool) {
	if h, ok := f.eval.Get(id); ok {
		return h, true
	}
	remote, _ := f.r.view()
	h, ok := remote[id]
	return h, ok
}

// Each visits every collector in the order of their ids.
func (f fleetView) Each(fn func(health.Health) bool) {
	var local []health.Health
	f.eval.Each(func(h health.Health) bool { local = append(local, h); return true })
	remote, sorted := f.r.view()
	i, j := 0, 0
	for i < len(local) || j < len(sorted) {
		var h health.Health
		switch {
		case j == len(sorted) || (i < len(local) && local[i].Collector <= sorted[j]):
			h = local[i]
			if j < len(sorted) && sorted[j] == h.Collector {
				j++ // ours now: the live one wins
			}
			i++
		default:
			h = remote[sorted[j]]
			j++
		}
		if !fn(h) {
			return
		}
	}
}

// fleet is the fleet the API reads: the evaluator's alone on a single
// server, with the other replicas' collectors in a cluster.
func (s *server) fleet() api.FleetReader {
	if s.cluster == nil {
		return s.eval
	}
	return fleetView{eval: s.eval, r: s.cluster}
}

// relay publishes an event to this replica's WebSocket clients and, through
// the bus, to the other replicas'.
type relay struct {
	hub *events.Hub
	bus *cluster.Bus
}

func (p relay) Publish(e events.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	p.hub.Publish(e)
	if b, err := json.Marshal(e); err == nil {
		p.bus.Send(topicEvents, b)
	}
}

func (r *replicas) receiveEvent(msg []byte) {
	var e events.Event
	if err := json.Unmarshal(msg, &e); err != nil {
		r.s.log.Warn("unreadable event from another replica", "err", err)
		return
	}
	r.s.hub.Publish(e)
}

// announce tells the other replicas that a collector's commands or desired
// state changed here (control.DispatcherOptions.Announce).
func (r *replicas) announce(collector string) {
	r.bus.Send(topicControl, []byte(collector))
}

func (r *replicas) receiveControl(msg []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.s.plane.Dispatcher.Adopt(ctx, string(msg)); err != nil {
		r.s.log.Warn("reading a command another replica announced failed; the next membership change reads it", "collector", string(msg), "err", err)
	}
}

// String describes the replica for the start log line.
func (r *replicas) String() string {
	if r == nil {
		return "off"
	}
	return fmt.Sprintf("%s of %v", r.member.Name(), r.member.Live())
}
