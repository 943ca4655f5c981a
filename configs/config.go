// Package configs loads corral.yml, the server's configuration. It has the shape a
// Prometheus user knows: global, scrape_configs with static_configs and
// file_sd_configs and per-job HTTP client settings, plus corral's thresholds,
// storage, tenancy and logs. The folder also holds example files that load as they are.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/filesd"
)

// Config is corral.yml.
type Config struct {
	Global        GlobalConfig    `yaml:"global"`
	ScrapeConfigs []*ScrapeConfig `yaml:"scrape_configs"`
	Storage       StorageConfig   `yaml:"storage"`
	Tenancy       TenancyConfig   `yaml:"tenancy"`
	Logs          LogsConfig      `yaml:"logs"`
	Control       ControlConfig   `yaml:"control"`

	// Dir is the folder of the file; relative paths resolve from it.
	Dir string `yaml:"-"`
}

// GlobalConfig holds defaults for every scrape config.
type GlobalConfig struct {
	ScrapeInterval model.Duration `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration `yaml:"scrape_timeout"`
	BodySizeLimit  ByteSize       `yaml:"body_size_limit"`
	SampleLimit    int            `yaml:"sample_limit"`
	Thresholds     Thresholds     `yaml:"thresholds"`
}

// Thresholds decide a collector's status (DESIGN.md, "Health, freshness,
// completeness"). Zero fields take the defaults documented per field; a job may
// override any of them, and a target through the labels named in TargetLabels.
type Thresholds struct {
	// OfflineAfter: no successful scrape for this long means offline (default: the
	// longer of 2m and 2 scrape intervals).
	OfflineAfter model.Duration `yaml:"offline_after"`
	// StaleAfter: freshness over this means stale (default 3 × the collector's
	// expected interval, or 3 × the scrape interval when it announces none).
	StaleAfter model.Duration `yaml:"stale_after"`
	// SlowScrape: a scrape that takes longer is slow (default 80% of the scrape timeout).
	SlowScrape model.Duration `yaml:"slow_scrape"`
	// SlowCollection: a collection run that takes longer (mean over the last scrape
	// interval) is slow (default half the collector's expected interval).
	SlowCollection model.Duration `yaml:"slow_collection"`
	// IncompleteBelow: completeness of the current hour, pro rata, under this ratio
	// means incomplete (default 0.9).
	IncompleteBelow float64 `yaml:"incomplete_below"`
}

// TargetLabels are the labels (in file_sd or static_configs) that override
// thresholds per target, in Prometheus's "__" style.
var TargetLabels = map[string]string{
	"offline_after":    "__corral_offline_after__",
	"stale_after":      "__corral_stale_after__",
	"slow_scrape":      "__corral_slow_scrape__",
	"slow_collection":  "__corral_slow_collection__",
	"incomplete_below": "__corral_incomplete_below__",
}

// ScrapeConfig is one job.
type ScrapeConfig struct {
	JobName        string              `yaml:"job_name"`
	ScrapeInterval model.Duration      `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration      `yaml:"scrape_timeout"`
	MetricsPath    string              `yaml:"metrics_path"`
	Scheme         string              `yaml:"scheme"`
	Params         map[string][]string `yaml:"params"`
	BodySizeLimit  ByteSize            `yaml:"body_size_limit"`
	SampleLimit    int                 `yaml:"sample_limit"`
	Thresholds     Thresholds          `yaml:"thresholds"`
	// EnableCompression asks targets for gzip (default true, as Prometheus);
	// false saves CPU on both sides where bandwidth is cheap (loopback, LAN).
	EnableCompression *bool `yaml:"enable_compression"`
	// HTTPClientConfig is prometheus/common's client settings, inline as in
	// Prometheus: authorization, basic_auth, tls_config, proxy_url …
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`

	StaticConfigs []targets.StaticConfig `yaml:"static_configs"`
	FileSDConfigs []filesd.Config        `yaml:"file_sd_configs"`
	// Registry scrapes the collectors registered through corral's API in this job.
	Registry bool `yaml:"registry"`
}

// TenancyConfig says which org and team a discovered collector belongs to: the
// values of two of its labels, else the default org.
type TenancyConfig struct {
	OrgLabel   string `yaml:"org_label"`   // default "org"
	TeamLabel  string `yaml:"team_label"`  // default "team"
	DefaultOrg string `yaml:"default_org"` // default "default"
}

// StorageConfig selects the store.
type StorageConfig struct {
	// URL is "sqlite:PATH" (default sqlite:data/corral.db, relative to the working
	// directory) or "postgres://…".
	URL string `yaml:"url"`
}

// Defaults of the global section.
var (
	DefaultScrapeInterval = model.Duration(15 * time.Second)
	DefaultScrapeTimeout  = model.Duration(10 * time.Second)
	DefaultBodySizeLimit  = ByteSize(10 << 20)
)

// Default is the configuration of a corral started without a file: an empty fleet
// (registered collectors are scraped in the "registry" job) on the embedded store.
func Default() *Config {
	c := &Config{ScrapeConfigs: []*ScrapeConfig{{JobName: "registry", Registry: true}}}
	if err := c.finish("."); err != nil {
		panic(err) // the default is valid; a test holds it to that
	}
	return c
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a config strictly (unknown fields are errors), applies defaults and
// validates. Relative paths resolve from dir.
func Parse(b []byte, dir string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	// yaml.v3 skips the defaults of an inline HTTPClientConfig: restore the two
	// that default to true unless the file sets them.
	var raw struct {
		ScrapeConfigs []map[string]yaml.Node `yaml:"scrape_configs"`
	}
	_ = yaml.Unmarshal(b, &raw)
	for i, sc := range c.ScrapeConfigs {
		if sc == nil {
			return nil, fmt.Errorf("scrape_configs[%d]: empty entry", i)
		}
		var set map[string]yaml.Node
		if i < len(raw.ScrapeConfigs) {
			set = raw.ScrapeConfigs[i]
		}
		if _, ok := set["follow_redirects"]; !ok {
			sc.HTTPClientConfig.FollowRedirects = true
		}
		if _, ok := set["enable_http2"]; !ok {
			sc.HTTPClientConfig.EnableHTTP2 = true
		}
	}
	if err := c.finish(dir); err != nil {
		return nil, err
	}
	return c, nil
}

var jobNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

func (c *Config) finish(dir string) error {
	c.Dir = dir
	g := &c.Global
	if g.ScrapeInterval == 0 {
		g.ScrapeInterval = DefaultScrapeInterval
	}
	if g.ScrapeTimeout == 0 {
		g.ScrapeTimeout = min(DefaultScrapeTimeout, g.ScrapeInterval)
	}
	if g.ScrapeTimeout > g.ScrapeInterval {
		return fmt.Errorf("global.scrape_timeout %s is longer than global.scrape_interval %s", g.ScrapeTimeout, g.ScrapeInterval)
	}
	if g.BodySizeLimit == 0 {
		g.BodySizeLimit = DefaultBodySizeLimit
	}
	if g.SampleLimit < 0 {
		return errors.New("global.sample_limit: must not be negative")
	}
	if err := g.Thresholds.validate("global.thresholds"); err != nil {
		return err
	}
	if g.Thresholds.IncompleteBelow == 0 {
		g.Thresholds.IncompleteBelow = 0.9
	}
	if c.Storage.URL == "" {
		c.Storage.URL = "sqlite:data/corral.db"
	}
	if c.Tenancy.OrgLabel == "" {
		c.Tenancy.OrgLabel = "org"
	}
	if c.Tenancy.TeamLabel == "" {
		c.Tenancy.TeamLabel = "team"
	}
	if c.Tenancy.DefaultOrg == "" {
		c.Tenancy.DefaultOrg = "default"
	}
	if !targets.ValidLabelName(c.Tenancy.OrgLabel) || !targets.ValidLabelName(c.Tenancy.TeamLabel) {
		return fmt.Errorf("tenancy: org_label %q and team_label %q must be label names", c.Tenancy.OrgLabel, c.Tenancy.TeamLabel)
	}
	if err := c.Control.finish(); err != nil {
		return err
	}
	if err := c.Logs.finish(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, sc := range c.ScrapeConfigs {
		field := fmt.Sprintf("scrape_configs[%d]", i)
		if sc.JobName == "" {
			return fmt.Errorf("%s.job_name: required", field)
		}
		if !jobNameRE.MatchString(sc.JobName) {
			return fmt.Errorf("%s.job_name: %q may hold only letters, digits and _ . : -", field, sc.JobName)
		}
		field = fmt.Sprintf("scrape_configs[%d] (job %q)", i, sc.JobName)
		if seen[sc.JobName] {
			return fmt.Errorf("%s: job_name is used twice", field)
		}
		seen[sc.JobName] = true
		if sc.ScrapeInterval == 0 {
			sc.ScrapeInterval = g.ScrapeInterval
		}
		if sc.ScrapeTimeout == 0 {
			sc.ScrapeTimeout = min(g.ScrapeTimeout, sc.ScrapeInterval)
		}
		if sc.ScrapeTimeout > sc.ScrapeInterval {
			return fmt.Errorf("%s: scrape_timeout %s is longer than scrape_interval %s", field, sc.ScrapeTimeout, sc.ScrapeInterval)
		}
		if sc.MetricsPath == "" {
			sc.MetricsPath = "/metrics"
		}
		if sc.EnableCompression == nil {
			on := true
			sc.EnableCompression = &on
		}
		if !strings.HasPrefix(sc.MetricsPath, "/") {
			return fmt.Errorf("%s.metrics_path: %q must start with /", field, sc.MetricsPath)
		}
		switch sc.Scheme {
		case "":
			sc.Scheme = "http"
		case "http", "https":
		default:
			return fmt.Errorf("%s.scheme: %q, want http or https", field, sc.Scheme)
		}
		if sc.BodySizeLimit == 0 {
			sc.BodySizeLimit = g.BodySizeLimit
		}
		if sc.SampleLimit == 0 {
			sc.SampleLimit = g.SampleLimit
		}
		if sc.SampleLimit < 0 {
			return fmt.Errorf("%s.sample_limit: must not be negative", field)
		}
		if err := sc.Thresholds.validate(field + ".thresholds"); err != nil {
			return err
		}
		sc.Thresholds = sc.Thresholds.Or(g.Thresholds)
		sc.HTTPClientConfig.SetDirectory(dir)
		if err := sc.HTTPClientConfig.Validate(); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		for j := range sc.FileSDConfigs {
			if err := sc.FileSDConfigs[j].Validate(dir); err != nil {
				return fmt.Errorf("%s.file_sd_configs[%d]: %w", field, j, err)
			}
		}
		for j, st := range sc.StaticConfigs {
			if len(st.Targets) == 0 {
				return fmt.Errorf("%s.static_configs[%d].targets: empty", field, j)
			}
			if err := st.Validate(); err != nil {
				return fmt.Errorf("%s.static_configs[%d]: %w", field, j, err)
			}
		}
		if len(sc.StaticConfigs) == 0 && len(sc.FileSDConfigs) == 0 && !sc.Registry {
			return fmt.Errorf("%s: no static_configs, file_sd_configs or registry: the job would scrape nothing", field)
		}
	}
	return nil
}

func (t Thresholds) validate(field string) error {
	if t.OfflineAfter < 0 || t.StaleAfter < 0 || t.SlowScrape < 0 || t.SlowCollection < 0 {
		return fmt.Errorf("%s: durations must not be negative", field)
	}
	if t.IncompleteBelow < 0 || t.IncompleteBelow > 1 {
		return fmt.Errorf("%s.incomplete_below: %v must be between 0 and 1", field, t.IncompleteBelow)
	}
	return nil
}

// Or fills t's unset fields from d.
func (t Thresholds) Or(d Thresholds) Thresholds {
	if t.OfflineAfter == 0 {
		t.OfflineAfter = d.OfflineAfter
	}
	if t.StaleAfter == 0 {
		t.StaleAfter = d.StaleAfter
	}
	if t.SlowScrape == 0 {
		t.SlowScrape = d.SlowScrape
	}
	if t.SlowCollection == 0 {
		t.SlowCollection = d.SlowCollection
	}
	if t.IncompleteBelow == 0 {
		t.IncompleteBelow = d.IncompleteBelow
	}
	return t
}

// FromLabels overrides thresholds from a target's "__corral_*__" labels. A bad
// value is reported and ignored.
func (t Thresholds) FromLabels(meta map[string]string) (Thresholds, error) {
	var errs []error
	for key, label := range TargetLabels {
		v, ok := meta[label]
		if !ok {
			continue
		}
		if key == "incomplete_below" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				errs = append(errs, fmt.Errorf("label %s: %q is not a ratio between 0 and 1", label, v))
				continue
			}
			t.IncompleteBelow = f
			continue
		}
		d, err := model.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("label %s: %w", label, err))
			continue
		}
		switch key {
		case "offline_after":
			t.OfflineAfter = d
		case "stale_after":
			t.StaleAfter = d
		case "slow_scrape":
			t.SlowScrape = d
		case "slow_collection":
			t.SlowCollection = d
		}
	}
	return t, errors.Join(errs...)
}

// ByteSize is a size in bytes written as 10MiB, 512KiB, 1GB (base 2, as Prometheus's
// body_size_limit) or a plain number.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b ByteSize) String() string {
	for _, u := range byteUnits[:3] {
		if int64(b) >= u.mult && int64(b)%u.mult == 0 && int64(b)/u.mult < 1024 {
			return fmt.Sprintf("%d%s", int64(b)/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// ParseByteSize parses "10MiB", "10MB", "1024".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 {
				break
			}
			return ByteSize(n * u.mult), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 10MiB", s)
	}
	return ByteSize(n), nil
}
