package events

import (
	"slices"
	"testing"

	"github.com/coder/websocket"

	"github.com/corral-dev/corral/api/wire"
)

// TestLogEventsOptIn: log events reach only the subscriptions that name their
// type, matched on their other fields too, and never outside the client's scope.
func TestLogEventsOptIn(t *testing.T) {
	published := []Event{
		{Type: wire.EventLog, Collector: "pg-1", Org: "a", Job: "postgres", Data: map[string]any{"msg": "one"}},
		{Type: wire.EventHeartbeat, Collector: "pg-1", Org: "a", Job: "postgres"},
		{Type: wire.EventLog, Collector: "pg-2", Org: "a", Job: "postgres"},
		{Type: wire.EventLog, Collector: "my-1", Org: "a", Job: "mysql"},
		{Type: wire.EventLog, Collector: "b-1", Org: "b", Job: "postgres"},
		{Type: wire.EventStatusChanged, Collector: "pg-2", Org: "a", Job: "postgres"},
	}
	cases := []struct {
		name, scope string
		send        []string
		want        []string // collector:type of what arrives, in order
	}{
		{"no subscription: everything but logs", "org=*", nil,
			[]string{"pg-1:collector:heartbeat", "pg-2:collector:status-changed"}},
		{"subscription without types: no logs", "org=*", []string{`{"action":"subscribe","collectors":["pg-1","pg-2"]}`},
			[]string{"pg-1:collector:heartbeat", "pg-2:collector:status-changed"}},
		{"empty subscription: no logs", "org=*", []string{`{"action":"subscribe"}`},
			[]string{"pg-1:collector:heartbeat", "pg-2:collector:status-changed"}},
		{"logs of one collector", "org=*", []string{`{"action":"subscribe","collectors":["pg-1"],"types":["collector:log"]}`},
			[]string{"pg-1:collector:log"}},
		{"logs by job", "org=*", []string{`{"action":"subscribe","types":["collector:log"],"filter":{"job":["postgres"]}}`},
			[]string{"pg-1:collector:log", "pg-2:collector:log", "b-1:collector:log"}},
		{"logs beside everything else", "org=*", []string{
			`{"action":"subscribe"}`,
			`{"action":"subscribe","collectors":["my-1"],"types":["collector:log"]}`,
		}, []string{"pg-1:collector:heartbeat", "my-1:collector:log", "pg-2:collector:status-changed"}},
		{"logs with other types", "org=*", []string{`{"action":"subscribe","collectors":["pg-2"],"types":["collector:log","collector:status-changed"]}`},
			[]string{"pg-2:collector:log", "pg-2:collector:status-changed"}},
		{"scope still applies", "org=b", []string{`{"action":"subscribe","collectors":["pg-1","b-1"],"types":["collector:log"]}`},
			[]string{"b-1:collector:log"}},
		{"unsubscribed: no logs again", "org=*", []string{
			`{"action":"subscribe","types":["collector:log"]}`,
			`{"action":"unsubscribe"}`,
		}, []string{"pg-1:collector:heartbeat", "pg-2:collector:status-changed"}},
	}
	h := NewHub(Options{})
	s := serve(t, h)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := s.dial(t, tc.scope)
			subscribe(t, c, tc.send...)
			for _, e := range published {
				h.Publish(e)
			}
			var got []string
			for _, m := range barrier(t, c) {
				got = append(got, m.Collector+":"+m.Type)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("received %v, want %v", got, tc.want)
			}
		})
	}
}

// subscribe sends each (un)subscribe message and waits for its acknowledgement.
func subscribe(t *testing.T, c *websocket.Conn, msgs ...string) {
	t.Helper()
	for _, msg := range msgs {
		send(t, c, msg)
		if m := next(t, c); m.Type != "subscribed" && m.Type != "unsubscribed" {
			t.Fatalf("%s: %+v", msg, m)
		}
	}
}
