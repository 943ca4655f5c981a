package main

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestEveryCommandRuns: each command has a Run method that asks only for
// what main binds, so none is left unwired.
func TestEveryCommandRuns(t *testing.T) {
	k, err := kong.New(&cli{}, options()...)
	if err != nil {
		t.Fatal(err)
	}
	bound := map[reflect.Type]bool{
		reflect.TypeFor[context.Context](): true, reflect.TypeFor[*globals](): true, reflect.TypeFor[*kong.Context](): true,
	}
	n := 0
	var walk func(node *kong.Node)
	walk = func(node *kong.Node) {
		leaf := true
		for _, c := range node.Children {
			if c.Type == kong.CommandNode {
				leaf = false
				walk(c)
			}
		}
		if !leaf || node.Type != kong.CommandNode {
			return
		}
		n++
		run := node.Target.Addr().MethodByName("Run")
		if !run.IsValid() {
			t.Errorf("%s has no Run method", node.FullPath())
			return
		}
		for i := range run.Type().NumIn() {
			if in := run.Type().In(i); !bound[in] {
				t.Errorf("%s: Run takes a %s, which main does not bind", node.FullPath(), in)
			}
		}
	}
	walk(k.Model.Node)
	if n < 40 {
		t.Errorf("%d commands; the walk missed some", n)
	}
}

// TestExitCodes: what main does with bad flags, before any request.
func TestExitCodes(t *testing.T) {
	none := "--config=" + t.TempDir() + "/none.json"
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"stop"}, 2, `expected "<id>"`},
		{[]string{"stop", "x", "--wait", "soon"}, 2, "--wait must be one of"},
		{[]string{"backfill", "x", "--from", "-2h", "--to", "now"}, 2, `--from="-2h"`},
		{[]string{none, "stop", "x"}, 2, "not logged in"},
		{[]string{none, "bulk", "stop"}, 2, "--ids or --selector"},
		{[]string{none, "bulk", "stop", "--selector", "{}", "--status", "sleepy"}, 2, "--status must be one of"},
		{[]string{none, "audit", "--since", "yesterday"}, 2, "--since"},
		{[]string{none, "keys", "rotate", "--force"}, 2, "--force: goes with --complete"},
		{[]string{none, "register", "x", "--url", "x:1"}, 2, "--url"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := corralctl(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
		})
	}
	// --help explains the times it takes.
	if out, _, code := corralctl(t, "backfill", "--help"); code != 0 || !strings.Contains(out, "--from=TIME") || !strings.Contains(out, "relative to now:") {
		t.Errorf("backfill --help: exit %d:\n%s", code, out)
	}
}
