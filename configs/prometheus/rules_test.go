// Package prometheus holds the shipped Prometheus rules; its test checks and
// unit-tests them with the real promtool.
package prometheus

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/internal/realprom"
)

func TestCheckRules(t *testing.T) {
	b := realprom.Binaries(t)
	out, err := exec.Command(b.Promtool, "check", "rules", "corral.rules.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules printed no SUCCESS:\n%s", out)
	}
}

func TestRulesUnitTests(t *testing.T) {
	b := realprom.Binaries(t)
	out, err := exec.Command(b.Promtool, "test", "rules", "corral.rules.test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules printed no SUCCESS:\n%s", out)
	}
}

// TestSameAlerts: the shipped rules have every alert of the built-in
// alerter, each with a runbook that exists.
func TestSameAlerts(t *testing.T) {
	rules, err := os.ReadFile("corral.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range configs.AlertNames {
		if !strings.Contains(string(rules), "- alert: "+name+"\n") {
			t.Errorf("corral.rules.yml has no alert %s", name)
		}
		if _, err := os.Stat("../../docs/runbooks/" + name + ".md"); err != nil {
			t.Errorf("runbook of %s: %v", name, err)
		}
	}
}
