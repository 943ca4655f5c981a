package filesd

import (
	"cmp"
	"context"
	"errors"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/corral-dev/corral/targets"
)

const (
	// settle is how quiet the watched directories must be before a re-read, so
	// that a burst of events (write, rename, symlink swap) makes one update.
	settle = 100 * time.Millisecond
	// maxSettle bounds the wait under a steady stream of events.
	maxSettle = time.Second
)

// FileStatus is the state of one matched file, for the API.
type FileStatus struct {
	Path         string
	Targets      int       // targets taken from the file: its last good read
	LastGoodRead time.Time // zero if never read without error
	Error        string    // the current error; "" when the last read was good
	ErrorAt      time.Time // when the current error first appeared
	Dropped      []Dropped // targets of the last good read that are not scraped, with why
}

// Discovery is the Provider of one file_sd_configs entry.
type Discovery struct {
	job      string
	patterns []string
	interval time.Duration
	log      *slog.Logger
	metrics  *Metrics

	mu     sync.Mutex
	files  map[string]*fileState
	dirErr map[string]string // last error watching a directory, to log it once
}

type fileState struct {
	groups   []*targets.Group // last good read; nil before one
	targets  int
	dropped  []Dropped // of the last good read
	sum      uint64    // hash of the content last read, good or bad
	read     bool      // sum is set
	lastGood time.Time
	err      string
	errAt    time.Time
}

// New returns the Discovery for cfg, which should have passed Validate. A nil
// log discards; a nil metrics keeps unregistered series.
func New(job string, cfg Config, log *slog.Logger, metrics *Metrics) *Discovery {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	interval := cfg.RefreshInterval
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	return &Discovery{
		job:      job,
		patterns: slices.Clone(cfg.Files),
		interval: interval,
		log:      log.With("job", job, "provider", targets.KindFileSD),
		metrics:  metrics,
		files:    map[string]*fileState{},
		dirErr:   map[string]string{},
	}
}

// Kind implements targets.Kinder.
func (d *Discovery) Kind() string { return targets.KindFileSD }

// Status returns every matched file, sorted by path.
func (d *Discovery) Status() []FileStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]FileStatus, 0, len(d.files))
	for p, st := range d.files {
		out = append(out, FileStatus{Path: p, Targets: st.targets, LastGoodRead: st.lastGood, Error: st.err, ErrorAt: st.errAt,
			Dropped: slices.Clone(st.dropped)})
	}
	slices.SortFunc(out, func(a, b FileStatus) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// Run implements targets.Provider. It watches the directories of the patterns,
// not the files, so that a file replaced by rename (editors, atomic writers) or a
// Kubernetes ConfigMap's symlink swap is seen; the periodic refresh catches what
// the watches miss (a directory created later, a watch limit reached).
func (d *Discovery) Run(ctx context.Context, up chan<- []*targets.Group) {
	defer d.release()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("file_sd cannot watch for changes; relying on refresh_interval", "interval", d.interval, "err", err)
		w = nil
	} else {
		defer w.Close()
	}
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if w != nil {
		events, errs = w.Events, w.Errors
	}

	d.watch(w)
	if !d.send(ctx, up, d.refresh(true)) {
		return
	}

	ticker := time.NewTicker(d.interval)
	defer ticker.Stop()
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	var burst time.Time // first event of the burst being settled

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Any change in a watched directory may matter (a ..data symlink
			// swap touches no *.yml name), but a chmod alone does not.
			if ev.Op == fsnotify.Chmod {
				continue
			}
			now := time.Now()
			if burst.IsZero() {
				burst = now
			}
			quiet.Reset(max(0, min(settle, burst.Add(maxSettle).Sub(now))))
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Most likely an event queue overflow: events were lost, so re-read.
			d.log.Warn("file_sd watch error; re-reading the files", "err", err)
			quiet.Reset(settle)
		case <-quiet.C:
			burst = time.Time{}
			d.watch(w)
			if !d.send(ctx, up, d.refresh(false)) {
				return
			}
		case <-ticker.C:
			d.watch(w)
			if !d.send(ctx, up, d.refresh(false)) {
				return
			}
		}
	}
}

func (d *Discovery) send(ctx context.Context, up chan<- []*targets.Group, gs []*targets.Group) bool {
	if gs == nil {
		return true
	}
	select {
	case up <- gs:
		return true
	case <-ctx.Done():
		return false
	}
}

// release lets go of the metric series of every file.
func (d *Discovery) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p := range d.files {
		d.metrics.untrack(d, p)
	}
}

// watch adds a watch on each pattern's directory not watched yet: one that did
// not exist before, or was removed and created again.
func (d *Discovery) watch(w *fsnotify.Watcher) {
	if w == nil {
		return
	}
	have := map[string]bool{}
	for _, p := range w.WatchList() {
		have[filepath.Clean(p)] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, pat := range d.patterns {
		dir := filepath.Dir(pat)
		if have[dir] {
			continue
		}
		have[dir] = true
		err := w.Add(dir)
		switch {
		case err == nil && d.dirErr[dir] != "":
			d.log.Info("file_sd watching directory", "dir", dir)
			delete(d.dirErr, dir)
		case err != nil && d.dirErr[dir] != err.Error():
			d.log.Warn("file_sd cannot watch directory; will retry every refresh_interval", "dir", dir, "interval", d.interval, "err", err)
			d.dirErr[dir] = err.Error()
		}
	}
}

// list returns the files matching the patterns, sorted and without repeats.
func (d *Discovery) list() []string {
	var out []string
	for _, pat := range d.patterns {
		m, err := filepath.Glob(pat)
		if err != nil { // only a bad pattern, which Validate refuses
			continue
		}
		out = append(out, m...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// refresh reads every matched file and returns the groups of the sources that
// changed: all groups when first is set, else nil when nothing changed. A file
// that fails keeps its last good groups; a file gone sends its sources empty.
func (d *Discovery) refresh(first bool) []*targets.Group {
	paths := d.list()
	type result struct {
		data []byte
		err  error
	}
	reads := make(map[string]result, len(paths))
	for _, p := range paths {
		data, err := readLimited(p)
		reads[p] = result{data, err}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var changed []*targets.Group
	if first {
		changed = []*targets.Group{}
	}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		r := reads[p]
		if errors.Is(r.err, fs.ErrNotExist) {
			continue // gone between Glob and read (a rename in flight)
		}
		seen[p] = true
		st := d.files[p]
		if st == nil {
			st = &fileState{}
			d.files[p] = st
			d.metrics.track(d, p)
		}
		var (
			groups  []*targets.Group
			dropped []Dropped
			err     = r.err
		)
		if err == nil {
			h := fnv.New64a()
			h.Write(r.data)
			sum := h.Sum64()
			if st.read && sum == st.sum {
				// Same bytes as last time: same outcome, nothing to send.
				if st.err == "" {
					st.lastGood = now
					d.metrics.readGood(d, p, st.targets, now)
				} else {
					d.metrics.readFailed(d, p)
				}
				continue
			}
			st.sum, st.read = sum, true
			groups, dropped, err = ParseFile(p, r.data)
		} else {
			st.read = false
		}
		if err != nil {
			if st.err != err.Error() {
				d.log.Warn("file_sd file unreadable; keeping its last good targets", "file", p, "targets", st.targets, "err", err)
				st.err, st.errAt = err.Error(), now
			}
			d.metrics.readFailed(d, p)
			continue
		}
		if st.err != "" {
			d.log.Info("file_sd file readable again", "file", p, "error_since", st.errAt)
			st.err, st.errAt = "", time.Time{}
		}
		// New content: its dropped targets are logged once, here (the same
		// bytes read again are skipped above).
		for _, dr := range dropped {
			d.log.Warn("file_sd target dropped; the file's other targets are kept", "file", p, "group", dr.Group, "target", dr.Target, "reason", dr.Reason)
		}
		st.dropped = dropped
		if !sameGroups(st.groups, groups) {
			changed = append(changed, groups...)
			for i := len(groups); i < len(st.groups); i++ {
				changed = append(changed, &targets.Group{Source: st.groups[i].Source})
			}
		}
		st.groups, st.targets, st.lastGood = groups, countTargets(groups), now
		d.metrics.readGood(d, p, st.targets, now)
		d.metrics.dropped(d, p, len(dropped))
	}
	for p, st := range d.files {
		if seen[p] {
			continue
		}
		for _, g := range st.groups {
			changed = append(changed, &targets.Group{Source: g.Source})
		}
		if st.targets > 0 || st.err != "" {
			d.log.Info("file_sd file gone; its targets are removed", "file", p, "targets", st.targets)
		}
		delete(d.files, p)
		d.metrics.untrack(d, p)
	}
	return changed
}

func countTargets(gs []*targets.Group) int {
	n := 0
	for _, g := range gs {
		n += len(g.Targets)
	}
	return n
}

func sameGroups(a, b []*targets.Group) bool {
	return slices.EqualFunc(a, b, func(x, y *targets.Group) bool {
		if x.Source != y.Source || !slices.Equal(x.Targets, y.Targets) || len(x.Labels) != len(y.Labels) {
			return false
		}
		for k, v := range x.Labels {
			if w, ok := y.Labels[k]; !ok || w != v {
				return false
			}
		}
		return true
	})
}
