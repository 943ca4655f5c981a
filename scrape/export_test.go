package scrape

import "github.com/corral-dev/corral/targets"

// LoopOf is the loop that scrapes id (as an opaque value), for the external
// tests to see whether a Sync kept or replaced it.
func LoopOf(m *Manager, id string) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.loops[id]; ok {
		return l
	}
	return nil
}

// LoopTarget is the target of the loop that scrapes id.
func LoopTarget(m *Manager, id string) *targets.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.loops[id]; ok {
		return l.target
	}
	return nil
}

// StoredLen is how many bytes a held snapshot keeps of its body, and
// whether they are gzip-compressed.
func StoredLen(h Held) (int, bool) { return h.stored.Len(), h.gzipped }
