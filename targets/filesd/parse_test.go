package filesd

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/corral-dev/corral/targets"
)

func TestParseFileEquivalentFormats(t *testing.T) {
	var want []*targets.Group
	for _, name := range []string{"groups.yml", "groups_flow.yaml", "groups.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			gs, dropped, err := ReadFile(path)
			if err != nil || len(dropped) > 0 {
				t.Fatal(err, dropped)
			}
			for i, g := range gs {
				if g.Source != fmt.Sprintf("%s:%d", path, i) {
					t.Errorf("group %d source %q", i, g.Source)
				}
				if g.Labels[targets.LabelFilePath] != path {
					t.Errorf("group %d: %s = %q", i, targets.LabelFilePath, g.Labels[targets.LabelFilePath])
				}
			}
			if want == nil {
				want = gs
				if len(gs) != 3 || len(gs[0].Targets) != 2 || gs[1].Labels["collector"] != "synthetic-1" || len(gs[2].Targets) != 0 {
					t.Fatalf("unexpected groups %+v", gs)
				}
				return
			}
			if !sameContent(gs, want) {
				t.Errorf("groups differ from %s's:\n%s\n%s", "groups.yml", dump(gs), dump(want))
			}
		})
	}
}

// sameContent compares groups by targets and labels, leaving out where they came from.
func sameContent(a, b []*targets.Group) bool {
	strip := func(m map[string]string) map[string]string {
		m = maps.Clone(m)
		delete(m, targets.LabelFilePath)
		return m
	}
	return slices.EqualFunc(a, b, func(x, y *targets.Group) bool {
		return slices.Equal(x.Targets, y.Targets) && maps.Equal(strip(x.Labels), strip(y.Labels))
	})
}

func dump(gs []*targets.Group) string {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "%v %v\n", g.Targets, g.Labels)
	}
	return b.String()
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		data    string
		targets [][]string // per group, when accepted
		dropped int
		wantErr string // substring; "" when accepted
	}{
		{name: "yaml empty list", file: "a.yml", data: "[]\n", targets: [][]string{}},
		{name: "json empty list", file: "a.json", data: " [ ] ", targets: [][]string{}},
		{name: "uppercase extension", file: "a.JSON", data: `[{"targets":["a:1"]}]`, targets: [][]string{{"a:1"}}},
		{name: "yaml aliases", file: "a.yaml", data: "- targets: &t ['a:1']\n  labels: &l {x: y}\n- targets: *t\n  labels: *l\n", targets: [][]string{{"a:1"}, {"a:1"}}},
		{name: "yaml number label value", file: "a.yml", data: "- targets: ['a:1']\n  labels: {shard: 3}\n", targets: [][]string{{"a:1"}}},

		// What Prometheus 3 accepts and corral once refused.
		{name: "empty yaml file", file: "a.yml", data: "", targets: [][]string{}},
		{name: "comments only", file: "a.yml", data: "# nothing yet\n", targets: [][]string{}},
		{name: "yaml null document", file: "a.yml", data: "~\n", targets: [][]string{}},
		{name: "yaml missing targets", file: "a.yml", data: "- labels: {a: b}\n", targets: [][]string{{}}},
		{name: "json missing targets", file: "a.json", data: `[{"labels": {}}]`, targets: [][]string{{}}},
		{name: "target without port", file: "a.yml", data: "- targets: [my.domain]\n", targets: [][]string{{"my.domain"}}},
		{name: "UTF-8 label names", file: "a.yml", data: "- targets: ['a:1']\n  labels: {team-name: x, service.name: y, ключ: z}\n", targets: [][]string{{"a:1"}}},
		{name: "yaml null label value", file: "a.yml", data: "- targets: ['a:1']\n  labels: {team: }\n", targets: [][]string{{"a:1"}}},

		// One bad target is dropped, the rest of the file kept.
		{name: "target with scheme", file: "a.yml", data: "- targets: ['http://a:1', 'b:1']\n- targets: ['c:1']\n", targets: [][]string{{"b:1"}, {"c:1"}}, dropped: 1},
		{name: "target with path", file: "a.json", data: `[{"targets": ["a:1/metrics", "b:1"]}]`, targets: [][]string{{"b:1"}}, dropped: 1},
		{name: "yaml null target", file: "a.yml", data: "- targets: ['a:1', ~]\n", targets: [][]string{{"a:1"}}, dropped: 1},
		{name: "empty target", file: "a.json", data: `[{"targets": ["a:1", ""]}]`, targets: [][]string{{"a:1"}}, dropped: 1},

		// What Prometheus refuses whole.
		{name: "empty json file", file: "a.json", data: "", wantErr: "JSON ends early"},
		{name: "yaml null item", file: "a.yml", data: "- targets: ['a:1']\n- null\n", wantErr: "group 1 is null"},
		{name: "yaml empty item", file: "a.yml", data: "- targets: ['a:1']\n-\n", wantErr: "group 1 is null"},
		{name: "json null item", file: "a.json", data: "[\n{\"targets\": [\"a:1\"]},\nnull]", wantErr: "group 1 is null"},
		{name: "yaml unknown field", file: "a.yml", data: "- targets: ['a:1']\n  lables: {a: b}\n", wantErr: `line 2: unknown field "lables"`},
		{name: "json unknown field", file: "a.json", data: `[{"targets": ["a:1"], "lables": {}}]`, wantErr: `unknown field "lables"`},
		{name: "json null label value", file: "a.json", data: `[{"targets": ["a:1"], "labels": {"team": null}}]`, targets: [][]string{{"a:1"}}},
		{name: "yaml duplicate field", file: "a.yml", data: "- targets: ['a:1']\n  targets: ['b:1']\n", wantErr: "already set"},
		{name: "yaml gibberish", file: "a.yml", data: "}}{{ not: [yaml", wantErr: "yaml:"},
		{name: "yaml scalar", file: "a.yml", data: "hello\n", wantErr: "cannot unmarshal"},
		{name: "yaml mapping", file: "a.yml", data: "targets: ['a:1']\n", wantErr: "cannot unmarshal"},
		{name: "json gibberish", file: "a.json", data: "{]", wantErr: "line 1"},
		{name: "json object", file: "a.json", data: `{"targets": ["a:1"]}`, wantErr: "cannot unmarshal object"},
		{name: "json trailing data", file: "a.json", data: "[]\n[]", wantErr: "line 2"},
		{name: "json half written", file: "a.json", data: "[\n  {\"targets\": [\"a:1\"]},\n  {\"targ", wantErr: "ends early"},
		{name: "yaml half written", file: "a.yml", data: "- targets: ['a:1']\n- targets: ['b:1'", wantErr: "yaml:"},
		{name: "empty label name", file: "a.yml", data: "- targets: ['a:1']\n  labels: {'': x}\n", wantErr: "not a valid label name"},
		{name: "wrong extension", file: "a.txt", data: "[]", wantErr: "unknown extension"},
		{name: "targets not a list", file: "a.yml", data: "- targets: 'a:1'\n", wantErr: "cannot unmarshal"},
		{name: "json label number", file: "a.json", data: `[{"targets": ["a:1"], "labels": {"shard": 3}}]`, wantErr: "cannot unmarshal number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, dropped, err := ParseFile(tt.file, []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [][]string{}
			for _, g := range gs {
				got = append(got, g.Targets)
			}
			if !slices.EqualFunc(got, tt.targets, slices.Equal) {
				t.Fatalf("targets %q, want %q", got, tt.targets)
			}
			if len(dropped) != tt.dropped {
				t.Fatalf("dropped %+v, want %d", dropped, tt.dropped)
			}
		})
	}
}

// TestPrometheusFixtures reads Prometheus's own file_sd test fixtures (from
// the module this build uses) and expects what its discovery/file tests
// expect: the valid files give the same groups, targets and labels, and the
// files with a null group are refused.
func TestPrometheusFixtures(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/prometheus").Output()
	if err != nil {
		t.Fatalf("locating the prometheus module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "discovery", "file", "fixtures")
	type group struct {
		targets []string
		labels  map[string]string
	}
	valid := []group{{[]string{"localhost:9090", "example.org:443"}, map[string]string{"foo": "bar"}}, {[]string{"my.domain"}, map[string]string{}}}
	valid2 := []group{{[]string{"my.domain"}, map[string]string{}}, {[]string{"localhost:9090"}, map[string]string{"foo": "bar", "fred": "baz"}},
		{[]string{"example.org:443"}, map[string]string{"scheme": "https"}}}
	for file, want := range map[string][]group{"valid.yml": valid, "valid.json": valid, "valid3.yml": valid, "valid2.yml": valid2, "invalid_nil.yml": nil, "invalid_nil.json": nil} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(dir, file)
			gs, dropped, err := ReadFile(path)
			if want == nil {
				if err == nil {
					t.Fatalf("accepted %s, which Prometheus refuses", file)
				}
				return
			}
			if err != nil || len(dropped) > 0 {
				t.Fatalf("%s: %v %v", file, err, dropped)
			}
			if len(gs) != len(want) {
				t.Fatalf("%d groups, want %d", len(gs), len(want))
			}
			for i, g := range gs {
				labels := maps.Clone(want[i].labels)
				labels[targets.LabelFilePath] = path
				if !slices.Equal(g.Targets, want[i].targets) || !maps.Equal(g.Labels, labels) || g.Source != fmt.Sprintf("%s:%d", path, i) {
					t.Errorf("group %d: %q %v %s, want %q %v", i, g.Targets, g.Labels, g.Source, want[i].targets, labels)
				}
			}
		})
	}
}

func TestReadFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yml")
	if err := os.WriteFile(path, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseFile(f *testing.F) {
	for _, name := range []string{"groups.yml", "groups_flow.yaml", "groups.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.HasSuffix(name, ".json"))
	}
	f.Add([]byte("- targets: ['a:1']\n- null\n"), false)
	f.Add([]byte("- targets: &a ['a:1']\n- targets: *a\n"), false)
	f.Add([]byte(`[{"targets":["a:1"],"labels":{"x":"y"}}, null]`), true)
	f.Add([]byte("[]"), true)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		name := "/sd/f.yml"
		if isJSON {
			name = "/sd/f.json"
		}
		gs, dropped, err := ParseFile(name, data)
		if err != nil {
			if gs != nil || dropped != nil {
				t.Fatal("groups returned with an error")
			}
			return
		}
		sources := map[string]bool{}
		for _, g := range gs {
			if g == nil {
				t.Fatal("nil group accepted")
			}
			if sources[g.Source] {
				t.Fatalf("source %q twice", g.Source)
			}
			sources[g.Source] = true
			if err := g.Validate(); err != nil {
				t.Fatalf("accepted group does not validate: %v", err)
			}
			// Prometheus's own rule for an address it scrapes
			// (config.CheckTargetAddress, and "no address").
			for _, addr := range g.Targets {
				if addr == "" || strings.Contains(addr, "/") {
					t.Fatalf("kept target %q, which Prometheus drops", addr)
				}
			}
			if g.Labels[targets.LabelFilePath] != name {
				t.Fatalf("missing %s", targets.LabelFilePath)
			}
		}
		for _, d := range dropped {
			if d.Target != "" && !strings.Contains(d.Target, "/") && !strings.Contains(d.Reason, "label") {
				t.Fatalf("dropped %q, which Prometheus scrapes: %s", d.Target, d.Reason)
			}
		}
	})
}

func benchFile(n int, json bool) []byte {
	var b strings.Builder
	if json {
		b.WriteString("[\n")
	}
	for i := range n / 10 {
		if json {
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `  {"labels": {"team": "t%d", "env": "prod"}, "targets": [`, i)
			for j := range 10 {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, `"host-%d-%d.example.com:9100"`, i, j)
			}
			b.WriteString("]}")
			continue
		}
		fmt.Fprintf(&b, "- labels:\n    team: t%d\n    env: prod\n  targets:\n", i)
		for j := range 10 {
			fmt.Fprintf(&b, "    - host-%d-%d.example.com:9100\n", i, j)
		}
	}
	if json {
		b.WriteString("\n]\n")
	}
	return []byte(b.String())
}

func BenchmarkParseFile(b *testing.B) {
	for _, format := range []string{"yml", "json"} {
		data := benchFile(1000, format == "json")
		name := "/sd/bench." + format
		b.Run(format+"/1000_targets", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				gs, _, err := ParseFile(name, data)
				if err != nil || len(gs) != 100 {
					b.Fatal(len(gs), err)
				}
			}
		})
	}
}
