package configs

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestLogsSection(t *testing.T) {
	const jobs = "scrape_configs: [{job_name: a, registry: true}]\n"
	for _, tc := range []struct {
		name, yaml string
		want       LogsConfig // Pull compared through Enabled
		err        string
	}{
		{"defaults", "", LogsConfig{RetentionDays: 7, MaxRowsPerCollector: 10000}, ""},
		{"set", "logs: {pull: true, pull_interval: 30s, retention_days: 30, max_rows_per_collector: 500}",
			LogsConfig{PullInterval: model.Duration(30 * time.Second), RetentionDays: 30, MaxRowsPerCollector: 500}, ""},
		{"off", "logs: {pull: false}", LogsConfig{Pull: new(bool), RetentionDays: 7, MaxRowsPerCollector: 10000}, ""},
		{"unknown field", "logs: {retention: 7}", LogsConfig{}, "retention"},
		{"short interval", "logs: {pull_interval: 100ms}", LogsConfig{}, "logs.pull_interval"},
		{"negative days", "logs: {retention_days: -1}", LogsConfig{}, "logs.retention_days"},
		{"ten years", "logs: {retention_days: 4000}", LogsConfig{}, "logs.retention_days"},
		{"negative rows", "logs: {max_rows_per_collector: -5}", LogsConfig{}, "logs.max_rows_per_collector"},
		{"not a number", "logs: {max_rows_per_collector: many}", LogsConfig{}, "many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml+"\n"+jobs), t.TempDir())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.Logs.Equal(tc.want) || c.Logs.Pull == nil {
				t.Errorf("logs %+v (pull %v), want %+v (pull %v)", c.Logs, c.Logs.Enabled(), tc.want, tc.want.Enabled())
			}
		})
	}
	if d := Default().Logs; !d.Enabled() || d.Retention() != 7*24*time.Hour || d.MaxRowsPerCollector != 10000 {
		t.Errorf("default logs %+v", d)
	}
}
