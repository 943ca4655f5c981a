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
		{"localhost", `missing port; want host:port, e.g. "localhost:9100"`},
		{"localhost:", "port \"\" is not a number"},
		{"localhost:http", `port "http" is not a number`},
		{"localhost:0", "port \"0\""},
		{"localhost:70000", "port \"70000\""},
		{"localhost:+80", "port \"+80\""},
		{":9100", "missing host"},
		{"a b:80", "not allowed"},
		{"a:80?x=1", "not allowed"},
		{"::1:9100", "IPv6 in brackets"},
		{"[nothex]:9100", "not an IPv6 address"},
		{"höst:80", "may contain only"},
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
		{"bad label name", Group{Targets: []string{"a:1"}, Labels: map[string]string{"team-name": "x"}}, `label name "team-name" is not valid`},
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
	if err := (StaticConfig{Targets: []string{"x"}}).Validate(); err == nil {
		t.Error("StaticConfig.Validate accepted a target without port")
	}
}
