package targets

import (
	"cmp"
	"fmt"
	"slices"
)

// resolve keeps one target per collector identity. The one kept is chosen the
// same way every time: provider kind (registry, static, file_sd, other), then
// the lexically first Source, job and URL. Every other target of that identity
// becomes a Conflict, except an exact repeat within the same source (the same
// address listed twice in one group), which Prometheus also merges silently.
func resolve(cands []*Target) (set []*Target, conflicts []Conflict) {
	slices.SortFunc(cands, func(a, b *Target) int {
		return cmp.Or(
			cmp.Compare(a.Collector, b.Collector),
			cmp.Compare(priority(a.Provider), priority(b.Provider)),
			cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.Job, b.Job),
			cmp.Compare(a.URL, b.URL),
			cmp.Compare(a.Hash, b.Hash),
		)
	})
	set = make([]*Target, 0, len(cands))
	for _, t := range cands {
		if len(set) == 0 || set[len(set)-1].Collector != t.Collector {
			set = append(set, t)
			continue
		}
		kept := set[len(set)-1]
		if kept.Source == t.Source && kept.Provider == t.Provider && kept.Job == t.Job && kept.Hash == t.Hash {
			continue
		}
		conflicts = append(conflicts, Conflict{Collector: t.Collector, Kept: *kept, Dropped: *t, Reason: reason(kept, t)})
	}
	return set, conflicts
}

func reason(kept, dropped *Target) string {
	switch {
	case kept.Provider != dropped.Provider:
		return fmt.Sprintf("%s has priority over %s", kept.Provider, dropped.Provider)
	case kept.Source != dropped.Source:
		return fmt.Sprintf("both from %s; source %q sorts before %q", kept.Provider, kept.Source, dropped.Source)
	case kept.Job != dropped.Job:
		return fmt.Sprintf("same %s source %q in jobs %q and %q; job %q sorts first", kept.Provider, kept.Source, kept.Job, dropped.Job, kept.Job)
	default:
		return fmt.Sprintf("twice in %s source %q with different addresses or labels; kept the first by URL", kept.Provider, kept.Source)
	}
}

// key identifies a conflict for logging it once.
func (c *Conflict) key() string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%d", c.Collector,
		c.Kept.Provider, c.Kept.Job, c.Kept.Source,
		c.Dropped.Provider, c.Dropped.Job, c.Dropped.Source, c.Dropped.Hash)
}
