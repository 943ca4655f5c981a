package control

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	agentctl "github.com/corral-dev/corral/exporter/control"
)

// FuzzActionParams: whatever a client sends as an action's body, checking it
// never panics, a refusal is an InvalidParams naming what is wrong, and what is
// accepted makes a request the agent's own parser accepts.
func FuzzActionParams(f *testing.F) {
	for _, s := range []string{`{}`, `{"reason":"x","estimated_duration_minutes":30}`, `{"from":"2025-01-01T00:00:00Z","to":"2025-01-02T00:00:00Z"}`,
		`{"from":"0001-01-01T00:00:00Z","to":"0001-01-02T00:00:00Z"}`,
		`{"collection_interval":"30s","query_limit":10,"tags":["a"],"group":"g","rate":3}`, `{"tags":["a","a"]}`, `{"group":""}`,
		`{"password":"s3cret","nested":{"api_key":"k"}}`, `[]`, `null`, `{"reason":1}`, `{"x":}`} {
		for i := range Actions() {
			f.Add(i, s)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, n int, params string) {
		actions := Actions()
		action := actions[((n%len(actions))+len(actions))%len(actions)]
		for _, kind := range []string{"", "postgres", "synthetic"} {
			p, err := makePlan(action, json.RawMessage(params), kind, now)
			if err != nil {
				var inv *InvalidParams
				if !errors.As(err, &inv) {
					t.Fatalf("%s %q: %T %v, want InvalidParams", action, params, err, err)
				}
				continue
			}
			if p.serverOnly {
				if p.desired == nil {
					t.Fatalf("%s %q: a server-side action that changes nothing", action, params)
				}
				continue
			}
			body, err := json.Marshal(agentctl.Request{ID: "fuzz-1", Command: p.command, Args: p.args})
			if err != nil {
				t.Fatalf("%s %q: encode: %v", action, params, err)
			}
			if _, err := agentctl.ParseRequest(body); err != nil {
				t.Fatalf("%s %q: accepted, but the agent would refuse the request: %v\n%s", action, params, err, body)
			}
			if !json.Valid(p.params) {
				t.Fatalf("%s %q: audit params are not JSON: %s", action, params, p.params)
			}
		}
	})
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		`{"password":"x","limit":3}`:                `{"limit":3,"password":"xxxxx"}`,
		`{"db":{"api_key":"k","host":"h"}}`:         `{"db":{"api_key":"xxxxx","host":"h"}}`,
		`{"metrics_token_sha256":"ab","reason":""}`: `{"metrics_token_sha256":"ab","reason":""}`,
		`not json`: `not json`,
		`{"dsn":"postgres://u:p@h/db","ssh_key":"k","key":"k"}`: `{"dsn":"xxxxx","key":"xxxxx","ssh_key":"xxxxx"}`,
		`{"url":"postgres://u:p@h/db?sslmode=disable"}`:         `{"url":"postgres://u:xxxxx@h/db?sslmode=disable"}`,
		`{"url":"http://h/metrics","monkey":"m"}`:               `{"url":"http://h/metrics","monkey":"m"}`,
		`{"m":"u:p@tcp(h:3306)/db","n":"u:p@/db"}`:              `{"m":"u:xxxxx@tcp(h:3306)/db","n":"u:xxxxx@/db"}`,
		`{"c":"host=h password='p q' user=u"}`:                  `{"c":"host=h password=xxxxx user=u"}`,
		`{"list":[{"token":"t"},"user=u password=p"]}`:          `{"list":[{"token":"xxxxx"},"user=u password=xxxxx"]}`,
		`{"c":"a user:name@example.com address"}`:               `{"c":"a user:name@example.com address"}`,
	} {
		if got := string(Redact(json.RawMessage(in))); got != want && !(want == in && got == in) {
			t.Errorf("Redact(%s) = %s, want %s", in, got, want)
		}
	}
}
