package configs

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// ClusterConfig is the cluster section: several corral servers (replicas)
// sharing one fleet through one PostgreSQL store. Each replica holds a lease
// row; the targets are split over the live replicas by rendezvous hashing.
type ClusterConfig struct {
	// Enabled turns replication on. It needs a postgres:// storage.url.
	Enabled bool `yaml:"enabled"`
	// ReplicaName names this replica in the lease table, the logs and
	// /metrics; default hostname:port of --web.listen-address. Every replica
	// needs a name of its own.
	ReplicaName string `yaml:"replica_name,omitempty"`
	// LeaseInterval is how often a replica renews its lease and reads the
	// live set (default 2s).
	LeaseInterval model.Duration `yaml:"lease_interval,omitempty"`
	// LeaseExpiry is how long a lease lasts without renewal (default 3 ×
	// lease_interval): a replica not heard of for that long is dead and its
	// targets move to the others.
	LeaseExpiry model.Duration `yaml:"lease_expiry,omitempty"`
	// Handover is how long a replica keeps scraping a target after it moved
	// to another replica, so that the new owner's first scrape comes before
	// the old owner's last (default: the longest scrape interval of the
	// config; 0 after defaults is not possible, set 1ms for "at once").
	Handover model.Duration `yaml:"handover,omitempty"`
}

// Defaults of the cluster section.
const (
	DefaultLeaseInterval = 2 * time.Second
)

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (c *ClusterConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = ClusterConfig{}
	type cluster ClusterConfig
	return unmarshal((*cluster)(c))
}

func (c *ClusterConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	orDefault(&c.LeaseInterval, model.Duration(DefaultLeaseInterval))
	orDefault(&c.LeaseExpiry, 3*c.LeaseInterval)
	switch {
	case c.LeaseInterval < model.Duration(100*time.Millisecond) || c.LeaseInterval > model.Duration(time.Minute):
		return fmt.Errorf("cluster.lease_interval: %s must be between 100ms and 1m", c.LeaseInterval)
	case c.LeaseExpiry < 2*c.LeaseInterval:
		return fmt.Errorf("cluster.lease_expiry: %s must be at least twice lease_interval (%s), or one late renewal drops a live replica", c.LeaseExpiry, c.LeaseInterval)
	case c.Handover < 0:
		return fmt.Errorf("cluster.handover: %s must not be negative", c.Handover)
	case strings.ContainsAny(c.ReplicaName, " \t\n"):
		return fmt.Errorf("cluster.replica_name: %q must not contain spaces", c.ReplicaName)
	}
	return nil
}

// CheckClusterStorage tells why the cluster section cannot run on the store
// at url, if it cannot: replicas share one PostgreSQL database.
func (c *ClusterConfig) CheckClusterStorage(url string) error {
	if !c.Enabled {
		return nil
	}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return nil
	}
	return fmt.Errorf("cluster.enabled needs a PostgreSQL store shared by every replica (storage.url postgres://…), not %q; SQLite is one server's store", url)
}
