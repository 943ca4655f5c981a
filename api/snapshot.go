package api

import (
	"sync"
	"sync/atomic"

	"github.com/corral-dev/corral/health"
)

// walker hands GET /collectors the health of every collector, shared by the
// requests that ask at once: the web UI loads a big fleet as several pages in
// parallel, and each page needs the whole fleet (its summary, its sort). A
// request never gets a walk that began before it arrived: it joins the walk
// that has not started yet, which starts once the one under way (if any) ends.
// So 10 requests at once cost two walks of the fleet, not 10, and each sees
// the fleet as fresh as if it had walked it itself.
type walker struct {
	mu   sync.Mutex
	next *walk         // the walk the next arrivals join; nil when none waits
	sem  chan struct{} // held by the walk under way
	size atomic.Int64  // collectors of the last walk, to size the next one
	bufs sync.Pool     // *[]health.Health of walks every reader released
}

// walk is one pass over the fleet. hs is set before done is closed and never
// changed after: every request of the walk reads it, none may write it. refs
// counts its readers; the last to release it gives hs back for another walk,
// so a lone request does not allocate the fleet's health again each time.
type walk struct {
	done chan struct{}
	hs   []health.Health
	refs atomic.Int32
}

func newWalker() *walker { return &walker{sem: make(chan struct{}, 1)} }

// healths returns the health of every collector of fleet, sorted by collector
// as fleet.Each hands them out, read after the call began, and a release to
// call once done with it. The slice is shared: read only, and not after release.
func (w *walker) healths(fleet FleetReader) ([]health.Health, func()) {
	w.mu.Lock()
	wk, lead := w.next, false
	if wk == nil {
		wk, lead = &walk{done: make(chan struct{})}, true
		w.next = wk
	}
	wk.refs.Add(1)
	w.mu.Unlock()
	release := func() {
		if wk.refs.Add(-1) == 0 {
			clear(wk.hs) // drop the references the healths hold
			hs := wk.hs[:0]
			wk.hs = nil
			w.bufs.Put(&hs)
		}
	}
	if !lead {
		<-wk.done
		return wk.hs, release
	}
	w.sem <- struct{}{} // after the walk under way, which began before some of us arrived
	w.mu.Lock()
	w.next = nil // whoever arrives from now on waits for a walk that begins after them
	w.mu.Unlock()
	var hs []health.Health
	if bp, ok := w.bufs.Get().(*[]health.Health); ok {
		hs = (*bp)[:0]
	} else {
		hs = make([]health.Health, 0, w.size.Load())
	}
	fleet.Each(func(h health.Health) bool {
		hs = append(hs, h)
		return true
	})
	w.size.Store(int64(len(hs)))
	wk.hs = hs
	close(wk.done)
	<-w.sem
	return hs, release
}
