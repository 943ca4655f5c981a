package configs

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/targets"
)

// The alerts of corral's built-in alerter, as named in alerting.rules.
const (
	AlertCollectorDown       = "CollectorDown"
	AlertCollectorStale      = "CollectorStale"
	AlertCollectorIncomplete = "CollectorIncomplete"
	AlertCollectorError      = "CollectorError"
	AlertCollectorSlow       = "CollectorSlow"
	AlertCommandFailed       = "CommandFailed"
	AlertSDFileError         = "SDFileError"
)

// AlertNames are the alerts, in the order the docs list them.
var AlertNames = []string{AlertCollectorDown, AlertCollectorStale, AlertCollectorIncomplete, AlertCollectorError,
	AlertCollectorSlow, AlertCommandFailed, AlertSDFileError}

// AlertingConfig is corral.yml's alerting section: where the built-in alerter
// sends (alertmanagers, in Prometheus's shape) and what it alerts on (rules,
// corral's own, with overrides per job and per target label). The alerter
// runs when the section lists an Alertmanager or sets enabled: true; without
// it nothing is evaluated.
type AlertingConfig struct {
	// Enabled evaluates the rules even without an Alertmanager (the alerts
	// show in GET /api/v1/alerts and on the WebSocket). Default: on when
	// alertmanagers is not empty.
	Enabled *bool `yaml:"enabled,omitempty"`
	// EvaluationInterval is how often the fleet is evaluated (default 15s).
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	// ResendDelay is how often a firing alert is sent again (default 1m, as
	// Prometheus's --rules.alert.resend-delay).
	ResendDelay model.Duration `yaml:"resend_delay"`
	// ExternalURL is corral's URL as people reach it: the base of the link to
	// a collector's page (<external_url>/collectors/<id>) in the alerts.
	// Default http://localhost:9480.
	ExternalURL string `yaml:"external_url"`
	// RunbookURL is the base of every alert's runbook_url annotation; the
	// alert's name and ".md" are appended. Default: docs/runbooks on GitHub.
	RunbookURL string `yaml:"runbook_url"`
	// QueueCapacity bounds the alerts kept per Alertmanager while it cannot
	// be reached (default 10000); the oldest are dropped, and counted, beyond.
	QueueCapacity int `yaml:"queue_capacity"`
	// MaxBatchSize is the most alerts sent in one request (default 256).
	MaxBatchSize int `yaml:"max_batch_size"`

	Alertmanagers []*AlertmanagerConfig `yaml:"alertmanagers"`
	Rules         map[string]AlertRule  `yaml:"rules"`
	Overrides     []AlertOverride       `yaml:"overrides"`
}

// Defaults of the alerting section.
var (
	DefaultAlertingConfig = AlertingConfig{
		EvaluationInterval: model.Duration(15 * time.Second),
		ResendDelay:        model.Duration(time.Minute),
		ExternalURL:        "http://localhost:9480",
		RunbookURL:         "https://github.com/corral-dev/corral/blob/main/docs/runbooks/",
		QueueCapacity:      10000,
		MaxBatchSize:       256,
	}
	// DefaultAlertmanagerConfig is one alertmanagers entry's default, as
	// Prometheus's.
	DefaultAlertmanagerConfig = AlertmanagerConfig{
		Scheme: "http", PathPrefix: "/", Timeout: model.Duration(10 * time.Second), APIVersion: "v2",
		HTTPClientConfig: commoncfg.DefaultHTTPClientConfig,
	}
	// DefaultAlertRules are each alert's settings when the file says nothing.
	DefaultAlertRules = map[string]AlertRule{
		AlertCollectorDown:       {For: dur(time.Minute), Severity: "critical"},
		AlertCollectorStale:      {For: dur(5 * time.Minute), Severity: "warning"},
		AlertCollectorIncomplete: {For: dur(15 * time.Minute), Severity: "warning", Window: "1h"},
		AlertCollectorError:      {For: dur(5 * time.Minute), Severity: "critical"},
		AlertCollectorSlow:       {For: dur(10 * time.Minute), Severity: "warning"},
		AlertCommandFailed:       {For: dur(0), Severity: "warning", KeepFiringFor: dur(time.Hour)},
		AlertSDFileError:         {For: dur(5 * time.Minute), Severity: "warning"},
	}
)

func dur(d time.Duration) *model.Duration { m := model.Duration(d); return &m }

// AlertmanagerConfig is one entry of alerting.alertmanagers, as in
// Prometheus: static_configs, scheme, path_prefix, timeout, api_version and
// the HTTP client settings (authorization, basic_auth, tls_config …).
type AlertmanagerConfig struct {
	// HTTPClientConfig is inline as in Prometheus. yaml never calls the
	// UnmarshalYAML of an inline struct: its defaults come with
	// DefaultAlertmanagerConfig, and validate resolves its paths and
	// validates it.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`
	Scheme           string                     `yaml:"scheme"`
	PathPrefix       string                     `yaml:"path_prefix"`
	Timeout          model.Duration             `yaml:"timeout"`
	// APIVersion is v2, the only one Alertmanager still has.
	APIVersion    string                 `yaml:"api_version"`
	StaticConfigs []targets.StaticConfig `yaml:"static_configs"`
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (a *AlertmanagerConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*a = DefaultAlertmanagerConfig
	type alertmanager AlertmanagerConfig
	return unmarshal((*alertmanager)(a))
}

// URLs are the Alertmanagers' alert endpoints: <scheme>://<target><path_prefix>api/v2/alerts.
func (a *AlertmanagerConfig) URLs() []string {
	var out []string
	for _, sc := range a.StaticConfigs {
		for _, t := range sc.Targets {
			out = append(out, a.Scheme+"://"+t+strings.TrimRight(a.PathPrefix, "/")+"/api/v2/alerts")
		}
	}
	return out
}

// AlertRule is one alert's settings. Every field may be left out: the
// default (DefaultAlertRules) or the rule it overrides stands.
type AlertRule struct {
	// Enabled turns the alert off with false (default on).
	Enabled *bool `yaml:"enabled,omitempty"`
	// For is how long the condition must hold before the alert fires.
	For *model.Duration `yaml:"for,omitempty"`
	// KeepFiringFor (CommandFailed only) is how long the alert of a failed
	// command fires unless a later one of the same command succeeds.
	KeepFiringFor *model.Duration `yaml:"keep_firing_for,omitempty"`
	// Severity is the severity label (critical, warning, info …).
	Severity string `yaml:"severity,omitempty"`
	// After: CollectorStale fires when the newest item is older than this
	// (default: the collector's stale_after threshold, i.e. its stale status).
	After *model.Duration `yaml:"after,omitempty"`
	// Below: CollectorIncomplete fires when the completeness of Window is
	// under this ratio (default: the collector's incomplete_below threshold).
	Below *float64 `yaml:"below,omitempty"`
	// Window: CollectorIncomplete's bucket, 1h or 24h (default 1h).
	Window string `yaml:"window,omitempty"`
	// Labels are added to the alert's labels (team routing, a page flag …).
	Labels map[string]string `yaml:"labels,omitempty"`
}

// Merge lays o's set fields over r.
func (r AlertRule) Merge(o AlertRule) AlertRule {
	if o.Enabled != nil {
		r.Enabled = o.Enabled
	}
	if o.For != nil {
		r.For = o.For
	}
	if o.KeepFiringFor != nil {
		r.KeepFiringFor = o.KeepFiringFor
	}
	if o.Severity != "" {
		r.Severity = o.Severity
	}
	if o.After != nil {
		r.After = o.After
	}
	if o.Below != nil {
		r.Below = o.Below
	}
	if o.Window != "" {
		r.Window = o.Window
	}
	if len(o.Labels) > 0 {
		m := make(map[string]string, len(r.Labels)+len(o.Labels))
		for k, v := range r.Labels {
			m[k] = v
		}
		for k, v := range o.Labels {
			m[k] = v
		}
		r.Labels = m
	}
	return r
}

// On reports whether the rule is enabled.
func (r AlertRule) On() bool { return r.Enabled == nil || *r.Enabled }

// AlertOverride changes rules for the collectors it matches: those of Job
// (any when empty) whose target labels hold every pair of Labels. Later
// overrides win over earlier ones.
type AlertOverride struct {
	Job    string               `yaml:"job"`
	Labels map[string]string    `yaml:"labels"`
	Rules  map[string]AlertRule `yaml:"rules"`
}

// Matches reports whether a collector of job with these target labels is one of the override's.
func (o AlertOverride) Matches(job string, labels map[string]string) bool {
	if o.Job != "" && o.Job != job {
		return false
	}
	for k, v := range o.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Active reports whether the alerter runs.
func (c *AlertingConfig) Active() bool {
	if c == nil {
		return false
	}
	if c.Enabled != nil {
		return *c.Enabled
	}
	return len(c.Alertmanagers) > 0
}

// UnmarshalYAML implements the yaml.v2-style unmarshaler: defaults, then the file.
func (c *AlertingConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultAlertingConfig
	type alerting AlertingConfig
	return unmarshal((*alerting)(c))
}

// RuleFor is alert name's rule for a collector of job with these labels:
// the default, the file's rules, then every matching override in order.
func (c *AlertingConfig) RuleFor(name, job string, labels map[string]string) AlertRule {
	r := DefaultAlertRules[name]
	if c == nil {
		return r
	}
	r = r.Merge(c.Rules[name])
	for _, o := range c.Overrides {
		if o.Matches(job, labels) {
			r = r.Merge(o.Rules[name])
		}
	}
	return r
}

func (c *AlertingConfig) validate(dir string) error {
	orDefault(&c.EvaluationInterval, DefaultAlertingConfig.EvaluationInterval)
	orDefault(&c.ResendDelay, DefaultAlertingConfig.ResendDelay)
	orDefault(&c.ExternalURL, DefaultAlertingConfig.ExternalURL)
	orDefault(&c.RunbookURL, DefaultAlertingConfig.RunbookURL)
	orDefault(&c.QueueCapacity, DefaultAlertingConfig.QueueCapacity)
	orDefault(&c.MaxBatchSize, DefaultAlertingConfig.MaxBatchSize)
	if c.EvaluationInterval < 0 || c.ResendDelay < 0 {
		return fmt.Errorf("alerting: evaluation_interval and resend_delay must not be negative")
	}
	if c.QueueCapacity < 0 || c.MaxBatchSize < 0 {
		return fmt.Errorf("alerting: queue_capacity and max_batch_size must not be negative")
	}
	for _, f := range []struct{ name, v string }{{"external_url", c.ExternalURL}, {"runbook_url", c.RunbookURL}} {
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("alerting.%s: %q is not an http(s) URL such as https://corral.example.com", f.name, f.v)
		}
	}
	for i, am := range c.Alertmanagers {
		if am == nil {
			return fmt.Errorf("alerting.alertmanagers[%d]: empty entry", i)
		}
		if err := am.validate(fmt.Sprintf("alerting.alertmanagers[%d]", i), dir); err != nil {
			return err
		}
	}
	if err := validRules("alerting.rules", c.Rules); err != nil {
		return err
	}
	for i, o := range c.Overrides {
		field := fmt.Sprintf("alerting.overrides[%d]", i)
		if o.Job == "" && len(o.Labels) == 0 {
			return fmt.Errorf("%s: set job or labels (an override of every collector belongs in alerting.rules)", field)
		}
		if len(o.Rules) == 0 {
			return fmt.Errorf("%s.rules: empty: the override would change nothing", field)
		}
		for name := range o.Rules {
			if name == AlertSDFileError {
				return fmt.Errorf("%s.rules.%s: an SD file is no collector's: set it in alerting.rules", field, name)
			}
		}
		if err := validRules(field+".rules", o.Rules); err != nil {
			return err
		}
	}
	return nil
}

func validRules(field string, rules map[string]AlertRule) error {
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := rules[name]
		f := field + "." + name
		if _, ok := DefaultAlertRules[name]; !ok {
			return fmt.Errorf("%s: unknown alert; the alerts are %s", f, strings.Join(AlertNames, ", "))
		}
		if (r.For != nil && *r.For < 0) || (r.KeepFiringFor != nil && *r.KeepFiringFor < 0) || (r.After != nil && *r.After < 0) {
			return fmt.Errorf("%s: durations must not be negative", f)
		}
		if r.KeepFiringFor != nil && name != AlertCommandFailed {
			return fmt.Errorf("%s.keep_firing_for: only %s has it", f, AlertCommandFailed)
		}
		if r.After != nil && name != AlertCollectorStale {
			return fmt.Errorf("%s.after: only %s has it", f, AlertCollectorStale)
		}
		if (r.Below != nil || r.Window != "") && name != AlertCollectorIncomplete {
			return fmt.Errorf("%s: below and window are %s's only", f, AlertCollectorIncomplete)
		}
		if r.Below != nil && (*r.Below <= 0 || *r.Below > 1) {
			return fmt.Errorf("%s.below: %v must be above 0 and at most 1", f, *r.Below)
		}
		if r.Window != "" && r.Window != "1h" && r.Window != "24h" {
			return fmt.Errorf("%s.window: %q, want 1h or 24h", f, r.Window)
		}
		for k, v := range r.Labels {
			if !targets.ValidLabelName(k) || strings.HasPrefix(k, "__") {
				return fmt.Errorf("%s.labels: %q is not a label name", f, k)
			}
			if k == "alertname" || v == "" {
				return fmt.Errorf("%s.labels.%s: alertname cannot be set and a value cannot be empty", f, k)
			}
		}
	}
	return nil
}

func (a *AlertmanagerConfig) validate(field, dir string) error {
	orDefault(&a.Scheme, DefaultAlertmanagerConfig.Scheme)
	orDefault(&a.PathPrefix, DefaultAlertmanagerConfig.PathPrefix)
	orDefault(&a.Timeout, DefaultAlertmanagerConfig.Timeout)
	orDefault(&a.APIVersion, DefaultAlertmanagerConfig.APIVersion)
	if a.Scheme != "http" && a.Scheme != "https" {
		return fmt.Errorf("%s.scheme: %q, want http or https", field, a.Scheme)
	}
	if a.APIVersion != "v2" {
		return fmt.Errorf("%s.api_version: %q; Alertmanager has only v2 (v1 was removed in 0.27)", field, a.APIVersion)
	}
	if !strings.HasPrefix(a.PathPrefix, "/") {
		a.PathPrefix = "/" + a.PathPrefix
	}
	if a.Timeout <= 0 {
		return fmt.Errorf("%s.timeout: must be positive", field)
	}
	if len(a.StaticConfigs) == 0 {
		return fmt.Errorf("%s: no static_configs: name the Alertmanagers as targets: [\"alertmanager:9093\"] (corral discovers Alertmanagers only statically)", field)
	}
	for j, sc := range a.StaticConfigs {
		if len(sc.Targets) == 0 {
			return fmt.Errorf("%s.static_configs[%d].targets: empty", field, j)
		}
		for _, t := range sc.Targets {
			if _, _, err := net.SplitHostPort(t); err != nil {
				return fmt.Errorf("%s.static_configs[%d].targets: %q is not host:port", field, j, t)
			}
		}
	}
	a.HTTPClientConfig.SetDirectory(dir)
	if err := a.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}
