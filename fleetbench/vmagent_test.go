package fleetbench

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestVMVersionPinned: the version the bench reports is the one tools/vmagent builds.
func TestVMVersionPinned(t *testing.T) {
	b, err := os.ReadFile("../tools/vmagent/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := VMModule + " " + VMVersion
	if !strings.Contains(string(b), want) {
		t.Fatalf("tools/vmagent/go.mod does not require %s", want)
	}
}

func TestVMAgentConfig(t *testing.T) {
	for _, tc := range []struct {
		gzip    bool
		disable bool
	}{{true, false}, {false, true}} {
		b, err := vmagentConfig([]string{"/a.yml", "/b.yml"}, 5*time.Second, 4*time.Second, tc.gzip)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Global struct {
				ScrapeInterval string `yaml:"scrape_interval"`
				ScrapeTimeout  string `yaml:"scrape_timeout"`
			}
			ScrapeConfigs []struct {
				JobName            string `yaml:"job_name"`
				DisableCompression bool   `yaml:"disable_compression"`
				FileSD             []struct {
					Files []string
				} `yaml:"file_sd_configs"`
			} `yaml:"scrape_configs"`
		}
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Global.ScrapeInterval != "5s" || cfg.Global.ScrapeTimeout != "4s" {
			t.Errorf("gzip %v: global %+v", tc.gzip, cfg.Global)
		}
		if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].DisableCompression != tc.disable ||
			len(cfg.ScrapeConfigs[0].FileSD) != 1 || strings.Join(cfg.ScrapeConfigs[0].FileSD[0].Files, ",") != "/a.yml,/b.yml" {
			t.Errorf("gzip %v: %s", tc.gzip, b)
		}
	}
}

func TestMetricSum(t *testing.T) {
	body := `# TYPE corral_store_writes_total counter
corral_store_writes_total{kind="bucket"} 10
corral_store_writes_total{kind="collector"} 2.5
corral_store_writes_total_other 100
corral_scrapes_total 7
`
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"corral_store_writes_total", 12.5},
		{"corral_scrapes_total", 7},
		{"corral_scrapes", 0},
	} {
		if got := metricSum(body, tc.name); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVMAgentUp(t *testing.T) {
	body := `vm_promscrape_targets{type="fleet", status="up"} 998
vm_promscrape_targets{type="fleet", status="down"} 2
vm_promscrape_targets{type="other", status="up"} 1
`
	if got := vmagentUp(body); got != 999 {
		t.Fatalf("got %v, want 999", got)
	}
}
