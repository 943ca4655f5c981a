package filesd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		files    []string
		interval time.Duration
		wantErr  string
	}{
		{"relative and absolute", Config{Files: []string{"sd/*.yml", "/etc/corral/x.json", "./a/../b.YAML"}}, []string{"/base/sd/*.yml", "/etc/corral/x.json", "/base/b.YAML"}, DefaultRefreshInterval, ""},
		{"interval kept", Config{Files: []string{"a.yml"}, RefreshInterval: time.Second}, []string{"/base/a.yml"}, time.Second, ""},
		{"no files", Config{}, nil, 0, "files: at least one"},
		{"glob in a directory", Config{Files: []string{"a.yml", "sd/*/x.yml"}}, nil, 0, `files[1] "sd/*/x.yml": a glob is allowed only in the file name`},
		{"wrong extension", Config{Files: []string{"sd/*.txt"}}, nil, 0, `files[0] "sd/*.txt": must end in .yml, .yaml or .json`},
		{"glob as extension", Config{Files: []string{"sd/*"}}, nil, 0, "must end in"},
		{"bad glob", Config{Files: []string{"sd/[a.yml"}}, nil, 0, "bad glob"},
		{"empty path", Config{Files: []string{""}}, nil, 0, "files[0] \"\": empty path"},
		{"negative interval", Config{Files: []string{"a.yml"}, RefreshInterval: -time.Second}, nil, 0, "refresh_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("/base")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tt.cfg.Files, tt.files) || tt.cfg.RefreshInterval != tt.interval {
				t.Errorf("got %v %v, want %v %v", tt.cfg.Files, tt.cfg.RefreshInterval, tt.files, tt.interval)
			}
		})
	}
}

func TestConfigUnmarshalYAML(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		interval time.Duration
		wantErr  string
	}{
		{"default interval", "- files: [a.yml]\n", DefaultRefreshInterval, ""},
		{"go duration", "- files: [a.yml]\n  refresh_interval: 30s\n", 30 * time.Second, ""},
		{"prometheus duration", "- files: [a.yml]\n  refresh_interval: 1d\n", 24 * time.Hour, ""},
		{"unknown field", "- files: [a.yml]\n  refresh: 1m\n", 0, "line 2: field refresh not found"},
		{"bad duration", "- files: [a.yml]\n  refresh_interval: soon\n", 0, "refresh_interval"},
		{"files not a list", "- files: a.yml\n", 0, "files:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []Config
			dec := yaml.NewDecoder(strings.NewReader(tt.yaml))
			dec.KnownFields(true)
			err := dec.Decode(&cfgs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfgs) != 1 || cfgs[0].RefreshInterval != tt.interval || !slices.Equal(cfgs[0].Files, []string{"a.yml"}) {
				t.Errorf("got %+v", cfgs)
			}
		})
	}
}
