package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/corral-dev/corral/api/wire"
)

// request is a message from a client.
type request struct {
	Action     string   `json:"action"`
	ID         int64    `json:"id,omitempty"`
	Collectors []string `json:"collectors,omitempty"`
	Types      []string `json:"types,omitempty"`
	Filter     *filter  `json:"filter,omitempty"`
}

type filter struct {
	Status []string          `json:"status,omitempty"`
	Job    []string          `json:"job,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

const requestShape = `{"action":"subscribe"|"unsubscribe","id":N,"collectors":[…],"types":[…],"filter":{"status":[…],"job":[…],"labels":{…}}}`

// parseRequest decodes and checks one client message strictly.
func parseRequest(b []byte) (request, error) {
	var r request
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("invalid message: %v; want %s", err, requestShape)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, fmt.Errorf("invalid message: one JSON object per message, want %s", requestShape)
	}
	switch r.Action {
	case "subscribe", "unsubscribe":
	case "":
		return r, fmt.Errorf(`missing "action": want "subscribe" or "unsubscribe"`)
	default:
		return r, fmt.Errorf(`unknown action %q: want "subscribe" or "unsubscribe"`, r.Action)
	}
	if r.ID != 0 && (r.Action == "subscribe" || len(r.Collectors) > 0 || len(r.Types) > 0 || r.Filter != nil) {
		return r, fmt.Errorf(`"id" is only for {"action":"unsubscribe","id":N}, alone`)
	}
	if slices.Contains(r.Collectors, "") {
		return r, fmt.Errorf(`"collectors" has an empty id`)
	}
	if slices.Contains(r.Types, "") {
		return r, fmt.Errorf(`"types" has an empty type`)
	}
	if f := r.Filter; f != nil && (slices.Contains(f.Status, "") || slices.Contains(f.Job, "")) {
		return r, fmt.Errorf(`"filter" has an empty status or job`)
	}
	return r, nil
}

// subscription is one compiled subscribe request. It is immutable once built.
type subscription struct {
	id         int64
	key        string // canonical form of the request: equal keys, equal subscriptions
	collectors []string
	set        map[string]struct{} // of collectors; nil matches any
	types      []string            // nil matches any; small lists: a scan beats a map
	status     []string
	job        []string
	labels     map[string]string
}

func newSubscription(id int64, r request) *subscription {
	s := &subscription{id: id, collectors: sorted(r.Collectors), types: sorted(r.Types)}
	if r.Filter != nil {
		s.status, s.job = sorted(r.Filter.Status), sorted(r.Filter.Job)
		if len(r.Filter.Labels) > 0 {
			s.labels = maps.Clone(r.Filter.Labels)
		}
	}
	if len(s.collectors) > 0 {
		s.set = make(map[string]struct{}, len(s.collectors))
		for _, id := range s.collectors {
			s.set[id] = struct{}{}
		}
	}
	s.key = s.canonical()
	return s
}

// canonical is the subscription's fields in a stable form.
func (s *subscription) canonical() string {
	b, _ := json.Marshal([]any{s.collectors, s.types, s.status, s.job, s.labels}) // maps marshal sorted
	return string(b)
}

// sorted returns the distinct values of v in order, nil when there are none.
func sorted(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

func (s *subscription) match(e *Event) bool {
	if s.set != nil {
		if _, ok := s.set[e.Collector]; !ok {
			return false
		}
	}
	if s.types != nil && !slices.Contains(s.types, e.Type) {
		return false
	}
	if s.status != nil && !slices.Contains(s.status, e.status()) {
		return false
	}
	if s.job != nil && !slices.Contains(s.job, e.job()) {
		return false
	}
	for k, v := range s.labels {
		if e.Labels[k] != v {
			return false
		}
	}
	return true
}

// subscriptions is a client's immutable set; a change builds a new one.
type subscriptions struct {
	list []*subscription
}

func (ss *subscriptions) match(e *Event) bool {
	for _, s := range ss.list {
		if s.match(e) {
			return true
		}
	}
	return false
}

// matchNamed is match restricted to the subscriptions that list types: those
// that asked for e's type by name.
func (ss *subscriptions) matchNamed(e *Event) bool {
	for _, s := range ss.list {
		if s.types != nil && s.match(e) {
			return true
		}
	}
	return false
}

// subscriber applies one client's requests. Only the client's reader goroutine
// uses it; Publish sees the result through client.subs.
type subscriber struct {
	c      *client
	nextID int64
}

// handle applies r and returns the reply for the client.
func (sb *subscriber) handle(r request) (notice, error) {
	cur := sb.c.subs.Load()
	var list []*subscription
	if cur != nil {
		list = cur.list
	}
	if r.Action == "subscribe" {
		if len(list) >= maxSubscriptions {
			return notice{}, fmt.Errorf("too many subscriptions (%d): unsubscribe or combine some", maxSubscriptions)
		}
		sb.nextID++
		s := newSubscription(sb.nextID, r)
		next := &subscriptions{list: append(slices.Clip(list), s)}
		sb.c.subs.Store(next)
		return reply(wire.MessageSubscribed, map[string]int64{"id": s.id, "subscriptions": int64(len(next.list))}), nil
	}

	var kept []*subscription
	removed := 0
	switch {
	case r.ID == 0 && len(r.Collectors) == 0 && len(r.Types) == 0 && r.Filter == nil:
		// Back to the default: everything in scope.
		sb.c.subs.Store(nil)
		return reply(wire.MessageUnsubscribed, map[string]int{"removed": len(list), "subscriptions": 0}), nil
	case r.ID != 0:
		for _, s := range list {
			if s.id == r.ID {
				removed++
			} else {
				kept = append(kept, s)
			}
		}
		if removed == 0 {
			return notice{}, fmt.Errorf("no subscription with id %d", r.ID)
		}
	case len(r.Types) == 0 && r.Filter == nil:
		drop := make(map[string]bool, len(r.Collectors))
		for _, id := range r.Collectors {
			drop[id] = true
		}
		touched := false
		for _, s := range list {
			left := slices.DeleteFunc(slices.Clone(s.collectors), func(id string) bool { return drop[id] })
			switch {
			case len(left) == len(s.collectors):
				kept = append(kept, s)
			case len(left) == 0:
				touched = true
				removed++
			default:
				touched = true
				r := request{Collectors: left, Types: s.types, Filter: &filter{Status: s.status, Job: s.job, Labels: s.labels}}
				kept = append(kept, newSubscription(s.id, r))
			}
		}
		if !touched {
			return notice{}, fmt.Errorf("no subscription lists collectors %s", strings.Join(r.Collectors, ", "))
		}
	default:
		key := newSubscription(0, r).key
		for _, s := range list {
			if s.key == key {
				removed++
			} else {
				kept = append(kept, s)
			}
		}
		if removed == 0 {
			return notice{}, errors.New("no subscription equals this one: unsubscribe by id, by collectors, or with the body it was subscribed with")
		}
	}
	sb.c.subs.Store(&subscriptions{list: kept}) // empty but not nil: still filtered
	return reply(wire.MessageUnsubscribed, map[string]int{"removed": removed, "subscriptions": len(kept)}), nil
}
