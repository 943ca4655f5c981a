// Package events fans corral's real-time events out to WebSocket clients.
//
// A [Hub] keeps one bounded queue and one writer goroutine per client. [Hub.Publish]
// checks each client's scope and subscriptions, marshals the event once, and offers
// it to every matching queue without blocking: a client whose queue is full misses
// the event, its queued events are dropped too, and once its writer catches up it
// gets one {"type":"resync",…} message telling it to reload state from the REST API.
// A client that does not take a write within the write timeout is closed. No lock is
// held while writing to a socket, so a slow client never holds up the publisher or
// the other clients.
//
// # Protocol
//
// The server sends events as JSON text messages: {"type","collector","time","data"},
// a [wire.Event]. Besides events it sends
//
//	{"type":"subscribed","time":…,"data":{"id":N,"subscriptions":M}}
//	{"type":"unsubscribed","time":…,"data":{"removed":K,"subscriptions":M}}
//	{"type":"error","time":…,"data":{"error":"…"}}                  the message was refused; the connection stays
//	{"type":"resync","reason":"…","time":…,"data":{"dropped":N}}    events were lost: reload from the REST API
//
// A client sends
//
//	{"action":"subscribe","collectors":[ids],"types":[…],"filter":{"status":[…],"job":[…],"labels":{k:v}}}
//	{"action":"unsubscribe", …}
//
// Within one subscription the fields are ANDed and an absent or empty field matches
// everything; a client receives an event when any of its subscriptions matches it,
// and every event in its scope while it has none (the state of a new connection).
//
// Log events ([wire.EventLog], one per agent log record) are opt-in: they come only
// through a subscription whose "types" names them, such as
// {"action":"subscribe","collectors":["pg-1"],"types":["collector:log"]}. A client
// without subscriptions, or whose subscriptions have no "types", is not sent them,
// so a dashboard that wants status changes is not flooded with log lines.
// "status" and "job" match [Event.Status] and [Event.Job], or the "status" and "job"
// labels when those fields are empty; "labels" match [Event.Labels] exactly, with ""
// matching an absent label as in Prometheus.
//
// Unsubscribe forms:
//
//	{"action":"unsubscribe"}                       drop every subscription: back to everything in scope
//	{"action":"unsubscribe","id":N}                drop subscription N
//	{"action":"unsubscribe","collectors":[ids]}    take the ids out of every subscription that lists
//	                                               collectors; one left with none is dropped
//	{"action":"unsubscribe", types/filter/…}       drop the subscriptions equal to this body
//
// A targeted unsubscribe never widens what a client receives: removing its last
// subscription that way leaves it receiving nothing until it subscribes again.
//
// Whatever a client subscribes to, it never receives an event of a collector outside
// its [Scope], checked per event. The scope is the one of the request that opened
// the connection: a changed role applies when the client reconnects.
package events

import (
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/fleet"
)

// optIn reports whether events of type t reach only the subscriptions that
// name t in their types.
func optIn(t string) bool { return t == wire.EventLog }

var knownTypes = []string{wire.EventConnected, wire.EventDisconnected, wire.EventHeartbeat, wire.EventMetrics, wire.EventError,
	wire.EventStatusChanged, wire.EventRestarted, wire.EventStopped, wire.EventResumed, wire.EventRegistered, wire.EventUnregistered, wire.EventCommandUpdate, wire.EventLog,
	wire.EventAlertFiring, wire.EventAlertResolved}

// Event is one real-time event. Clients are sent its Type, Collector, Time and
// Data as a [wire.Event]; Org and Team scope it, and Status, Job and Labels are
// what subscription filters match.
type Event struct {
	Type      string
	Collector string
	Time      time.Time // now when zero
	Data      any       // e.g. {"old":"online","new":"offline","reason":"…"}

	Org    string
	Team   string
	Status fleet.Status // the collector's status; else Labels["status"]
	Job    string       // the collector's job; else Labels["job"]
	Labels map[string]string
}

// message is e as clients are sent it.
func (e *Event) message() wire.Event[any] {
	return wire.Event[any]{Type: e.Type, Collector: e.Collector, Time: e.Time, Data: e.Data}
}

func (e *Event) status() string {
	if e.Status != "" {
		return string(e.Status)
	}
	return e.Labels["status"]
}

func (e *Event) job() string {
	if e.Job != "" {
		return e.Job
	}
	return e.Labels["job"]
}

// Scope decides which collectors a client may see; *auth.Principal satisfies it.
// CanRead is called for every event and every client, from Publish's goroutine, so
// it must be cheap and safe for concurrent use.
type Scope interface {
	CanRead(org, team string) bool
}
