package configs

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// LogsConfig is the logs section: pulling the agents' /logs and how long the
// records are kept.
type LogsConfig struct {
	// Pull turns pulling on (default true). Agents without /logs are asked
	// rarely, so it can stay on for a mixed fleet.
	Pull *bool `yaml:"pull"`
	// PullInterval is the least time between two pulls of one collector
	// (default: its scrape interval, at least 10s); at least 1s.
	PullInterval model.Duration `yaml:"pull_interval"`
	// RetentionDays keeps records this many days after they were pulled
	// (default 7).
	RetentionDays int `yaml:"retention_days"`
	// MaxRowsPerCollector keeps at most this many of each collector's newest
	// records (default 10000).
	MaxRowsPerCollector int `yaml:"max_rows_per_collector"`
}

// Defaults of the logs section.
const (
	DefaultLogRetentionDays       = 7
	DefaultLogMaxRowsPerCollector = 10000
)

// Enabled reports whether logs are pulled.
func (l LogsConfig) Enabled() bool { return l.Pull == nil || *l.Pull }

// Retention is RetentionDays as a duration.
func (l LogsConfig) Retention() time.Duration {
	return time.Duration(l.RetentionDays) * 24 * time.Hour
}

// Equal reports whether two logs sections say the same.
func (l LogsConfig) Equal(o LogsConfig) bool {
	return l.Enabled() == o.Enabled() && l.PullInterval == o.PullInterval &&
		l.RetentionDays == o.RetentionDays && l.MaxRowsPerCollector == o.MaxRowsPerCollector
}

// DefaultLogsConfig is the logs section's default. A nil Pull means true.
var DefaultLogsConfig = LogsConfig{
	RetentionDays:       DefaultLogRetentionDays,
	MaxRowsPerCollector: DefaultLogMaxRowsPerCollector,
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler (see config.go for why
// that one): defaults, then the file.
func (l *LogsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*l = DefaultLogsConfig
	type logs LogsConfig
	return unmarshal((*logs)(l))
}

func (l *LogsConfig) validate() error {
	if l.Pull == nil { // left out or null: pull
		on := true
		l.Pull = &on
	}
	switch {
	case l.PullInterval < 0:
		return fmt.Errorf("logs.pull_interval: %s must not be negative", l.PullInterval)
	case l.PullInterval != 0 && l.PullInterval < model.Duration(time.Second):
		return fmt.Errorf("logs.pull_interval: %s is under 1s; leave it out for the scrape interval, or raise it", l.PullInterval)
	case l.RetentionDays < 0:
		return fmt.Errorf("logs.retention_days: %d must not be negative (leave it out for %d)", l.RetentionDays, DefaultLogRetentionDays)
	case l.RetentionDays > 3650:
		return fmt.Errorf("logs.retention_days: %d is over ten years; lower it", l.RetentionDays)
	case l.MaxRowsPerCollector < 0:
		return fmt.Errorf("logs.max_rows_per_collector: %d must not be negative (leave it out for %d)", l.MaxRowsPerCollector, DefaultLogMaxRowsPerCollector)
	}
	orDefault(&l.RetentionDays, DefaultLogsConfig.RetentionDays)
	orDefault(&l.MaxRowsPerCollector, DefaultLogsConfig.MaxRowsPerCollector)
	return nil
}
