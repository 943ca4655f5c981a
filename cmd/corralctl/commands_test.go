package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/exporter"
	"github.com/corral-dev/corral/exporter/synthetic"
)

func TestCheckSD(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(good, []byte("- targets: ['a:1', 'b:2']\n"), 0o644)
	os.WriteFile(bad, []byte("- targets: ['a:1']\n- null\n"), 0o644)
	var out bytes.Buffer
	if err := checkSD([]string{good}, &out); err != nil || !strings.Contains(out.String(), "OK, 1 groups, 2 targets") {
		t.Errorf("good: %v %s", err, out.String())
	}
	out.Reset()
	if err := checkSD([]string{good, bad}, &out); !errors.Is(err, errNotOK) || !strings.Contains(out.String(), "bad.yml: FAILED") {
		t.Errorf("bad: %v %s", err, out.String())
	}
}

func TestCheckConfig(t *testing.T) {
	var out bytes.Buffer
	if err := checkConfig("../../configs/corral.example.yml", &out); err != nil {
		t.Errorf("%v %s", err, out.String())
	}
	bad := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(bad, []byte("global: {scrape_intervall: 1s}\n"), 0o644)
	out.Reset()
	if err := checkConfig(bad, &out); !errors.Is(err, errNotOK) || !strings.Contains(out.String(), "scrape_intervall") {
		t.Errorf("%v %s", err, out.String())
	}
}

func TestCheckMetricsAgainstARealAgent(t *testing.T) {
	a, err := exporter.New(synthetic.New(synthetic.Config{}, 1), exporter.Options{Name: "x", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(a.Handler())
	defer agent.Close()
	var out bytes.Buffer
	if err := checkMetrics(context.Background(), agent.URL+"/metrics", "", &out); err != nil {
		t.Errorf("a corral agent fails the contract: %v\n%s", err, out.String())
	}
	// A plain exporter without the contract is told what is missing.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# TYPE up gauge\nup 1\n"))
	}))
	defer other.Close()
	out.Reset()
	if err := checkMetrics(context.Background(), other.URL, "", &out); !errors.Is(err, errNotOK) || !strings.Contains(out.String(), "corral_collector_state is missing") {
		t.Errorf("%v %s", err, out.String())
	}
}
