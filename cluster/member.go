// Package cluster lets several corral servers (replicas) share one fleet
// through the PostgreSQL store they all use, with no protocol of its own.
//
// Membership: every replica holds a lease row in the table cluster_members,
// renewed every lease interval against the database's clock; the live set is
// the rows whose lease has not expired. A replica that stops leaves (deletes
// its row) so that its share moves at once; one that dies is dropped when its
// lease expires.
//
// Ownership: a key (a collector) belongs to the live replica with the highest
// rendezvous score hash(replica, key), as vmagent's -promscrape.cluster.* and
// Prometheus's hashmod split targets. Every replica computes the same owner
// from the same live set, so no assignment is stored. When the live set
// changes only the keys of the replica that came or went move.
//
// Messages between replicas ([Bus]) go through PostgreSQL LISTEN/NOTIFY.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Member. URL and Name are required.
type Options struct {
	URL     string // the PostgreSQL store's URL
	Name    string // this replica's name, unique in the cluster
	Address string // where its API listens, for operators (kept in the lease row)
	// Interval is how often the lease is renewed and the live set read
	// (default 2s); Expiry how long a lease lasts unrenewed (default 3 × Interval).
	Interval, Expiry time.Duration
	// Changed is called, on Run's goroutine, after the live set changed.
	Changed    func(live []string)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Member is this replica's membership. Its methods are safe for concurrent use.
type Member struct {
	o    Options
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	live []string // sorted, this replica always included

	mLive    prometheus.Gauge
	mRenew   *prometheus.CounterVec
	mChanges prometheus.Counter
}

// Join connects to the database and takes this replica's lease, so that the
// live set includes it from the start. A replica of the same name that holds a
// live lease is refused: two replicas with one name would both own its share.
func Join(ctx context.Context, o Options) (*Member, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		return nil, errors.New("cluster: no replica name")
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Expiry <= 0 {
		o.Expiry = 3 * o.Interval
	}
	pool, err := pgxpool.New(ctx, o.URL)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to the store: %w", err)
	}
	m := &Member{o: o, pool: pool, log: o.Logger.With("component", "cluster", "replica", o.Name), live: []string{o.Name}}
	m.metrics(o.Registerer)
	// A replica restarted after a crash finds its own lease still live: wait
	// for it to expire rather than fail (a second replica under the same name
	// is refused once the wait is over).
	for deadline := time.Now().Add(o.Expiry + o.Interval); ; {
		err = m.take(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errNameTaken) || time.Now().After(deadline) {
			pool.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			pool.Close()
			return nil, ctx.Err()
		case <-time.After(o.Interval / 2):
		}
	}
	if _, err := m.refresh(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	m.log.Info("joined the cluster", "live", m.Live())
	return m, nil
}

func (m *Member) metrics(reg prometheus.Registerer) {
	m.mLive = prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_cluster_replicas", Help: "Live replicas this replica sees in the cluster."})
	m.mRenew = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_cluster_lease_renewals_total", Help: "Lease renewals of this replica, by result."}, []string{"result"})
	m.mChanges = prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_cluster_membership_changes_total", Help: "Changes of the live set this replica saw."})
	m.mRenew.WithLabelValues("success")
	m.mRenew.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.mLive, m.mRenew, m.mChanges)
	}
}

// errNameTaken: another replica holds a live lease under this name.
var errNameTaken = errors.New("a live lease is held under this name")

// nowMS is the database's clock in unix milliseconds: leases compare times of
// one clock only.
const nowMS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`

// take inserts this replica's lease, or takes over its own expired one.
func (m *Member) take(ctx context.Context) error {
	tag, err := m.pool.Exec(ctx, `INSERT INTO cluster_members (replica, address, started_at, renewed_at, expires_at)
VALUES ($1, $2, `+nowMS+`, `+nowMS+`, `+nowMS+` + $3)
ON CONFLICT (replica) DO UPDATE SET address = excluded.address, started_at = excluded.started_at,
	renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
WHERE cluster_members.expires_at <= `+nowMS, m.o.Name, m.o.Address, m.o.Expiry.Milliseconds())
	if err != nil {
		return fmt.Errorf("cluster: take the lease of %s: %w (does the store run the cluster_members migration?)", m.o.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("cluster: replica name %q: %w: another replica runs under it; give each its own cluster.replica_name", m.o.Name, errNameTaken)
	}
	return nil
}

// renew extends this replica's lease; it takes it again if it had expired
// (the database was out of reach longer than the expiry).
func (m *Member) renew(ctx context.Context) error {
	_, err := m.pool.Exec(ctx, `INSERT INTO cluster_members (replica, address, started_at, renewed_at, expires_at)
VALUES ($1, $2, `+nowMS+`, `+nowMS+`, `+nowMS+` + $3)
ON CONFLICT (replica) DO UPDATE SET renewed_at = excluded.renewed_at, expires_at = excluded.expires_at`,
		m.o.Name, m.o.Address, m.o.Expiry.Milliseconds())
	if err != nil {
		m.mRenew.WithLabelValues("error").Inc()
		return fmt.Errorf("cluster: renew the lease: %w", err)
	}
	m.mRenew.WithLabelValues("success").Inc()
	return nil
}

// refresh reads the live set and reports whether it changed.
func (m *Member) refresh(ctx context.Context) (bool, error) {
	rows, err := m.pool.Query(ctx, `SELECT replica FROM cluster_members WHERE expires_at > `+nowMS+` ORDER BY replica`)
	if err != nil {
		return false, fmt.Errorf("cluster: read the live replicas: %w", err)
	}
	var live []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return false, fmt.Errorf("cluster: read the live replicas: %w", err)
		}
		live = append(live, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("cluster: read the live replicas: %w", err)
	}
	if !slices.Contains(live, m.o.Name) {
		// Our lease lapsed (the database was away): we still run, and renew
		// takes it back; meanwhile the others may scrape our share too.
		live = append(live, m.o.Name)
		slices.Sort(live)
	}
	m.mu.Lock()
	changed := !slices.Equal(live, m.live)
	m.live = live
	m.mu.Unlock()
	m.mLive.Set(float64(len(live)))
	return changed, nil
}

// Run renews the lease and follows the live set until ctx ends, then leaves
// the cluster and closes the connections. While the database is out of reach
// the replica keeps the last live set it read: each replica keeps scraping
// what it owned, so an outage of the store makes neither gaps nor doubles.
func (m *Member) Run(ctx context.Context) {
	defer m.pool.Close()
	t := time.NewTicker(m.o.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			m.leave()
			return
		case <-t.C:
		}
		step, cancel := context.WithTimeout(ctx, m.o.Interval)
		err := m.renew(step)
		var changed bool
		if err == nil {
			changed, err = m.refresh(step)
		}
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			m.log.Warn("cluster lease not renewed; keeping the last live set", "err", err, "live", m.Live())
		case err == nil && failing:
			failing = false
			m.log.Info("cluster lease renewed again", "live", m.Live())
		}
		if changed {
			m.mChanges.Inc()
			live := m.Live()
			m.log.Info("cluster membership changed", "live", live)
			if m.o.Changed != nil {
				m.o.Changed(live)
			}
		}
	}
}

// leave deletes this replica's lease: the others take its share at their next
// renewal instead of after the expiry.
func (m *Member) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := m.pool.Exec(ctx, `DELETE FROM cluster_members WHERE replica = $1`, m.o.Name); err != nil {
		m.log.Warn("leaving the cluster failed; the others take over when the lease expires", "err", err, "expiry", m.o.Expiry)
		return
	}
	m.log.Info("left the cluster")
}

// Name is this replica's name.
func (m *Member) Name() string { return m.o.Name }

// Live is the live set, sorted; it always includes this replica.
func (m *Member) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live)
}

// Owner is the replica that owns key in the current live set.
func (m *Member) Owner(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Owner(m.live, key)
}

// Owns reports whether this replica owns key.
func (m *Member) Owns(key string) bool { return m.Owner(key) == m.o.Name }

// Leader reports whether this replica is the one that runs what must run once
// in the cluster (scheduled bulk operations): the owner of the empty key.
func (m *Member) Leader() bool { return m.Owns("") }

// Owner is the member of live with the highest rendezvous score for key, ""
// when live is empty. The score is FNV-1a 64 of replica, a zero byte and key,
// finished with SplitMix64's mixer, so that similar names spread evenly.
func Owner(live []string, key string) string {
	var best string
	var bestScore uint64
	for _, r := range live {
		s := score(r, key)
		if best == "" || s > bestScore || (s == bestScore && r < best) {
			best, bestScore = r, s
		}
	}
	return best
}

func score(replica, key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(replica))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
