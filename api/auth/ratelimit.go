package auth

import (
	"sync"
	"time"
)

// limiter counts login failures per key (a username or a client address) in a
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

// reset forgets the failures of key.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
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
