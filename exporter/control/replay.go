package control

import (
	"container/heap"
	"time"
)

type replayResult int

const (
	fresh replayResult = iota
	replayed
	full
)

// replayCache remembers token ids until their tokens expire. Expired ids leave in
// expiry order from a min-heap, so each check costs O(log n) and the cache never
// holds more than the ids of tokens still valid. It is not safe for concurrent use.
type replayCache struct {
	until map[string]time.Time
	queue expiryHeap
}

// add records id, to be forgotten after until. It reports replayed when id is
// already remembered and full when max ids, none expired, are remembered.
func (c *replayCache) add(id string, until, now time.Time, max int) replayResult {
	if c.until == nil {
		c.until = make(map[string]time.Time)
	}
	for len(c.queue) > 0 && now.After(c.queue[0].until) {
		e := heap.Pop(&c.queue).(expiry)
		delete(c.until, e.id)
	}
	if _, ok := c.until[id]; ok {
		return replayed
	}
	if len(c.until) >= max {
		return full
	}
	c.until[id] = until
	heap.Push(&c.queue, expiry{id: id, until: until})
	return fresh
}

func (c *replayCache) len() int { return len(c.until) }

type expiry struct {
	id    string
	until time.Time
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return e
}
