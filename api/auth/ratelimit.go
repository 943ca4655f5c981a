package auth

import (
	"sync"
	"time"
)

// limiter counts login failures per key (a client address) in a
// sliding window: once a key has limit failures within window, it is refused
// until the oldest of them leaves the window. It keeps at most limit times per
// key and forgets keys whose failures have all left the window.
type limiter struct {
	limit  int
	window time.Duration

	mu        sync.Mutex
	failures  map[string][]time.Time // oldest first, at most limit
	lastSweep time.Time
}

func newLimiter(limit int, window time.Duration) *limiter {
	return &limiter{limit: limit, window: window, failures: map[string][]time.Time{}}
}

// retryAfter returns how long key must wait before its next attempt; zero if it
// may try now.
func (l *limiter) retryAfter(key string, now time.Time) time.Duration {
	if l.limit <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fs := l.failures[key]
	if len(fs) < l.limit {
		return 0
	}
	if wait := fs[0].Add(l.window).Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// fail records a failure of key at now.
func (l *limiter) fail(key string, now time.Time) {
	if l.limit <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	fs := l.failures[key]
	// Drop the failures that have left the window, and the oldest beyond limit.
	i := 0
	for i < len(fs) && !fs[i].Add(l.window).After(now) {
		i++
	}
	if keep := l.limit - 1; len(fs)-i > keep {
		i = len(fs) - keep
	}
	l.failures[key] = append(fs[i:], now)
}

// sweep forgets, at most once per window, the keys whose newest failure has left
// the window, so that the map holds only one window's worth of keys.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, fs := range l.failures {
		if !fs[len(fs)-1].Add(l.window).After(now) {
			delete(l.failures, k)
		}
	}
}

// backoff throttles the login failures of one key, a (username, client address)
// pair: the first free failures cost nothing, and after them each further
// attempt must wait 2^k seconds after the previous failure (k = 0, 1, 2, … for
// the failures beyond free), at most maxDelay. A success resets the key. Keys
// idle for their delay plus forget are dropped, so that the map holds only the
// pairs that failed recently.
//
// It replaces a lock per username, which let anyone lock the admin out by
// guessing wrong five times: a pair is throttled only where the failures come
// from, so the right password from another address still works at once.
type backoff struct {
	free     int
	maxDelay time.Duration
	forget   time.Duration

	mu        sync.Mutex
	keys      map[string]backoffState
	lastSweep time.Time
}

type backoffState struct {
	failures int
	last     time.Time // of the newest failure
}

func newBackoff(free int, maxDelay, forget time.Duration) *backoff {
	return &backoff{free: free, maxDelay: maxDelay, forget: forget, keys: map[string]backoffState{}}
}

// delay is how long after its newest failure a key with n failures must wait.
func (b *backoff) delay(n int) time.Duration {
	k := n - b.free
	if b.free < 0 || k < 0 {
		return 0
	}
	if k >= 30 { // 2^30 s is past any sane cap; avoid overflowing the shift
		return b.maxDelay
	}
	return min(time.Duration(1<<k)*time.Second, b.maxDelay)
}

// retryAfter returns how long key must wait before its next attempt; zero if it
// may try now.
func (b *backoff) retryAfter(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.keys[key]
	if !ok {
		return 0
	}
	if wait := s.last.Add(b.delay(s.failures)).Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// fail records a failure of key at now.
func (b *backoff) fail(key string, now time.Time) {
	if b.free < 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	s := b.keys[key]
	if !now.Before(s.last.Add(b.delay(s.failures) + b.forget)) {
		s = backoffState{} // idle long enough to start afresh
	}
	b.keys[key] = backoffState{failures: s.failures + 1, last: now}
}

// reset forgets the failures of key.
func (b *backoff) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}

// sweep drops, at most once per forget, the keys idle for their delay plus
// forget.
func (b *backoff) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < b.forget {
		return
	}
	b.lastSweep = now
	for k, s := range b.keys {
		if !now.Before(s.last.Add(b.delay(s.failures) + b.forget)) {
			delete(b.keys, k)
		}
	}
}
