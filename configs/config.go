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
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/dnssd"
	"github.com/corral-dev/corral/targets/filesd"
	"github.com/corral-dev/corral/targets/httpsd"
)

// Config is corral.yml.
type Config struct {
	Global        GlobalConfig    `yaml:"global"`
	ScrapeConfigs []*ScrapeConfig `yaml:"scrape_configs"`
	Storage       StorageConfig   `yaml:"storage"`
	Tenancy       TenancyConfig   `yaml:"tenancy"`
	Logs          LogsConfig      `yaml:"logs"`
	Control       ControlConfig   `yaml:"control"`
	// Cluster shares one fleet between several servers (cluster.go).
	Cluster ClusterConfig `yaml:"cluster,omitempty"`
	// RemoteWrite forwards scraped samples and the fleet series to
	// Prometheus-compatible receivers (see RemoteWriteConfig).
	RemoteWrite []*RemoteWriteConfig `yaml:"remote_write,omitempty"`
	// Alerting is the built-in alerter's section (alerting.go); nil when
	// the file has none.
	Alerting *AlertingConfig `yaml:"alerting,omitempty"`

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
	// ExternalLabels are added to every series of /federate that lacks them,
	// as Prometheus adds its external labels.
	ExternalLabels map[string]string `yaml:"external_labels,omitempty"`
	// ScrapeProtocols, LabelLimit … TargetLimit are every job's default, as
	// in Prometheus's global section (see ScrapeConfig).
	ScrapeProtocols       []string `yaml:"scrape_protocols,omitempty"`
	LabelLimit            int      `yaml:"label_limit,omitempty"`
	LabelNameLengthLimit  int      `yaml:"label_name_length_limit,omitempty"`
	LabelValueLengthLimit int      `yaml:"label_value_length_limit,omitempty"`
	TargetLimit           int      `yaml:"target_limit,omitempty"`
}

// Thresholds decide a collector's status (DESIGN.md, "Health, freshness,
// completeness"). Zero fields take the defaults documented per field; a job may
// override any of them, and a target through the labels named in
// health.ThresholdLabels (__corral_stale_after__ …).
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
	// means incomplete (default health.DefaultIncompleteBelow, 0.9).
	IncompleteBelow float64 `yaml:"incomplete_below"`
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
	// Prometheus: authorization, basic_auth, tls_config, proxy_url … Inline,
	// its own UnmarshalYAML is skipped: its defaults come with
	// DefaultScrapeConfig, and validate resolves its paths and validates it.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`

	StaticConfigs []targets.StaticConfig `yaml:"static_configs"`
	FileSDConfigs []filesd.Config        `yaml:"file_sd_configs"`
	HTTPSDConfigs []httpsd.Config        `yaml:"http_sd_configs,omitempty"`
	DNSSDConfigs  []dnssd.Config         `yaml:"dns_sd_configs,omitempty"`
	// RelabelConfigs rewrite, keep or drop each target before it is scraped,
	// with Prometheus's own relabelling (model/relabel), __meta_* included.
	RelabelConfigs []*relabel.Config `yaml:"relabel_configs,omitempty"`
	// HonorLabels: on a clash between a target label and a scraped one, the
	// scraped one wins in /federate (else it is kept as exported_<name>).
	HonorLabels bool `yaml:"honor_labels"`
	// HonorTimestamps keeps the timestamps targets expose (default true, as
	// Prometheus); false stamps every sample with the scrape's time.
	HonorTimestamps *bool `yaml:"honor_timestamps"`
	// MetricRelabelConfigs rewrite, keep or drop each scraped sample (its
	// target labels merged in) before /federate and remote_write see it, as
	// Prometheus's do before storage. Health reads the samples as scraped.
	MetricRelabelConfigs []*relabel.Config `yaml:"metric_relabel_configs,omitempty"`
	// LabelLimit, LabelNameLengthLimit and LabelValueLengthLimit fail a scrape
	// with a sample over them (its labels counted with the target's and
	// __name__, after metric relabelling), as in Prometheus; 0 is no limit.
	LabelLimit            int `yaml:"label_limit,omitempty"`
	LabelNameLengthLimit  int `yaml:"label_name_length_limit,omitempty"`
	LabelValueLengthLimit int `yaml:"label_value_length_limit,omitempty"`
	// TargetLimit: more targets than this after relabelling fail all the
	// job's scrapes (reason target_limit), as in Prometheus; 0 is no limit.
	TargetLimit int `yaml:"target_limit,omitempty"`
	// ScrapeProtocols are the formats asked for, in order of preference, in
	// the Accept header (default [DefaultScrapeProtocols], Prometheus's).
	ScrapeProtocols []string `yaml:"scrape_protocols,omitempty"`
	// Registry scrapes the collectors registered through corral's API in this job.
	Registry bool `yaml:"registry"`
}

// ScrapeProtocolHeaders are the scrape protocols corral parses, by the name
// Prometheus gives them in scrape_protocols, with the media type each puts in
// the Accept header (Prometheus's config.ScrapeProtocolsHeaders).
var ScrapeProtocolHeaders = map[string]string{
	"PrometheusText0.0.4":  "text/plain;version=0.0.4",
	"PrometheusText1.0.0":  "text/plain;version=1.0.0",
	"OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
	"OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
}

// DefaultScrapeProtocols is scrape_protocols when neither a job nor global
// sets it: Prometheus's default order, OpenMetrics first.
var DefaultScrapeProtocols = []string{"OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"}

// unparsedProtocols are Prometheus's protocols that corral does not parse.
var unparsedProtocols = map[string]bool{"PrometheusProto": true, "OpenMetricsText2.0.0": true}

// validProtocols checks a scrape_protocols list; field names it in errors.
func validProtocols(field string, ps []string) error {
	seen := map[string]bool{}
	for _, p := range ps {
		if _, ok := ScrapeProtocolHeaders[p]; !ok {
			if unparsedProtocols[p] {
				return fmt.Errorf("%s: %s is a Prometheus protocol corral does not parse; use the text formats (%s)", field, p, strings.Join(DefaultScrapeProtocols, ", "))
			}
			return fmt.Errorf("%s: unknown scrape protocol %q, want one of %s", field, p, strings.Join(DefaultScrapeProtocols, ", "))
		}
		if seen[p] {
			return fmt.Errorf("%s: %s is listed twice", field, p)
		}
		seen[p] = true
	}
	return nil
}

// TenancyConfig says which org and team a discovered collector belongs to: the
// values of two of its labels, else the default org.
type TenancyConfig struct {
	OrgLabel   string `yaml:"org_label"`   // default "org"
	TeamLabel  string `yaml:"team_label"`  // default "team"
	DefaultOrg string `yaml:"default_org"` // default "default"
}

// Tenancy is the section as discovery applies it to every target.
func (t TenancyConfig) Tenancy() targets.Tenancy { return targets.Tenancy(t) }

// StorageConfig selects the store.
type StorageConfig struct {
	// URL is "sqlite:PATH" or "postgres://…". A relative PATH set in the file
	// is made relative to the file's folder; the default, [DefaultStorageURL],
	// stays relative to the working directory.
	URL string `yaml:"url"`
	// fromFile is whether the file set URL.
	fromFile bool
}

// DefaultStorageURL is storage.url when it is not set: an SQLite file under the
// working directory. It is defined here, not in package store, because configs
// must not import store (store links the database drivers).
const DefaultStorageURL = "sqlite:data/corral.db"

// Defaults of the global section.
var (
	DefaultScrapeInterval = model.Duration(15 * time.Second)
	// DefaultScrapeTimeout is global.scrape_timeout when it is not set, or the
	// scrape interval when that is shorter.
	DefaultScrapeTimeout = model.Duration(10 * time.Second)
	DefaultBodySizeLimit = ByteSize(10 << 20)
)

// The defaults, as the Prometheus config package has them: each section's
// UnmarshalYAML starts from its default and decodes over it, so a field left out
// keeps the default and one written down is kept as written (enable_http2: false
// included). What depends on other values comes after decoding, in validate: the
// scrape timeout (it may not exceed the interval) and what a job inherits from
// global.
var (
	// DefaultConfig is a file that sets nothing, before validation.
	DefaultConfig = Config{
		Global:  DefaultGlobalConfig,
		Storage: StorageConfig{URL: DefaultStorageURL},
		Tenancy: DefaultTenancyConfig,
		Logs:    DefaultLogsConfig,
		Control: DefaultControlConfig,
	}

	// DefaultGlobalConfig is the global section's default. Its ScrapeTimeout is
	// zero because the default depends on the interval: [DefaultScrapeTimeout],
	// or the scrape interval when that is shorter.
	DefaultGlobalConfig = GlobalConfig{
		ScrapeInterval: DefaultScrapeInterval,
		BodySizeLimit:  DefaultBodySizeLimit,
		Thresholds:     DefaultThresholds,
	}

	// DefaultThresholds are global.thresholds' default: all zero, worked out
	// per collector by the health evaluator (see [Thresholds]). A job's
	// thresholds have no default of their own: what a job leaves zero it takes
	// from global.
	DefaultThresholds = Thresholds{}

	// DefaultScrapeConfig is a job's default. Interval, timeout, body and sample
	// limits and thresholds are left zero: they come from global. A nil
	// EnableCompression means true.
	DefaultScrapeConfig = ScrapeConfig{
		MetricsPath: "/metrics",
		Scheme:      "http",
		// yaml never calls the UnmarshalYAML of an inline struct, so the HTTP
		// client's defaults (follow_redirects and enable_http2 true) are set
		// here, and validate calls its SetDirectory and Validate.
		HTTPClientConfig: commoncfg.DefaultHTTPClientConfig,
	}

	// DefaultTenancyConfig is the tenancy section's default.
	DefaultTenancyConfig = TenancyConfig(targets.DefaultTenancy)
)

// The UnmarshalYAML methods have yaml.v2's signature on purpose. yaml.v3 calls it
// with the decoder it is running, so KnownFields (an unknown field is an error)
// and the line numbers of errors hold inside; an UnmarshalYAML(*yaml.Node) calling
// node.Decode would decode with a fresh, lenient decoder. prometheus/common's
// types (tls_config, authorization …) rely on the same. TestUnknownFieldsError
// holds every section to it. Each decodes into a copy of its type without the
// methods, named after its section rather than "plain" so that yaml's errors
// still say where ("field retention not found in type configs.logs").

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (g *GlobalConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*g = DefaultGlobalConfig
	type global GlobalConfig
	return unmarshal((*global)(g))
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (c *ScrapeConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultScrapeConfig
	type scrapeConfig ScrapeConfig
	return unmarshal((*scrapeConfig)(c))
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (s *StorageConfig) UnmarshalYAML(unmarshal func(any) error) error {
	// The default is set after decoding, not before, to tell a url the file
	// set (resolved from its folder) from the default (from the working
	// directory).
	*s = StorageConfig{}
	type storage StorageConfig
	if err := unmarshal((*storage)(s)); err != nil {
		return err
	}
	s.fromFile = s.URL != ""
	orDefault(&s.URL, DefaultStorageURL)
	return nil
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (t *TenancyConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*t = DefaultTenancyConfig
	type tenancy TenancyConfig
	return unmarshal((*tenancy)(t))
}

// Default is the configuration of a corral started without a file: an empty fleet
// (registered collectors are scraped in the "registry" job) on the embedded store.
func Default() *Config {
	c := DefaultConfig
	registry := DefaultScrapeConfig
	registry.JobName, registry.Registry = "registry", true
	// Default has always left follow_redirects and enable_http2 off, unlike a
	// job read from a file; kept so that it gives what it gave.
	registry.HTTPClientConfig = commoncfg.HTTPClientConfig{}
	c.ScrapeConfigs = []*ScrapeConfig{&registry}
	if err := c.validate("."); err != nil {
		panic(err) // the default is valid; a test holds it to that
	}
	return &c
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

// Parse decodes a config strictly (unknown fields are errors) over the defaults and
// validates it. Relative paths resolve from dir.
func Parse(b []byte, dir string) (*Config, error) {
	// The defaults are set here rather than in a Config.UnmarshalYAML: yaml calls
	// none for an empty or null document.
	c := DefaultConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, explainUnsupported(err)
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if err := c.validate(dir); err != nil {
		return nil, err
	}
	return &c, nil
}

// prometheusOnly are Prometheus settings corral does not have (yet), by the
// type yaml names in its error: a config pasted from Prometheus gets told so,
// rather than "field not found".
var prometheusOnly = map[string][]string{
	"configs.alertmanager": {"relabel_configs", "alert_relabel_configs", "file_sd_configs", "dns_sd_configs", "http_sd_configs",
		"kubernetes_sd_configs", "consul_sd_configs", "sigv4"},
	"configs.alerting": {"alert_relabel_configs"},

	"configs.scrapeConfig": {"track_timestamps_staleness", "keep_dropped_targets", "fallback_scrape_protocol", "scrape_classic_histograms", "always_scrape_classic_histograms",
		"native_histogram_bucket_limit", "native_histogram_min_bucket_factor", "convert_classic_histograms_to_nhcb",
		"metric_name_validation_scheme", "metric_name_escaping_scheme", "scrape_failure_log_file",
		"kubernetes_sd_configs", "consul_sd_configs", "ec2_sd_configs",
		"gce_sd_configs", "azure_sd_configs", "docker_sd_configs", "dockerswarm_sd_configs", "nomad_sd_configs",
		"openstack_sd_configs", "serverset_sd_configs", "triton_sd_configs", "eureka_sd_configs", "hetzner_sd_configs",
		"digitalocean_sd_configs", "linode_sd_configs", "marathon_sd_configs", "nerve_sd_configs", "puppetdb_sd_configs",
		"scaleway_sd_configs", "uyuni_sd_configs", "vultr_sd_configs", "ionos_sd_configs", "lightsail_sd_configs", "ovhcloud_sd_configs"},
	"configs.global": {"evaluation_interval", "rule_query_offset", "query_log_file", "scrape_failure_log_file",
		"keep_dropped_targets", "metric_name_validation_scheme", "metric_name_escaping_scheme", "convert_classic_histograms_to_nhcb",
		"always_scrape_classic_histograms"},
	"configs.remoteWrite": {"metadata_config", "sigv4", "azuread", "google_iam", "protobuf_message",
		"send_exemplars", "send_native_histograms", "round_robin_dns"},
	"configs.queueConfig": {"sample_age_limit"},
	"configs.Config":      {"rule_files", "scrape_config_files", "remote_read", "otlp", "runtime", "tracing", "storage_config"},
}

var fieldNotFound = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// explainUnsupported rewrites yaml's "field X not found in type T" for a
// Prometheus setting corral does not support into a message that says so;
// other errors pass unchanged.
func explainUnsupported(err error) error {
	msg := fieldNotFound.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := fieldNotFound.FindStringSubmatch(m)
		for _, f := range prometheusOnly[sub[2]] {
			if f == sub[1] {
				return fmt.Sprintf("field %s is a Prometheus setting that corral does not support (yet); remove it", sub[1])
			}
		}
		return m
	})
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// validate checks each section with its own validate and fills in what depends on
// other values; dir is the folder relative paths resolve from. The first error
// wins, in the order below.
func (c *Config) validate(dir string) error {
	c.Dir = dir
	for i, sc := range c.ScrapeConfigs {
		if sc == nil {
			return fmt.Errorf("scrape_configs[%d]: empty entry", i)
		}
	}
	if err := c.Global.validate(); err != nil {
		return err
	}
	if err := c.Storage.validate(dir); err != nil {
		return err
	}
	if err := c.Tenancy.validate(); err != nil {
		return err
	}
	if err := c.Control.validate(); err != nil {
		return err
	}
	if err := c.Cluster.validate(); err != nil {
		return err
	}
	if err := c.Logs.validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	for i, rw := range c.RemoteWrite {
		field := fmt.Sprintf("remote_write[%d]", i)
		if rw == nil {
			return fmt.Errorf("%s: empty entry", field)
		}
		if err := rw.validate(field, dir); err != nil {
			return err
		}
		if names[rw.Name] {
			return fmt.Errorf("%s: name %q is used twice", field, rw.Name)
		}
		names[rw.Name] = true
	}
	if c.Alerting != nil {
		if err := c.Alerting.validate(dir); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(c.ScrapeConfigs))
	for i, sc := range c.ScrapeConfigs {
		field := fmt.Sprintf("scrape_configs[%d]", i)
		if err := validJobName(field, sc.JobName); err != nil {
			return err
		}
		field = fmt.Sprintf("%s (job %q)", field, sc.JobName)
		if seen[sc.JobName] {
			return fmt.Errorf("%s: job_name is used twice", field)
		}
		seen[sc.JobName] = true
		sc.inherit(c.Global)
		if err := sc.validate(field, dir); err != nil {
			return err
		}
	}
	return nil
}

// orDefault sets *v to d when *v is zero. The defaults are in place before decoding;
// this is for the fields where a zero means nothing, so that writing one
// (scheme: "", retention_days: 0) still means the default, as it always has.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func (g *GlobalConfig) validate() error {
	orDefault(&g.ScrapeInterval, DefaultGlobalConfig.ScrapeInterval)
	if g.ScrapeTimeout == 0 {
		g.ScrapeTimeout = min(DefaultScrapeTimeout, g.ScrapeInterval)
	}
	if g.ScrapeTimeout > g.ScrapeInterval {
		return fmt.Errorf("global.scrape_timeout %s is longer than global.scrape_interval %s", g.ScrapeTimeout, g.ScrapeInterval)
	}
	orDefault(&g.BodySizeLimit, DefaultGlobalConfig.BodySizeLimit)
	for name, v := range g.ExternalLabels {
		if !model.UTF8Validation.IsValidLabelName(name) || strings.HasPrefix(name, "__") {
			return fmt.Errorf("global.external_labels: %q is not a label name (non-empty UTF-8, not starting with __)", name)
		}
		if v == "" || !utf8.ValidString(v) {
			return fmt.Errorf("global.external_labels.%s: want a non-empty UTF-8 value", name)
		}
	}
	if g.SampleLimit < 0 {
		return errors.New("global.sample_limit: must not be negative")
	}
	if g.LabelLimit < 0 || g.LabelNameLengthLimit < 0 || g.LabelValueLengthLimit < 0 || g.TargetLimit < 0 {
		return errors.New("global: label_limit, label_name_length_limit, label_value_length_limit and target_limit must not be negative")
	}
	if len(g.ScrapeProtocols) == 0 {
		g.ScrapeProtocols = DefaultScrapeProtocols
	}
	if err := validProtocols("global.scrape_protocols", g.ScrapeProtocols); err != nil {
		return err
	}
	if err := g.Thresholds.validate("global.thresholds"); err != nil {
		return err
	}
	return nil
}

func (s *StorageConfig) validate(dir string) error {
	orDefault(&s.URL, DefaultStorageURL)
	if s.fromFile {
		s.URL = sqliteRelativeTo(dir, s.URL)
	}
	return nil
}

// sqliteRelativeTo makes the path of an SQLite storage URL relative to dir
// when it is relative, keeping its scheme and ?query. PostgreSQL URLs and
// key=value strings, absolute paths and :memory: are left alone. The schemes
// are those of store.Open, which configs must not import.
func sqliteRelativeTo(dir, u string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") || libpqKey.MatchString(u) {
		return u
	}
	prefix, path := "", u
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(u, p); ok {
			prefix, path = p, rest
			break
		}
	}
	path, query, hasQuery := strings.Cut(path, "?")
	if path == "" || filepath.IsAbs(path) || strings.HasPrefix(path, ":memory:") {
		return u
	}
	out := prefix + filepath.Join(dir, path)
	if hasQuery {
		out += "?" + query
	}
	return out
}

// libpqKey matches the start of a libpq key=value connection string (as
// store's does).
var libpqKey = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service|connect_timeout|application_name)\s*=`)

func (t *TenancyConfig) validate() error {
	orDefault(&t.OrgLabel, DefaultTenancyConfig.OrgLabel)
	orDefault(&t.TeamLabel, DefaultTenancyConfig.TeamLabel)
	orDefault(&t.DefaultOrg, DefaultTenancyConfig.DefaultOrg)
	if !targets.ValidLabelName(t.OrgLabel) || !targets.ValidLabelName(t.TeamLabel) {
		return fmt.Errorf("tenancy: org_label %q and team_label %q must be label names", t.OrgLabel, t.TeamLabel)
	}
	return nil
}

var jobNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

// validJobName checks a job name; field is "scrape_configs[i]".
func validJobName(field, name string) error {
	if name == "" {
		return fmt.Errorf("%s.job_name: required", field)
	}
	if !jobNameRE.MatchString(name) {
		return fmt.Errorf("%s.job_name: %q may hold only letters, digits and _ . : -", field, name)
	}
	return nil
}

// inherit fills in what the job leaves unset from the (validated) global section,
// as in Prometheus: the scrape interval, a timeout (global's, at most the job's
// interval), the body and sample limits, and the thresholds field by field.
func (c *ScrapeConfig) inherit(g GlobalConfig) {
	orDefault(&c.ScrapeInterval, g.ScrapeInterval)
	orDefault(&c.ScrapeTimeout, min(g.ScrapeTimeout, c.ScrapeInterval))
	orDefault(&c.BodySizeLimit, g.BodySizeLimit)
	orDefault(&c.SampleLimit, g.SampleLimit)
	orDefault(&c.LabelLimit, g.LabelLimit)
	orDefault(&c.LabelNameLengthLimit, g.LabelNameLengthLimit)
	orDefault(&c.LabelValueLengthLimit, g.LabelValueLengthLimit)
	orDefault(&c.TargetLimit, g.TargetLimit)
	if len(c.ScrapeProtocols) == 0 {
		c.ScrapeProtocols = g.ScrapeProtocols
	}
	c.Thresholds = c.Thresholds.Or(g.Thresholds)
}

// validate checks a job once it has inherited from global; field is how errors
// name it ("scrape_configs[0] (job \"a\")"), dir the folder relative paths
// resolve from.
func (c *ScrapeConfig) validate(field, dir string) error {
	if c.ScrapeTimeout > c.ScrapeInterval {
		return fmt.Errorf("%s: scrape_timeout %s is longer than scrape_interval %s", field, c.ScrapeTimeout, c.ScrapeInterval)
	}
	orDefault(&c.MetricsPath, DefaultScrapeConfig.MetricsPath)
	if c.EnableCompression == nil {
		on := true
		c.EnableCompression = &on
	}
	if c.HonorTimestamps == nil {
		on := true
		c.HonorTimestamps = &on
	}
	if !strings.HasPrefix(c.MetricsPath, "/") {
		return fmt.Errorf("%s.metrics_path: %q must start with /", field, c.MetricsPath)
	}
	orDefault(&c.Scheme, DefaultScrapeConfig.Scheme)
	if c.Scheme != "http" && c.Scheme != "https" {
		return fmt.Errorf("%s.scheme: %q, want http or https", field, c.Scheme)
	}
	if c.SampleLimit < 0 {
		return fmt.Errorf("%s.sample_limit: must not be negative", field)
	}
	if c.LabelLimit < 0 || c.LabelNameLengthLimit < 0 || c.LabelValueLengthLimit < 0 || c.TargetLimit < 0 {
		return fmt.Errorf("%s: label_limit, label_name_length_limit, label_value_length_limit and target_limit must not be negative", field)
	}
	if err := validProtocols(field+".scrape_protocols", c.ScrapeProtocols); err != nil {
		return err
	}
	if err := c.Thresholds.validate(field + ".thresholds"); err != nil {
		return err
	}
	c.HTTPClientConfig.SetDirectory(dir)
	if err := c.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	for j, rc := range c.RelabelConfigs {
		if rc == nil {
			return fmt.Errorf("%s.relabel_configs[%d]: empty or null relabelling rule", field, j)
		}
		if err := rc.Validate(model.UTF8Validation); err != nil {
			return fmt.Errorf("%s.relabel_configs[%d]: %w", field, j, err)
		}
	}
	for j, rc := range c.MetricRelabelConfigs {
		if rc == nil {
			return fmt.Errorf("%s.metric_relabel_configs[%d]: empty or null relabelling rule", field, j)
		}
		// Legacy names: the samples are written out in the text formats,
		// whose label names corral writes unquoted.
		if err := rc.Validate(model.LegacyValidation); err != nil {
			return fmt.Errorf("%s.metric_relabel_configs[%d]: %w", field, j, err)
		}
	}
	for j := range c.FileSDConfigs {
		if err := c.FileSDConfigs[j].Validate(dir); err != nil {
			return fmt.Errorf("%s.file_sd_configs[%d]: %w", field, j, err)
		}
	}
	for j := range c.DNSSDConfigs {
		if err := c.DNSSDConfigs[j].Validate(); err != nil {
			return fmt.Errorf("%s.dns_sd_configs[%d]: %w", field, j, err)
		}
	}
	for j := range c.HTTPSDConfigs {
		if err := c.HTTPSDConfigs[j].Validate(dir); err != nil {
			return fmt.Errorf("%s.http_sd_configs[%d]: %w", field, j, err)
		}
	}
	for j, st := range c.StaticConfigs {
		if len(st.Targets) == 0 {
			return fmt.Errorf("%s.static_configs[%d].targets: empty", field, j)
		}
		if err := st.Validate(); err != nil {
			return fmt.Errorf("%s.static_configs[%d]: %w", field, j, err)
		}
	}
	if len(c.StaticConfigs) == 0 && len(c.FileSDConfigs) == 0 && len(c.HTTPSDConfigs) == 0 && len(c.DNSSDConfigs) == 0 && !c.Registry {
		return fmt.Errorf("%s: no static_configs, file_sd_configs, http_sd_configs, dns_sd_configs or registry: the job would scrape nothing", field)
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
