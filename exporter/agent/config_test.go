package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter/control"
)

func TestExampleConfigsLoad(t *testing.T) {
	t.Setenv("CORRAL_PG_PASSWORD", "example")
	t.Setenv("CORRAL_MYSQL_PASSWORD", "example")
	files, _ := filepath.Glob("../../configs/agent.*.example.yml")
	if len(files) < 3 {
		t.Fatalf("want an example per kind, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := LoadConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(cfg.Summary(), cfg.Collector.Name) {
				t.Errorf("summary lacks the name: %s", cfg.Summary())
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("collector: {name: a, kind: synthetic}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Collector.Interval != time.Minute || cfg.Collector.Timeout != time.Minute || cfg.Listen.Address != ":9470" ||
		cfg.Log.Level != "info" || cfg.Restart != "respawn" || cfg.Collector.Synthetic.Rate != 1 ||
		cfg.Collector.ExpectedItems != 60 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"unknown top-level field", "collector: {name: a, kind: synthetic}\nlisten_address: x\n", "listen_address"},
		{"unknown nested field", "collector: {name: a, kind: synthetic, intervall: 5s}\n", "intervall"},
		{"no name", "collector: {kind: synthetic}\n", "collector.name"},
		{"no kind", "collector: {name: a}\n", "collector.kind"},
		{"unknown kind", "collector: {name: a, kind: oracle}\n", "oracle"},
		{"interval too short", "collector: {name: a, kind: synthetic, interval: 10ms}\n", "collector.interval"},
		{"bad duration", "collector: {name: a, kind: synthetic, interval: soon}\n", "soon"},
		{"jitter over interval", "collector: {name: a, kind: synthetic, interval: 5s, jitter: 10s}\n", "collector.jitter"},
		{"two sections", "collector: {name: a, kind: synthetic, synthetic: {}, postgres: {}}\n", "more than one"},
		{"section of another kind", "collector: {name: a, kind: synthetic, postgres: {}}\n", "another kind"},
		{"bad synthetic value", "collector: {name: a, kind: synthetic, synthetic: {missing_ratio: 3}}\n", "collector.synthetic.missing_ratio"},
		{"bad schedule", "collector: {name: a, kind: synthetic, active: {from: '25:00', to: '10:00'}}\n", "collector.active.from"},
		{"bad zone", "collector: {name: a, kind: synthetic, active: {timezone: Mars/Base, from: '09:00', to: '10:00'}}\n", "collector.active.timezone"},
		{"half tls", "collector: {name: a, kind: synthetic}\nlisten: {tls: {cert_file: x.crt}}\n", "listen.tls"},
		{"missing token file", "collector: {name: a, kind: synthetic}\nlisten: {metrics_token_file: nope}\n", "listen.metrics_token_file"},
		{"unset token env", "collector: {name: a, kind: synthetic}\nlisten: {metrics_token_env: CORRAL_TEST_UNSET_VAR}\n", "CORRAL_TEST_UNSET_VAR"},
		{"bad token hash", "collector: {name: a, kind: synthetic}\nlisten: {metrics_token_sha256: abc}\n", "listen.metrics_token_sha256"},
		{"bad key", "collector: {name: a, kind: synthetic}\ncontrol: {trusted_keys: [nope]}\n", "control.trusted_keys[0]"},
		{"bad log level", "collector: {name: a, kind: synthetic}\nlog: {level: loud}\n", "log.level"},
		{"bad restart", "collector: {name: a, kind: synthetic}\nrestart: reboot\n", "restart"},
		{"two documents", "collector: {name: a, kind: synthetic}\n---\ncollector: {name: b}\n", "more than one YAML document"},
		{"bad postgres limit", "collector: {name: a, kind: postgres, postgres: {dsn: 'postgres://x@127.0.0.1/db', limit: -1}}\n", "collector.postgres.limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.yaml), dir)
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
		})
	}
}

func TestSecretsAreHashedAndNeverShown(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("very-secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := control.GenerateKey()
	y := "collector: {name: a, kind: synthetic}\nlisten: {metrics_token_file: token}\ncontrol: {trusted_keys: ['" + control.FormatPublicKey(pub) + "']}\n"
	cfg, err := ParseConfig([]byte(y), dir)
	if err != nil {
		t.Fatal(err)
	}
	// sha256("very-secret-token")
	if cfg.metricsTokenSHA256 == "" || strings.Contains(cfg.Summary(), "very-secret-token") {
		t.Errorf("token handling: hash %q, summary %s", cfg.metricsTokenSHA256, cfg.Summary())
	}
	if !strings.Contains(cfg.Summary(), control.KeyID(pub)) {
		t.Errorf("summary does not list the trusted key: %s", cfg.Summary())
	}
	t.Setenv("CORRAL_TEST_TOKEN", "env-secret")
	cfg, err = ParseConfig([]byte("collector: {name: a, kind: synthetic}\nlisten: {metrics_token_env: CORRAL_TEST_TOKEN}\n"), dir)
	if err != nil || cfg.metricsTokenSHA256 == "" {
		t.Fatalf("env token: %v", err)
	}
}

func TestRelativePathsResolveFromConfigFolder(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := control.GenerateKey()
	if err := os.WriteFile(filepath.Join(dir, "corral.pub"), []byte(control.FormatPublicKey(pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(path, []byte("collector: {name: a, kind: synthetic}\ncontrol: {trusted_key_files: [corral.pub]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.trustedKeys) != 1 || cfg.StateFile != filepath.Join(dir, "agent.state.json") {
		t.Errorf("keys %d, state file %s", len(cfg.trustedKeys), cfg.StateFile)
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"collector: {name: a, kind: synthetic}\n",
		"collector: {name: a, kind: synthetic, active: {from: '22:00', to: '02:00', days: [mon]}}\n",
		"collector: {name: a, kind: postgres, postgres: {dsn: 'postgres://u@h/db', limit: 5}}\n",
		"collector: {name: a, kind: mysql, mysql: {dsn: 'u@tcp(h:3306)/'}}\nlog: {level: debug}\n",
		"listen: [1, 2]\n", "{{{", "collector: !!binary aGk=\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, dir)
		if err == nil && (cfg.Collector.Name == "" || cfg.Collector.Interval < time.Second) {
			t.Fatalf("accepted an invalid config: %+v", cfg.Collector)
		}
	})
}

func TestParseMixAndAssign(t *testing.T) {
	w, err := ParseMix("online=5,slow=1,stale=1,incomplete=1,error=1,waiting=1,paused=1")
	if err != nil {
		t.Fatal(err)
	}
	got := assign(1000, w, 7)
	counts := map[string]int{}
	for _, b := range got {
		counts[b]++
	}
	if len(got) != 1000 || counts["online"] != 454 || counts["paused"] != 91 {
		t.Errorf("counts %v", counts)
	}
	for _, bad := range []string{"online=x", "frozen=1", "online=0", "online=-1"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}
