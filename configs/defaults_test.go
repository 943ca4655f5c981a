package configs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

const registryJob = "scrape_configs: [{job_name: a, registry: true}]\n"

type fieldCase struct {
	name string
	yaml string // parsed with registryJob appended, unless it has scrape_configs
	get  func(c *Config) any
	want any
}

func runFieldCases(t *testing.T, cases []fieldCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := tc.yaml
			if !strings.Contains(y, "scrape_configs") {
				y += "\n" + registryJob
			}
			c, err := Parse([]byte(y), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(c); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func job(c *Config) *ScrapeConfig { return c.ScrapeConfigs[0] }

func TestDefaultsWhenAbsent(t *testing.T) {
	runFieldCases(t, []fieldCase{
		{"global.scrape_interval", "", func(c *Config) any { return c.Global.ScrapeInterval }, DefaultScrapeInterval},
		{"global.scrape_timeout", "", func(c *Config) any { return c.Global.ScrapeTimeout }, DefaultScrapeTimeout},
		{"global.scrape_timeout at most the interval", "global: {scrape_interval: 4s}", func(c *Config) any { return c.Global.ScrapeTimeout }, model.Duration(4 * time.Second)},
		{"global.body_size_limit", "", func(c *Config) any { return c.Global.BodySizeLimit }, DefaultBodySizeLimit},
		{"global.sample_limit", "", func(c *Config) any { return c.Global.SampleLimit }, 0},
		{"global.thresholds.incomplete_below", "", func(c *Config) any { return c.Global.Thresholds.IncompleteBelow }, DefaultThresholds.IncompleteBelow},
		{"global.thresholds.incomplete_below beside another threshold", "global: {thresholds: {offline_after: 1m}}",
			func(c *Config) any { return c.Global.Thresholds.IncompleteBelow }, 0.0}, // the evaluator's default (health.DefaultIncompleteBelow)
		{"global.scrape_interval beside another field", "global: {sample_limit: 5}", func(c *Config) any { return c.Global.ScrapeInterval }, DefaultScrapeInterval},
		{"global: null", "global:", func(c *Config) any { return c.Global.BodySizeLimit }, DefaultBodySizeLimit},
		{"job metrics_path", "", func(c *Config) any { return job(c).MetricsPath }, "/metrics"},
		{"job scheme", "", func(c *Config) any { return job(c).Scheme }, "http"},
		{"job enable_compression", "", func(c *Config) any { return *job(c).EnableCompression }, true},
		{"job follow_redirects", "", func(c *Config) any { return job(c).HTTPClientConfig.FollowRedirects }, true},
		{"job enable_http2", "", func(c *Config) any { return job(c).HTTPClientConfig.EnableHTTP2 }, true},
		{"job follow_redirects beside tls_config", "scrape_configs: [{job_name: a, registry: true, tls_config: {insecure_skip_verify: true}}]",
			func(c *Config) any { return job(c).HTTPClientConfig.FollowRedirects }, true},
		{"job scrape_interval from global", "global: {scrape_interval: 1m}", func(c *Config) any { return job(c).ScrapeInterval }, model.Duration(time.Minute)},
		{"job scrape_timeout from global", "global: {scrape_timeout: 3s}", func(c *Config) any { return job(c).ScrapeTimeout }, model.Duration(3 * time.Second)},
		{"job scrape_timeout at most its interval", "scrape_configs: [{job_name: a, registry: true, scrape_interval: 2s}]",
			func(c *Config) any { return job(c).ScrapeTimeout }, model.Duration(2 * time.Second)},
		{"job body_size_limit from global", "global: {body_size_limit: 1KiB}", func(c *Config) any { return job(c).BodySizeLimit }, ByteSize(1024)},
		{"job sample_limit from global", "global: {sample_limit: 9}", func(c *Config) any { return job(c).SampleLimit }, 9},
		{"job thresholds from global, field by field", "global: {thresholds: {stale_after: 5m}}\nscrape_configs: [{job_name: a, registry: true, thresholds: {offline_after: 1m}}]",
			func(c *Config) any { return job(c).Thresholds }, Thresholds{OfflineAfter: model.Duration(time.Minute), StaleAfter: model.Duration(5 * time.Minute)}},
		{"storage.url", "", func(c *Config) any { return c.Storage.URL }, DefaultStorageURL},
		{"tenancy", "", func(c *Config) any { return c.Tenancy }, DefaultTenancyConfig},
		{"tenancy beside another field", "tenancy: {default_org: acme}", func(c *Config) any { return c.Tenancy },
			TenancyConfig{OrgLabel: "org", TeamLabel: "team", DefaultOrg: "acme"}},
		{"logs.pull", "", func(c *Config) any { return c.Logs.Enabled() }, true},
		{"logs.pull_interval", "", func(c *Config) any { return c.Logs.PullInterval }, model.Duration(0)},
		{"logs.retention_days", "logs: {pull: false}", func(c *Config) any { return c.Logs.RetentionDays }, DefaultLogRetentionDays},
		{"logs.max_rows_per_collector", "logs: {retention_days: 3}", func(c *Config) any { return c.Logs.MaxRowsPerCollector }, DefaultLogMaxRowsPerCollector},
		{"control", "", func(c *Config) any { return c.Control }, DefaultControlConfig},
		{"control beside another field", "control: {command_expiry: 2m}", func(c *Config) any { return c.Control.RetryMaxBackoff }, model.Duration(DefaultRetryMaxBackoff)},
	})
}

func TestExplicitValuesKept(t *testing.T) {
	runFieldCases(t, []fieldCase{
		{"enable_compression: false", "scrape_configs: [{job_name: a, registry: true, enable_compression: false}]",
			func(c *Config) any { return *job(c).EnableCompression }, false},
		{"follow_redirects: false", "scrape_configs: [{job_name: a, registry: true, follow_redirects: false}]",
			func(c *Config) any { return job(c).HTTPClientConfig.FollowRedirects }, false},
		{"enable_http2: false", "scrape_configs: [{job_name: a, registry: true, enable_http2: false}]",
			func(c *Config) any { return job(c).HTTPClientConfig.EnableHTTP2 }, false},
		{"logs.pull: false", "logs: {pull: false}", func(c *Config) any { return c.Logs.Enabled() }, false},
		{"global.thresholds.offline_after: 0s (worked out per collector)", "global: {thresholds: {offline_after: 0s}}",
			func(c *Config) any { return c.Global.Thresholds.OfflineAfter }, model.Duration(0)},
		{"logs.pull_interval: 0s (the scrape interval)", "logs: {pull_interval: 0s}", func(c *Config) any { return c.Logs.PullInterval }, model.Duration(0)},
		{"registry: false beside static_configs", "scrape_configs: [{job_name: a, registry: false, static_configs: [{targets: [a:1]}]}]",
			func(c *Config) any { return job(c).Registry }, false},
		// A null is "not set": the default, for bools as for everything else.
		{"enable_compression: null", "scrape_configs: [{job_name: a, registry: true, enable_compression: null}]",
			func(c *Config) any { return *job(c).EnableCompression }, true},
		{"follow_redirects: null", "scrape_configs: [{job_name: a, registry: true, follow_redirects: null}]",
			func(c *Config) any { return job(c).HTTPClientConfig.FollowRedirects }, true},
		{"logs.pull: null", "logs: {pull: null}", func(c *Config) any { return c.Logs.Enabled() }, true},
	})
}

// TestZeroMeansDefault holds the rule kept from before defaults moved ahead of
// decoding: where a zero means nothing, writing one still means the default.
func TestZeroMeansDefault(t *testing.T) {
	runFieldCases(t, []fieldCase{
		{"global.scrape_interval: 0s", "global: {scrape_interval: 0s}", func(c *Config) any { return c.Global.ScrapeInterval }, DefaultScrapeInterval},
		{"global.body_size_limit: 0", "global: {body_size_limit: 0}", func(c *Config) any { return c.Global.BodySizeLimit }, DefaultBodySizeLimit},
		{"global.thresholds.incomplete_below: 0", "global: {thresholds: {incomplete_below: 0}}", func(c *Config) any { return c.Global.Thresholds.IncompleteBelow }, 0.0},
		{`scheme: ""`, `scrape_configs: [{job_name: a, registry: true, scheme: ""}]`, func(c *Config) any { return job(c).Scheme }, "http"},
		{`metrics_path: ""`, `scrape_configs: [{job_name: a, registry: true, metrics_path: ""}]`, func(c *Config) any { return job(c).MetricsPath }, "/metrics"},
		{"job scrape_interval: 0s inherits", "global: {scrape_interval: 1m}\nscrape_configs: [{job_name: a, registry: true, scrape_interval: 0s}]",
			func(c *Config) any { return job(c).ScrapeInterval }, model.Duration(time.Minute)},
		{`storage.url: ""`, `storage: {url: ""}`, func(c *Config) any { return c.Storage.URL }, DefaultStorageURL},
		{`tenancy.org_label: ""`, `tenancy: {org_label: ""}`, func(c *Config) any { return c.Tenancy.OrgLabel }, "org"},
		{"logs.retention_days: 0", "logs: {retention_days: 0}", func(c *Config) any { return c.Logs.RetentionDays }, DefaultLogRetentionDays},
		{"control.archive_retention_days: 0", "control: {archive_retention_days: 0}", func(c *Config) any { return c.Control.ArchiveRetentionDays }, DefaultArchiveRetentionDays},
	})
}

// TestUnknownFieldsError holds every section, nested ones and those with an
// UnmarshalYAML included, to strict decoding. The line number checks that the
// error comes from the decoder of the whole file, not from one that decoded the
// section on its own.
func TestUnknownFieldsError(t *testing.T) {
	for _, tc := range []struct{ section, yaml string }{
		{"top level", "globall: {}"},
		{"global", "global:\n  scrape_intervall: 5s"},
		{"global.thresholds", "global:\n  thresholds:\n    offline: 1m"},
		{"scrape_configs[]", registryJob + "  - job_name: b\n    registry: true\n    scrape_intervall: 5s"},
		{"scrape_configs[].thresholds", registryJob + "  - job_name: b\n    registry: true\n    thresholds: {stale: 1m}"},
		{"scrape_configs[].static_configs[]", registryJob + "  - job_name: b\n    static_configs:\n      - targets: [a:1]\n        label: {a: b}"},
		{"scrape_configs[].file_sd_configs[]", registryJob + "  - job_name: b\n    file_sd_configs:\n      - files: [a.yml]\n        refresh: 1m"},
		{"scrape_configs[].tls_config", registryJob + "  - job_name: b\n    registry: true\n    tls_config: {ca_fil: x}"},
		{"scrape_configs[].authorization", registryJob + "  - job_name: b\n    registry: true\n    authorization: {credential: x}"},
		{"scrape_configs[].basic_auth", registryJob + "  - job_name: b\n    registry: true\n    basic_auth: {user: x}"},
		{"scrape_configs[].oauth2", registryJob + "  - job_name: b\n    registry: true\n    oauth2: {client: x}"},
		{"scrape_configs[].oauth2.tls_config", registryJob + "  - job_name: b\n    registry: true\n    oauth2: {client_id: x, token_url: 'http://t', tls_config: {ca_fil: x}}"},
		{"storage", "storage:\n  path: x"},
		{"tenancy", "tenancy:\n  org: x"},
		{"logs", "logs:\n  retention: 7"},
		{"control", "control:\n  expiry: 1m"},
	} {
		t.Run(tc.section, func(t *testing.T) {
			// Four lines in front, so the bad field is never on the line it would
			// be on in the section alone.
			y := "# a comment\n#\n#\n#\n" + strings.Replace(tc.yaml, registryJob, "scrape_configs:\n  - {job_name: a, registry: true}\n", 1)
			lines := strings.Split(y, "\n")
			bad := len(lines) // the bad field is on the last line
			last := strings.TrimSpace(lines[bad-1])
			_, err := Parse([]byte(y), t.TempDir())
			if err == nil {
				t.Fatalf("accepted %q", last)
			}
			want := fmt.Sprintf("line %d: field ", bad)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), " not found") {
				t.Errorf("error %q, want one with %q … not found", err, want)
			}
		})
	}
}

// TestSectionDecodedAlone: a section's UnmarshalYAML sets its defaults wherever
// it is decoded, not only through Parse.
func TestSectionDecodedAlone(t *testing.T) {
	var l LogsConfig
	if err := yaml.Unmarshal([]byte("retention_days: 3"), &l); err != nil {
		t.Fatal(err)
	}
	if l.RetentionDays != 3 || l.MaxRowsPerCollector != DefaultLogMaxRowsPerCollector {
		t.Errorf("%+v", l)
	}
	var sc ScrapeConfig
	if err := yaml.Unmarshal([]byte("job_name: a\nenable_http2: false"), &sc); err != nil {
		t.Fatal(err)
	}
	if sc.MetricsPath != "/metrics" || !sc.HTTPClientConfig.FollowRedirects || sc.HTTPClientConfig.EnableHTTP2 {
		t.Errorf("%+v", sc)
	}
}
