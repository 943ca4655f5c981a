// Package alertmanager holds the example Alertmanager config; its test
// checks it with the real amtool.
package alertmanager

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/realprom"
)

// TestCheckConfig runs amtool check-config on alertmanager.yml.
func TestCheckConfig(t *testing.T) {
	b := realprom.Binaries(t)
	out, err := exec.Command(b.Amtool, "check-config", "alertmanager.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("amtool check-config printed no SUCCESS:\n%s", out)
	}
}

// TestRoutes: corral's labels reach the receivers the comments promise
// (amtool config routes test, Alertmanager's own router).
func TestRoutes(t *testing.T) {
	b := realprom.Binaries(t)
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=CollectorDown", "severity=critical", "team=db", "collector=pg-1"}, "oncall-slack,db-slack"},
		{[]string{"alertname=CollectorStale", "severity=warning", "team=db", "collector=pg-1"}, "db-email"},
		{[]string{"alertname=CollectorSlow", "severity=warning", "team=shop"}, "shop-email"},
		{[]string{"alertname=CollectorDown", "severity=critical", "team=shop"}, "oncall-slack,shop-slack"},
		{[]string{"alertname=SDFileError", "severity=warning", "file=/etc/corral/sd/a.yml"}, "ops-email"},
		{[]string{"alertname=CollectorError", "severity=critical", "team=nobody"}, "oncall-slack"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, tc.labels...)
		out, err := exec.Command(b.Amtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("amtool %v: %v\n%s", args, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%v routes to %q, want %q", tc.labels, got, tc.want)
		}
	}
}
