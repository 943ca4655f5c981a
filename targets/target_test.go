package targets

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v3"
)

func TestBuildTargets(t *testing.T) {
	job := &ScrapeJob{Name: "node"}
	tests := []struct {
		name      string
		job       *ScrapeJob
		g         Group
		collector string
		instance  string
		url       string
		labels    map[string]string
		meta      map[string]string
		wantErr   string
	}{
		{
			name:      "defaults: instance is the address, collector is job/instance",
			g:         Group{Targets: []string{"h:9100"}, Source: "s:0"},
			collector: "node/h:9100", instance: "h:9100",
			url:    "http://h:9100/metrics",
			labels: map[string]string{"job": "node", "instance": "h:9100", "collector": "node/h:9100"},
			meta:   map[string]string{"__address__": "h:9100", "__scheme__": "http", "__metrics_path__": "/metrics"},
		},
		{
			name:      "collector label is the identity",
			g:         Group{Targets: []string{"h:9100"}, Labels: map[string]string{"collector": "pg-main", "team": "data"}},
			collector: "pg-main", instance: "h:9100",
			url:    "http://h:9100/metrics",
			labels: map[string]string{"job": "node", "instance": "h:9100", "collector": "pg-main", "team": "data"},
		},
		{
			name:      "group labels override job defaults; the target's address wins over the group's",
			g:         Group{Targets: []string{"h:9100"}, Labels: map[string]string{"job": "pg", "instance": "db1", "__address__": "x:1", "__scheme__": "https", "__metrics_path__": "/m", "__param_module": "pg", "__scrape_interval__": "5s", "__meta_filepath": "/sd/a.yml"}},
			collector: "pg/db1", instance: "db1",
			url:    "https://h:9100/m?module=pg",
			labels: map[string]string{"job": "pg", "instance": "db1", "collector": "pg/db1"},
			meta:   map[string]string{"__address__": "h:9100", "__scheme__": "https", "__metrics_path__": "/m", "__param_module": "pg", "__scrape_interval__": "5s", "__meta_filepath": "/sd/a.yml"},
		},
		{
			name:      "job scheme, path and params; __param_ overrides the first value",
			job:       &ScrapeJob{Name: "j", Scheme: "https", MetricsPath: "/x/metrics", Params: url.Values{"a": {"1", "2"}, "b": {"3"}}},
			g:         Group{Targets: []string{"h:1"}, Labels: map[string]string{"__param_a": "9"}},
			collector: "j/h:1", instance: "h:1",
			url: "https://h:1/x/metrics?a=9&a=2&b=3",
		},
		{
			name:      "an empty label is an absent one",
			g:         Group{Targets: []string{"h:1"}, Labels: map[string]string{"collector": "", "team": ""}},
			collector: "node/h:1", instance: "h:1", url: "http://h:1/metrics",
			labels: map[string]string{"job": "node", "instance": "h:1", "collector": "node/h:1"},
		},
		{name: "bad scheme", g: Group{Targets: []string{"h:1"}, Labels: map[string]string{"__scheme__": "ftp"}}, wantErr: `scheme "ftp"`},
		{name: "bad path", g: Group{Targets: []string{"h:1"}, Labels: map[string]string{"__metrics_path__": "metrics"}}, wantErr: "must start with /"},
		{name: "bad label value", g: Group{Targets: []string{"h:1"}, Labels: map[string]string{"team": "\xff"}}, wantErr: "not valid UTF-8"},
		{name: "empty label name", g: Group{Targets: []string{"h:1"}, Labels: map[string]string{"": "x"}}, wantErr: `label name ""`},
		{name: "address with a path", g: Group{Targets: []string{"h:1/metrics"}}, wantErr: "without a path"},
		{
			name:      "a UTF-8 label name, as Prometheus 3 accepts",
			g:         Group{Targets: []string{"h:1"}, Labels: map[string]string{"service.name": "api"}},
			collector: "node/h:1", instance: "h:1", url: "http://h:1/metrics",
			labels: map[string]string{"job": "node", "instance": "h:1", "collector": "node/h:1", "service.name": "api"},
		},
		{
			name:      "no port: the scheme's default, as in Prometheus 3",
			g:         Group{Targets: []string{"my.domain"}, Labels: map[string]string{"__scheme__": "https"}},
			collector: "node/my.domain", instance: "my.domain", url: "https://my.domain/metrics",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job
			if j == nil {
				j = job
			}
			ts, dropped := buildTargets(j, KindStatic, &tt.g)
			if tt.wantErr != "" {
				if len(ts) != 0 || len(dropped) != 1 || !strings.Contains(dropped[0].Reason, tt.wantErr) {
					t.Fatalf("targets %v, dropped %v; want the target dropped with %q", ts, dropped, tt.wantErr)
				}
				return
			}
			if len(dropped) != 0 {
				t.Fatal(dropped)
			}
			if len(ts) != 1 {
				t.Fatalf("got %d targets", len(ts))
			}
			got := ts[0]
			if got.Collector != tt.collector || got.Instance != tt.instance || got.URL != tt.url {
				t.Errorf("got collector %q instance %q url %q, want %q %q %q", got.Collector, got.Instance, got.URL, tt.collector, tt.instance, tt.url)
			}
			if tt.labels != nil && !maps.Equal(got.Labels, tt.labels) {
				t.Errorf("labels = %v, want %v", got.Labels, tt.labels)
			}
			if tt.meta != nil && !maps.Equal(got.Meta, tt.meta) {
				t.Errorf("meta = %v, want %v", got.Meta, tt.meta)
			}
			for name := range got.Labels {
				if strings.HasPrefix(name, "__") {
					t.Errorf("label %s leaked into Labels", name)
				}
			}
			if got.Provider != KindStatic || got.Source != tt.g.Source || got.Job != got.Labels["job"] {
				t.Errorf("provider %q source %q job %q", got.Provider, got.Source, got.Job)
			}
		})
	}
}

func TestLabelsString(t *testing.T) {
	tg := &Target{Labels: map[string]string{"job": "node", "instance": "h:1", "collector": "c", "note": "a \"quoted\" \\ back\nslash"}}
	want := `{collector="c",instance="h:1",job="node",note="a \"quoted\" \\ back\nslash"}`
	if got := tg.LabelsString(); got != want {
		t.Errorf("LabelsString() = %s, want %s", got, want)
	}
	if got := (&Target{}).LabelsString(); got != "{}" {
		t.Errorf("empty LabelsString() = %s", got)
	}
}

func TestHash(t *testing.T) {
	job := &ScrapeJob{Name: "node"}
	build := func(labels map[string]string) uint64 {
		ts, err := buildTargets(job, KindFileSD, &Group{Targets: []string{"h:1"}, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		return ts[0].Hash
	}
	base := build(map[string]string{"team": "a"})
	if got := build(map[string]string{"team": "a"}); got != base {
		t.Error("hash not stable")
	}
	if got := build(map[string]string{"team": "a", "__meta_filepath": "/x.yml"}); got != base {
		t.Error("__meta_ labels changed the hash")
	}
	for _, labels := range []map[string]string{
		{"team": "b"},
		{"team": "a", "__scrape_interval__": "5s"},
		{"team": "a", "__metrics_path__": "/m"},
		{"team": "a", "collector": "x"},
	} {
		if build(labels) == base {
			t.Errorf("labels %v: same hash as base", labels)
		}
	}
}

// TestBuildTargetsDropsOneTarget: as in Prometheus, a target that cannot be
// scraped is dropped alone; the rest of its group is kept.
func TestBuildTargetsDropsOneTarget(t *testing.T) {
	g := &Group{Targets: []string{"a:1", "http://b:2", "c:3", ""}, Labels: map[string]string{"team": "data"}}
	ts, dropped := buildTargets(&ScrapeJob{Name: "j"}, KindFileSD, g)
	var kept []string
	for _, tg := range ts {
		kept = append(kept, tg.Instance)
	}
	if !slices.Equal(kept, []string{"a:1", "c:3"}) {
		t.Errorf("kept %v, want a:1 and c:3", kept)
	}
	if len(dropped) != 2 || !strings.Contains(dropped[0].Reason, `targets[1] "http://b:2"`) || !strings.Contains(dropped[1].Reason, "targets[3]") {
		t.Errorf("dropped %v", dropped)
	}
}

// TestLabelsStringUTF8Names: a label name outside the legacy charset is
// written escaped with underscores, so that every text-format reader parses it.
func TestLabelsStringUTF8Names(t *testing.T) {
	tg := &Target{Labels: map[string]string{"job": "node", "service.name": "api", "ключ": "v"}}
	want := `{job="node",service_name="api",____="v"}`
	if got := tg.LabelsString(); got != want {
		t.Errorf("LabelsString() = %s, want %s", got, want)
	}
}

// TestRelabel: relabel_configs run with Prometheus's own implementation on
// the discovered labels (__meta_* and the job's defaults included), before
// instance and collector get their defaults; a target they drop is listed as
// dropped without a reason, as Prometheus lists it.
func TestRelabel(t *testing.T) {
	rules := func(t *testing.T, y string) []*relabel.Config {
		t.Helper()
		var cs []*relabel.Config
		if err := yaml.Unmarshal([]byte(y), &cs); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if err := c.Validate(model.UTF8Validation); err != nil {
				t.Fatal(err)
			}
		}
		return cs
	}
	g := &Group{Targets: []string{"db1:9187", "db2:9187", "web:9100"}, Source: "/sd/a.yml:0",
		Labels: map[string]string{"__meta_filepath": "/sd/a.yml", "__meta_env": "prod", "role": "db"}}
	job := &ScrapeJob{Name: "pg", Relabel: rules(t, `
- source_labels: [__address__]
  regex: 'db.*'
  action: keep
- source_labels: [__meta_env]
  target_label: env
- regex: '__meta_(file)path'
  action: labelmap
  replacement: src_$1
- source_labels: [__address__]
  regex: '(.*):9187'
  target_label: __address__
  replacement: '${1}:9999'
- target_label: __scheme__
  replacement: https
- regex: role
  action: labeldrop
`)}
	ts, dropped := buildTargets(job, KindFileSD, g)
	if len(ts) != 2 || len(dropped) != 1 || dropped[0].Reason != "" || dropped[0].Discovered["__address__"] != "web:9100" || dropped[0].Discovered["__meta_env"] != "prod" {
		t.Fatalf("targets %v, dropped %+v; want db1 and db2 kept, web dropped by relabelling", ts, dropped)
	}
	got := ts[0]
	want := map[string]string{"job": "pg", "instance": "db1:9999", "collector": "pg/db1:9999", "env": "prod", "src_file": "/sd/a.yml"}
	if !maps.Equal(got.Labels, want) || got.URL != "https://db1:9999/metrics" || got.Address() != "db1:9999" {
		t.Errorf("labels %v url %s, want %v https://db1:9999/metrics", got.Labels, got.URL, want)
	}

	// A rule that empties __address__ drops the target with a reason.
	job.Relabel = rules(t, "- target_label: __address__\n  replacement: ''\n")
	ts, dropped = buildTargets(job, KindFileSD, g)
	if len(ts) != 0 || len(dropped) != 3 || !strings.Contains(dropped[0].Reason, "no address after relabel_configs") {
		t.Errorf("targets %v, dropped %+v", ts, dropped)
	}
}
