package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
)

// RemoteWriteConfig is one entry of remote_write: a Prometheus-compatible
// receiver (Prometheus with --web.enable-remote-write-receiver,
// VictoriaMetrics, Mimir …) that gets every scraped sample and the fleet
// series, in Prometheus's shape.
type RemoteWriteConfig struct {
	URL string `yaml:"url"`
	// Name tells queues apart in the corral_remote_write_* metrics (default:
	// a hash of the URL, as Prometheus's is a hash of the config).
	Name          string            `yaml:"name,omitempty"`
	RemoteTimeout model.Duration    `yaml:"remote_timeout,omitempty"`
	Headers       map[string]string `yaml:"headers,omitempty"`
	// WriteRelabelConfigs rewrite, keep or drop each series before it is sent.
	WriteRelabelConfigs []*relabel.Config `yaml:"write_relabel_configs,omitempty"`
	QueueConfig         QueueConfig       `yaml:"queue_config,omitempty"`
	// HTTPClientConfig is prometheus/common's client settings, inline as in
	// Prometheus (basic_auth, authorization, oauth2, tls_config, proxy_url …).
	// yaml skips the UnmarshalYAML of an inline struct: its defaults come
	// with DefaultRemoteWriteConfig and validate calls SetDirectory and
	// Validate.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`
}

// QueueConfig is remote_write's queue_config, with Prometheus's fields and
// defaults. corral has no write-ahead log: the queue lives in memory, each
// shard holding up to Capacity samples; what does not fit while the receiver
// is down or slow is dropped and counted.
type QueueConfig struct {
	Capacity          int            `yaml:"capacity"`
	MaxShards         int            `yaml:"max_shards"`
	MinShards         int            `yaml:"min_shards"`
	MaxSamplesPerSend int            `yaml:"max_samples_per_send"`
	BatchSendDeadline model.Duration `yaml:"batch_send_deadline"`
	MinBackoff        model.Duration `yaml:"min_backoff"`
	MaxBackoff        model.Duration `yaml:"max_backoff"`
	RetryOnRateLimit  bool           `yaml:"retry_on_http_429"`
}

// DefaultQueueConfig is Prometheus's (config.DefaultQueueConfig).
var DefaultQueueConfig = QueueConfig{
	Capacity: 10000, MaxShards: 50, MinShards: 1, MaxSamplesPerSend: 2000,
	BatchSendDeadline: model.Duration(5 * time.Second),
	MinBackoff:        model.Duration(30 * time.Millisecond), MaxBackoff: model.Duration(5 * time.Second),
	RetryOnRateLimit: true,
}

// DefaultRemoteWriteConfig is an entry's default, Prometheus's.
var DefaultRemoteWriteConfig = RemoteWriteConfig{
	RemoteTimeout:    model.Duration(30 * time.Second),
	QueueConfig:      DefaultQueueConfig,
	HTTPClientConfig: commoncfg.DefaultHTTPClientConfig,
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (c *RemoteWriteConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultRemoteWriteConfig
	type remoteWrite RemoteWriteConfig
	return unmarshal((*remoteWrite)(c))
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (q *QueueConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*q = DefaultQueueConfig
	type queueConfig QueueConfig
	return unmarshal((*queueConfig)(q))
}

// reservedHeaders are set by the protocol or the client settings, as
// Prometheus's config.reservedHeaders.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Host": true, "Content-Encoding": true, "Content-Length": true,
	"Content-Type": true, "User-Agent": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Www-Authenticate": true,
	"Accept-Encoding": true, "X-Prometheus-Remote-Write-Version": true,
	"X-Prometheus-Remote-Read-Version": true, "Retry-Attempt": true,
}

func (c *RemoteWriteConfig) validate(field, dir string) error {
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s.url: %q, want an http:// or https:// URL such as http://prometheus:9090/api/v1/write", field, c.URL)
	}
	if c.Name == "" {
		h := sha256.Sum256([]byte(c.URL))
		c.Name = hex.EncodeToString(h[:3])
	}
	if c.RemoteTimeout <= 0 {
		return fmt.Errorf("%s.remote_timeout: must be positive", field)
	}
	for k := range c.Headers {
		if reservedHeaders[http.CanonicalHeaderKey(k)] {
			return fmt.Errorf("%s.headers: %s is set by the protocol or the client settings (basic_auth, authorization …), not here", field, k)
		}
	}
	q := &c.QueueConfig
	switch {
	case q.Capacity <= 0, q.MaxSamplesPerSend <= 0, q.MinShards <= 0, q.MaxShards <= 0:
		return fmt.Errorf("%s.queue_config: capacity, max_samples_per_send, min_shards and max_shards must be positive", field)
	case q.MinShards > q.MaxShards:
		return fmt.Errorf("%s.queue_config: min_shards %d is over max_shards %d", field, q.MinShards, q.MaxShards)
	case q.BatchSendDeadline <= 0 || q.MinBackoff <= 0 || q.MaxBackoff < q.MinBackoff:
		return fmt.Errorf("%s.queue_config: batch_send_deadline and min_backoff must be positive, max_backoff at least min_backoff", field)
	}
	for j, rc := range c.WriteRelabelConfigs {
		if rc == nil {
			return fmt.Errorf("%s.write_relabel_configs[%d]: empty or null relabelling rule", field, j)
		}
		if err := rc.Validate(model.UTF8Validation); err != nil {
			return fmt.Errorf("%s.write_relabel_configs[%d]: %w", field, j, err)
		}
	}
	c.HTTPClientConfig.SetDirectory(dir)
	if err := c.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}
