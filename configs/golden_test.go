package configs

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/parse")

// goldenDir is the folder Parse is told the files are in, so that resolved paths
// in the golden files do not depend on the machine.
const goldenDir = "/etc/corral"

// TestParseGolden pins what every input in testdata/parse (and the example files)
// decodes to, defaults and inherited values included, or the exact error. A change
// to a golden file is a change of behaviour: review it as one.
func TestParseGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/parse/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, "corral.example.yml", "demo.yml")
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(b, goldenDir)
			checkGolden(t, filepath.Join("testdata/parse", name+".golden"), dump(t, c, err))
		})
	}
	t.Run("Default", func(t *testing.T) {
		checkGolden(t, "testdata/parse/Default.golden", dump(t, Default(), nil))
	})
}

func dump(t *testing.T, c *Config, err error) []byte {
	t.Helper()
	if err != nil {
		return []byte("error: " + err.Error() + "\n")
	}
	var buf bytes.Buffer
	buf.WriteString("dir: " + c.Dir + "\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./configs -run TestParseGolden -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
