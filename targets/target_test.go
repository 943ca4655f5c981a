package targets

import (
	"maps"
	"net/url"
	"strings"
	"testing"
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
		{name: "bad label", g: Group{Targets: []string{"h:1"}, Labels: map[string]string{"a.b": "x"}}, wantErr: `label name "a.b"`},
		{name: "bad address", g: Group{Targets: []string{"h"}}, wantErr: "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job
			if j == nil {
				j = job
			}
			ts, err := buildTargets(j, KindStatic, &tt.g)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
