package filesd

import (
	"errors"
	"fmt"
	"maps"
	"os"
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
			gs, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
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
		groups  int    // when valid
		wantErr string // substring; "" for valid
	}{
		{name: "yaml empty list", file: "a.yml", data: "[]\n", groups: 0},
		{name: "json empty list", file: "a.json", data: " [ ] ", groups: 0},
		{name: "yaml with BOM", file: "a.yml", data: "\ufeff- targets: ['a:1']\n", groups: 1},
		{name: "uppercase extension", file: "a.JSON", data: `[{"targets":["a:1"]}]`, groups: 1},
		{name: "yaml aliases", file: "a.yaml", data: "- targets: &t ['a:1']\n  labels: &l {x: y}\n- targets: *t\n  labels: *l\n", groups: 2},
		{name: "yaml number label value", file: "a.yml", data: "- targets: ['a:1']\n  labels: {shard: 3}\n", groups: 1},

		{name: "empty file", file: "a.yml", data: "", wantErr: "file is empty"},
		{name: "whitespace only", file: "a.json", data: " \n\t", wantErr: "file is empty"},
		{name: "comments only", file: "a.yml", data: "# nothing yet\n", wantErr: "file is empty"},
		{name: "yaml null document", file: "a.yml", data: "~\n", wantErr: "file is empty"},
		{name: "yaml null item", file: "a.yml", data: "- targets: ['a:1']\n- null\n", wantErr: "group 1 (line 2): null"},
		{name: "yaml empty item", file: "a.yml", data: "- targets: ['a:1']\n-\n", wantErr: "group 1 (line 2): null"},
		{name: "json null item", file: "a.json", data: "[\n{\"targets\": [\"a:1\"]},\nnull]", wantErr: "group 1 (line 3): null"},
		{name: "yaml unknown field", file: "a.yml", data: "- targets: ['a:1']\n  lables: {a: b}\n", wantErr: `group 0 (line 1): line 2: unknown field "lables"`},
		{name: "json unknown field", file: "a.json", data: `[{"targets": ["a:1"], "lables": {}}]`, wantErr: `unknown field "lables"`},
		{name: "yaml missing targets", file: "a.yml", data: "- labels: {a: b}\n", wantErr: "no targets list"},
		{name: "yaml null targets", file: "a.yml", data: "- targets:\n", wantErr: "no targets list"},
		{name: "json missing targets", file: "a.json", data: `[{"labels": {}}]`, wantErr: "no targets list"},
		{name: "yaml null target", file: "a.yml", data: "- targets: ['a:1', ~]\n", wantErr: "targets[1] is null"},
		{name: "json null target", file: "a.json", data: `[{"targets": ["a:1", null]}]`, wantErr: "targets[1] is null"},
		{name: "yaml null label value", file: "a.yml", data: "- targets: ['a:1']\n  labels: {team: }\n", wantErr: "label team is null"},
		{name: "json null label value", file: "a.json", data: `[{"targets": ["a:1"], "labels": {"team": null}}]`, wantErr: "label team is null"},
		{name: "yaml duplicate field", file: "a.yml", data: "- targets: ['a:1']\n  targets: ['b:1']\n", wantErr: "set twice"},
		{name: "yaml gibberish", file: "a.yml", data: "}}{{ not: [yaml", wantErr: "yaml:"},
		{name: "yaml scalar", file: "a.yml", data: "hello\n", wantErr: "want a list of target groups"},
		{name: "yaml mapping", file: "a.yml", data: "targets: ['a:1']\n", wantErr: "want a list of target groups"},
		{name: "json gibberish", file: "a.json", data: "{]", wantErr: "line 1"},
		{name: "json object", file: "a.json", data: `{"targets": ["a:1"]}`, wantErr: "want a JSON array"},
		{name: "json trailing data", file: "a.json", data: "[]\n[]", wantErr: "line 2: data after the array"},
		{name: "json half written", file: "a.json", data: "[\n  {\"targets\": [\"a:1\"]},\n  {\"targ", wantErr: "ends early"},
		{name: "yaml half written", file: "a.yml", data: "- targets: ['a:1']\n- targets: ['b:1'", wantErr: "yaml:"},
		{name: "two yaml documents", file: "a.yml", data: "- targets: ['a:1']\n---\n- targets: ['b:1']\n", wantErr: "second YAML document"},
		{name: "target with scheme", file: "a.yml", data: "- targets: ['http://a:1']\n", wantErr: `group 0 (line 1): targets[0]: invalid target address "http://a:1": want host:port without a scheme`},
		{name: "target with path", file: "a.json", data: `[{"targets": ["a:1/metrics"]}]`, wantErr: "without a path"},
		{name: "target without port", file: "a.yml", data: "- targets: [a]\n", wantErr: "missing port"},
		{name: "invalid label name", file: "a.yml", data: "- targets: ['a:1']\n- targets: ['b:1']\n  labels: {team-name: x}\n", wantErr: `group 1 (line 2): label name "team-name" is not valid`},
		{name: "wrong extension", file: "a.txt", data: "[]", wantErr: "unknown extension"},
		{name: "targets not a list", file: "a.yml", data: "- targets: 'a:1'\n", wantErr: "want a list"},
		{name: "json label number", file: "a.json", data: `[{"targets": ["a:1"], "labels": {"shard": 3}}]`, wantErr: "cannot unmarshal number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, err := ParseFile(tt.file, []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(gs) != tt.groups {
				t.Fatalf("%d groups, want %d", len(gs), tt.groups)
			}
		})
	}
	if _, err := ParseFile("a.yml", nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v, want ErrEmpty", err)
	}
}

func TestReadFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yml")
	if err := os.WriteFile(path, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "larger than") {
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
		gs, err := ParseFile(name, data)
		if err != nil {
			if gs != nil {
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
			for _, addr := range g.Targets {
				if err := targets.CheckAddress(addr); err != nil {
					t.Fatalf("accepted target %q: %v", addr, err)
				}
			}
			if g.Labels[targets.LabelFilePath] != name {
				t.Fatalf("missing %s", targets.LabelFilePath)
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
				gs, err := ParseFile(name, data)
				if err != nil || len(gs) != 100 {
					b.Fatal(len(gs), err)
				}
			}
		})
	}
}
