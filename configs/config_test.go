package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/corral-dev/corral/targets/filesd"
)

func TestExampleLoads(t *testing.T) {
	c, err := Load("corral.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ScrapeConfigs) != 3 || c.ScrapeConfigs[0].ScrapeTimeout != model.Duration(10*time.Second) {
		t.Errorf("%+v", c.ScrapeConfigs)
	}
	if !c.ScrapeConfigs[0].HTTPClientConfig.FollowRedirects || !c.ScrapeConfigs[0].HTTPClientConfig.EnableHTTP2 {
		t.Error("HTTP client defaults not applied to the inline config")
	}
	if c.Global.BodySizeLimit != 10<<20 || c.Global.Thresholds.IncompleteBelow != 0.9 {
		t.Errorf("global: %+v", c.Global)
	}
	if c.ScrapeConfigs[1].Thresholds.OfflineAfter != model.Duration(2*time.Minute) {
		t.Error("global thresholds not inherited")
	}
}

func TestTenancyDefaultsAndValidation(t *testing.T) {
	c := Default()
	if c.Tenancy != (TenancyConfig{OrgLabel: "org", TeamLabel: "team", DefaultOrg: "default"}) {
		t.Errorf("%+v", c.Tenancy)
	}
	if _, err := Parse([]byte("tenancy: {org_label: 'bad label'}\nscrape_configs: [{job_name: a, registry: true}]"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "tenancy") {
		t.Errorf("bad org_label: %v", err)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if c.Storage.URL != "sqlite:data/corral.db" || len(c.ScrapeConfigs) != 1 || !c.ScrapeConfigs[0].Registry {
		t.Errorf("%+v", c)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"global: {scrape_intervall: 5s}", "scrape_intervall"},
		{"global: {scrape_interval: 5s, scrape_timeout: 10s}", "global.scrape_timeout"},
		{"global: {body_size_limit: lots}", "lots"},
		{"global: {thresholds: {incomplete_below: 2}}", "global.thresholds.incomplete_below"},
		{"scrape_configs: [{static_configs: [{targets: [a:1]}]}]", "scrape_configs[0].job_name"},
		{"scrape_configs: [{job_name: 'a b', static_configs: [{targets: [a:1]}]}]", "job_name"},
		{"scrape_configs: [{job_name: a, static_configs: [{targets: [a:1]}]}, {job_name: a, registry: true}]", "used twice"},
		{"scrape_configs: [{job_name: a}]", "scrape nothing"},
		{"scrape_configs: [{job_name: a, scheme: ftp, registry: true}]", "scheme"},
		{"scrape_configs: [{job_name: a, metrics_path: metrics, registry: true}]", "metrics_path"},
		{"scrape_configs: [{job_name: a, registry: true, authorization: {credentials: x}, basic_auth: {username: u}}]", "job \"a\""},
		{"scrape_configs: [{job_name: a, registry: true, tls_config: {ca_file: x, ca: y}}]", "ca_file"},
		{"scrape_configs: [{job_name: a, registry: true, unknown_option: 1}]", "unknown_option"},
		{"scrape_configs: [null]", "scrape_configs[0]"},
		{"global: {sample_limit: 1}\n---\nglobal: {sample_limit: 2}", "more than one"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to name %q", c.yaml, err, c.want)
		}
	}
}

func TestPathsRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("t"), 0o600)
	y := "scrape_configs: [{job_name: a, registry: true, authorization: {credentials_file: token}}]"
	c, err := Parse([]byte(y), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ScrapeConfigs[0].HTTPClientConfig.Authorization.CredentialsFile; got != filepath.Join(dir, "token") {
		t.Errorf("credentials_file %s", got)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"10MiB": 10 << 20, "10MB": 10 << 20, "512KiB": 512 << 10, "1GB": 1 << 30, "100": 100, "7B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"-1", "ten", "1.5MiB", "MiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("corral.example.yml")
	f.Add(b)
	f.Add([]byte("scrape_configs: [{job_name: a, registry: true}]"))
	f.Add([]byte("global: {scrape_interval: 1d}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b, dir)
		if err != nil {
			return
		}
		for _, sc := range c.ScrapeConfigs {
			if sc.ScrapeTimeout > sc.ScrapeInterval || sc.ScrapeInterval <= 0 {
				t.Fatalf("accepted timeout %s > interval %s", sc.ScrapeTimeout, sc.ScrapeInterval)
			}
		}
	})
}

func TestExampleSDFileLoads(t *testing.T) {
	groups, dropped, err := filesd.ReadFile("sd/example.yml")
	if err != nil || len(dropped) > 0 {
		t.Fatal(err, dropped)
	}
	if len(groups) != 2 || len(groups[0].Targets) != 2 {
		t.Errorf("%+v", groups)
	}
}

func TestControlSection(t *testing.T) {
	c, err := Parse([]byte("control:\n  command_expiry: 2m\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if c.Control.CommandExpiry != model.Duration(2*time.Minute) || c.Control.RetryMaxBackoff != model.Duration(DefaultRetryMaxBackoff) ||
		c.Control.ArchiveRetentionDays != DefaultArchiveRetentionDays {
		t.Errorf("control section %+v", c.Control)
	}
	for _, bad := range []string{
		"control:\n  command_expiry: 0s500ms\n",
		"control:\n  command_expiry: 48h\n",
		"control:\n  command_expiry: 10s\n  retry_max_backoff: 1m\n",
		"control:\n  archive_retention_days: -3\n",
		"control:\n  expiry: 1m\n",
	} {
		if _, err := Parse([]byte(bad), "."); err == nil || !strings.Contains(err.Error(), "control") && !strings.Contains(err.Error(), "expiry") {
			t.Errorf("%q: %v, want an error naming the field", bad, err)
		}
	}
}

func TestClusterSection(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       ClusterConfig
		err        string
	}{
		{"absent", "", ClusterConfig{}, ""},
		{"defaults", "cluster:\n  enabled: true\n", ClusterConfig{Enabled: true, LeaseInterval: model.Duration(2 * time.Second), LeaseExpiry: model.Duration(6 * time.Second)}, ""},
		{"expiry follows interval", "cluster:\n  enabled: true\n  replica_name: r1\n  lease_interval: 1s\n",
			ClusterConfig{Enabled: true, ReplicaName: "r1", LeaseInterval: model.Duration(time.Second), LeaseExpiry: model.Duration(3 * time.Second)}, ""},
		{"interval too short", "cluster:\n  enabled: true\n  lease_interval: 10ms\n", ClusterConfig{}, "cluster.lease_interval"},
		{"expiry below two renewals", "cluster:\n  enabled: true\n  lease_interval: 1s\n  lease_expiry: 1500ms\n", ClusterConfig{}, "cluster.lease_expiry"},
		{"name with a space", "cluster:\n  enabled: true\n  replica_name: 'a b'\n", ClusterConfig{}, "cluster.replica_name"},
		{"unknown field", "cluster:\n  enabled: true\n  replicas: 3\n", ClusterConfig{}, "replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), ".")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%v, want an error naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Cluster != tc.want {
				t.Errorf("cluster section %+v, want %+v", c.Cluster, tc.want)
			}
		})
	}
	on := ClusterConfig{Enabled: true}
	for url, ok := range map[string]bool{"postgres://db/corral": true, "postgresql://db/corral": true, "sqlite:data/corral.db": false, "data/corral.db": false} {
		if err := on.CheckClusterStorage(url); (err == nil) != ok {
			t.Errorf("CheckClusterStorage(%s) = %v", url, err)
		}
	}
	if err := (&ClusterConfig{}).CheckClusterStorage("sqlite:x.db"); err != nil {
		t.Errorf("a disabled cluster refuses SQLite: %v", err)
	}
}
