package targets

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string // "" for valid
	}{
		{"localhost:9100", ""},
		{"10.0.0.1:80", ""},
		{"db-1.corral.internal:65535", ""},
		{"[::1]:9100", ""},
		{"[fe80::1%eth0]:9100", ""},
		{"", "empty"},
		{"http://localhost:9100", `without a scheme: write "localhost:9100" and set the job's scheme`},
		{"https://a:1/metrics", `set the job's scheme (or the __scheme__ label) to "https"`},
		{"localhost:9100/metrics", `without a path: write "localhost:9100"`},
		// Prometheus 3 refuses only an empty address and one with a "/";
		// everything else is scraped as written (the scheme's default port
		// when there is none), and a bad one fails at the scrape.
		{"localhost", ""},
		{"my.domain", ""},
		{"localhost:http", ""},
		{"a b:80", ""},
		{"höst:80", ""},
		{"localhost:9100?x=1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckAddress(tt.addr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckAddress(%q) = %v, want nil", tt.addr, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckAddress(%q) = %v, want error containing %q", tt.addr, err, tt.wantErr)
			}
			if !errors.Is(err, ErrAddress) {
				t.Errorf("error does not wrap ErrAddress: %v", err)
			}
		})
	}
}

func TestValidLabelName(t *testing.T) {
	for name, want := range map[string]bool{
		"job": true, "_x": true, "__meta_filepath": true, "A1_b": true,
		"": false, "1a": false, "a-b": false, "a.b": false, "é": false, "a b": false,
	} {
		if got := ValidLabelName(name); got != want {
			t.Errorf("ValidLabelName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestGroupValidate(t *testing.T) {
	tests := []struct {
		name    string
		g       Group
		wantErr string
	}{
		{"valid", Group{Targets: []string{"a:1"}, Labels: map[string]string{"team": "x", "__scrape_interval__": "5s"}}, ""},
		{"no targets", Group{Targets: []string{}}, ""},
		{"UTF-8 label name", Group{Targets: []string{"a:1"}, Labels: map[string]string{"team-name": "x", "service.name": "y"}}, ""},
		{"empty label name", Group{Targets: []string{"a:1"}, Labels: map[string]string{"": "x"}}, `label name "" is not valid`},
		{"bad label value", Group{Targets: []string{"a:1"}, Labels: map[string]string{"team": "\xff"}}, "not valid UTF-8"},
		{"bad target", Group{Targets: []string{"a:1", "http://b:2"}}, "targets[1]: invalid target address \"http://b:2\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	if err := (StaticConfig{Targets: []string{"x/metrics"}}).Validate(); err == nil {
		t.Error("StaticConfig.Validate accepted a target with a path")
	}
}
