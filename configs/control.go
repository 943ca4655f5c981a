package configs

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// ControlConfig is the control section: how commands to agents are delivered.
type ControlConfig struct {
	// CommandExpiry is how long a command may take to be delivered and
	// confirmed before it expires (default 5m); a running backfill extends it
	// while it makes progress.
	CommandExpiry model.Duration `yaml:"command_expiry"`
	// RetryMaxBackoff bounds the wait between two delivery attempts to an agent
	// that does not answer (default 30s; it doubles from 1s).
	RetryMaxBackoff model.Duration `yaml:"retry_max_backoff"`
	// ArchiveRetentionDays is how long an unregistered collector's data is
	// kept when the request does not say (default 90).
	ArchiveRetentionDays int `yaml:"archive_retention_days"`
}

// Defaults of the control section.
const (
	DefaultCommandExpiry        = 5 * time.Minute
	DefaultRetryMaxBackoff      = 30 * time.Second
	DefaultArchiveRetentionDays = 90
)

// DefaultControlConfig is the control section's default.
var DefaultControlConfig = ControlConfig{
	CommandExpiry:        model.Duration(DefaultCommandExpiry),
	RetryMaxBackoff:      model.Duration(DefaultRetryMaxBackoff),
	ArchiveRetentionDays: DefaultArchiveRetentionDays,
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler (see config.go for why
// that one): defaults, then the file.
func (c *ControlConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultControlConfig
	type control ControlConfig
	return unmarshal((*control)(c))
}

func (c *ControlConfig) validate() error {
	orDefault(&c.CommandExpiry, DefaultControlConfig.CommandExpiry)
	orDefault(&c.RetryMaxBackoff, DefaultControlConfig.RetryMaxBackoff)
	orDefault(&c.ArchiveRetentionDays, DefaultControlConfig.ArchiveRetentionDays)
	switch {
	case c.CommandExpiry < model.Duration(time.Second) || c.CommandExpiry > model.Duration(24*time.Hour):
		return fmt.Errorf("control.command_expiry: %s must be between 1s and 24h", c.CommandExpiry)
	case c.RetryMaxBackoff < model.Duration(time.Second) || c.RetryMaxBackoff > c.CommandExpiry:
		return fmt.Errorf("control.retry_max_backoff: %s must be between 1s and command_expiry (%s)", c.RetryMaxBackoff, c.CommandExpiry)
	case c.ArchiveRetentionDays < 1 || c.ArchiveRetentionDays > 3650:
		return fmt.Errorf("control.archive_retention_days: %d must be between 1 and 3650", c.ArchiveRetentionDays)
	}
	return nil
}
