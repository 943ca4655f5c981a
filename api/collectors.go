package api

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/targets/selector"
)

// Paging of GET /collectors.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// listQuery is a parsed GET /collectors request.
type listQuery struct {
	statuses   map[string]bool
	orgs       map[string]bool
	teams      map[string]bool
	jobs       map[string]bool
	groups     map[string]bool // any of them
	tags       []string        // all of them
	matchers   selector.Selector
	q          string
	sortBy     string
	desc       bool
	page       int
	limit      int
	groupBy    string
	hasFilters bool
}

var sortColumns = map[string]bool{
	"id": true, "status": true, "job": true, "instance": true, "last_seen": true, "freshness": true,
	"completeness_1h": true, "completeness_24h": true, "cpu": true, "memory": true,
}

// set collects the values of a repeatable parameter, also split at commas.
func set(vals []string) map[string]bool {
	if len(vals) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				m[p] = true
			}
		}
	}
	return m
}

// parseList parses the query; on an error it returns the offending parameter.
func parseList(r *http.Request) (listQuery, string, error) {
	qs := r.URL.Query()
	for name := range qs {
		if !listParams[name] {
			return listQuery{}, name, fmt.Errorf("unknown parameter; GET /collectors takes %s", strings.Join(slices.Sorted(maps.Keys(listParams)), ", "))
		}
	}
	lq := listQuery{sortBy: "id", page: 1, limit: DefaultLimit}
	lq.statuses = set(qs["status"])
	for s := range lq.statuses {
		if _, ok := statusRank[fleet.Status(s)]; !ok {
			return lq, "status", fmt.Errorf("unknown status %q; use one of %s", s, statusNames())
		}
	}
	lq.orgs, lq.teams, lq.jobs = set(qs["org"]), set(qs["team"]), set(qs["job"])
	if _, ok := qs["group"]; ok {
		// group= (empty) asks for the collectors without a group.
		lq.groups = set(qs["group"])
		if lq.groups == nil {
			lq.groups = map[string]bool{}
		}
		for _, g := range qs["group"] {
			if strings.TrimSpace(g) == "" {
				lq.groups[""] = true
			}
		}
	}
	if tags := set(qs["tag"]); tags != nil {
		lq.tags = slices.Sorted(maps.Keys(tags))
	}
	for _, l := range qs["label"] {
		m, err := selector.Matcher(l)
		if err != nil {
			return lq, "label", err
		}
		lq.matchers = append(lq.matchers, m)
	}
	lq.q = strings.TrimSpace(qs.Get("q"))
	if s := qs.Get("sort"); s != "" {
		lq.sortBy, lq.desc = strings.CutPrefix(s, "-")
		if !sortColumns[lq.sortBy] {
			cols := make([]string, 0, len(sortColumns))
			for c := range sortColumns {
				cols = append(cols, c)
			}
			slices.Sort(cols)
			return lq, "sort", fmt.Errorf("unknown column %q; use one of %s, with a leading - for descending", lq.sortBy, strings.Join(cols, ", "))
		}
	}
	var err error
	if lq.page, err = intParam(qs, "page", 1, 1, MaxPage); err != nil {
		return lq, "page", err
	}
	if lq.limit, err = intParam(qs, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return lq, "limit", err
	}
	switch lq.groupBy = qs.Get("group_by"); lq.groupBy {
	case "", "status", "job", "team", "group":
	default:
		return lq, "group_by", fmt.Errorf("%q: want status, job, team or group", lq.groupBy)
	}
	lq.hasFilters = lq.statuses != nil || lq.orgs != nil || lq.teams != nil || lq.jobs != nil || lq.matchers != nil || lq.q != "" ||
		lq.groups != nil || lq.tags != nil
	return lq, "", nil
}

// listParams are the query parameters of GET /collectors; any other is a 400,
// so that a misspelt filter is not silently ignored.
var listParams = map[string]bool{
	"status": true, "org": true, "team": true, "job": true, "label": true, "q": true, "sort": true,
	"page": true, "limit": true, "group_by": true, "group": true, "tag": true,
}

// steered reports whether the group and tags the collector was given (its
// desired state) pass the group and tag filters.
func (lq *listQuery) steered(group string, tags []string) bool {
	if lq.groups != nil && !lq.groups[group] {
		return false
	}
	for _, want := range lq.tags {
		if !slices.Contains(tags, want) {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains sub, ignoring ASCII case; sub is
// lower case already. It does not allocate.
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

func (lq *listQuery) textMatches(h *health.Health, q string) bool {
	if containsFold(h.Collector, q) || containsFold(h.Reason, q) {
		return true
	}
	t := h.Target
	if t == nil {
		return false
	}
	if containsFold(t.Job, q) || containsFold(t.Instance, q) {
		return true
	}
	for k, v := range t.Labels {
		if containsFold(v, q) || containsFold(k, q) {
			return true
		}
	}
	return false
}

// keep reports whether a collector of org and team passes the filters.
func (lq *listQuery) keep(h *health.Health, org, team, q string) bool {
	if !lq.hasFilters {
		return true
	}
	if lq.statuses != nil && !lq.statuses[string(h.Status)] {
		return false
	}
	if lq.orgs != nil && !lq.orgs[org] {
		return false
	}
	if lq.teams != nil && !lq.teams[team] {
		return false
	}
	var labels map[string]string
	var job string
	if h.Target != nil {
		labels, job = h.Target.Labels, h.Target.Job
	}
	if lq.jobs != nil && !lq.jobs[job] {
		return false
	}
	if !lq.matchers.Matches(labels) {
		return false
	}
	return q == "" || lq.textMatches(h, q)
}

// entry is a collector that passed scope and filters.
type entry struct {
	h     *health.Health // in the walk's healths, shared with other requests: read only
	team  string
	group string
}

func newEntries() any { s := make([]entry, 0, 1024); return &s }

// statusNames lists the statuses for error messages.
func statusNames() string {
	var b strings.Builder
	for i, s := range fleet.Statuses() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// statusRank orders statuses worst first.
var statusRank = func() map[fleet.Status]int {
	m := map[fleet.Status]int{}
	for i, s := range fleet.Statuses() {
		m[s] = i
	}
	return m
}()

// cmpOpt compares two optional numbers, absent ones last whatever the direction.
func cmpOpt(aok bool, a float64, bok bool, b float64, desc bool) int {
	if math.IsNaN(a) {
		aok = false
	}
	if math.IsNaN(b) {
		bok = false
	}
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	if desc {
		return cmp.Compare(b, a)
	}
	return cmp.Compare(a, b)
}

func compareBy(col string, desc bool) func(a, b *entry) int {
	dir := func(c int) int {
		if desc {
			return -c
		}
		return c
	}
	job := func(e *entry) string {
		if e.h.Target == nil {
			return ""
		}
		return e.h.Target.Job
	}
	inst := func(e *entry) string {
		if e.h.Target == nil {
			return ""
		}
		return e.h.Target.Instance
	}
	var primary func(a, b *entry) int
	switch col {
	case "status":
		primary = func(a, b *entry) int { return dir(cmp.Compare(statusRank[a.h.Status], statusRank[b.h.Status])) }
	case "job":
		primary = func(a, b *entry) int { return dir(cmp.Compare(job(a), job(b))) }
	case "instance":
		primary = func(a, b *entry) int { return dir(cmp.Compare(inst(a), inst(b))) }
	case "last_seen":
		primary = func(a, b *entry) int {
			return cmpOpt(!a.h.LastSeen.IsZero(), float64(a.h.LastSeen.UnixNano()), !b.h.LastSeen.IsZero(), float64(b.h.LastSeen.UnixNano()), desc)
		}
	case "freshness":
		primary = func(a, b *entry) int {
			return cmpOpt(a.h.HasFreshness, float64(a.h.Freshness), b.h.HasFreshness, float64(b.h.Freshness), desc)
		}
	case "completeness_1h":
		primary = func(a, b *entry) int { return cmpOpt(true, a.h.Completeness1h, true, b.h.Completeness1h, desc) }
	case "completeness_24h":
		primary = func(a, b *entry) int { return cmpOpt(true, a.h.Completeness24h, true, b.h.Completeness24h, desc) }
	case "cpu":
		primary = func(a, b *entry) int { return cmpOpt(a.h.HasCPU, a.h.CPURatio, b.h.HasCPU, b.h.CPURatio, desc) }
	case "memory":
		primary = func(a, b *entry) int {
			return cmpOpt(a.h.Agent.HasRSS, a.h.Agent.RSS, b.h.Agent.HasRSS, b.h.Agent.RSS, desc)
		}
	default: // id
		return func(a, b *entry) int { return dir(cmp.Compare(a.h.Collector, b.h.Collector)) }
	}
	return func(a, b *entry) int {
		if c := primary(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.h.Collector, b.h.Collector)
	}
}

// listCollectors serves GET /api/v1/collectors. The summary and the groups count
// every collector that passes the caller's scope and the filters, not only the
// page.
func (a *api) listCollectors(w http.ResponseWriter, r *http.Request) {
	lq, param, err := parseList(r)
	if err != nil {
		badParam(w, param, err.Error())
		return
	}
	p, _ := auth.FromContext(r.Context())
	q := strings.ToLower(lq.q)

	bufp := a.entries.Get().(*[]entry)
	es := (*bufp)[:0]
	defer func() {
		clear(es) // drop the references to the walk's healths
		*bufp = es[:0]
		a.entries.Put(bufp)
	}()
	hs, release := a.walker.healths(a.o.Fleet)
	defer release() // after the entries above are cleared: they point into hs
	for i := range hs {
		h := &hs[i]
		org, team := a.scopeOf(h)
		if !p.CanRead(org, team) || !lq.keep(h, org, team, q) {
			continue
		}
		var group string
		if lq.groups != nil || lq.tags != nil || lq.groupBy == "group" {
			var tags []string
			if a.o.Commands != nil {
				if d, ok := a.o.Commands.Desired(h.Collector); ok {
					group, tags = d.Group, d.Tags
				}
			}
			if !lq.steered(group, tags) {
				continue
			}
		}
		es = append(es, entry{h: h, team: team, group: group})
	}

	sum := wire.Summary{Total: len(es), ByStatus: make(map[string]int, len(statusRank))}
	for _, s := range fleet.Statuses() {
		sum.ByStatus[string(s)] = 0
	}
	var groups map[string]int
	if lq.groupBy != "" {
		groups = map[string]int{}
	}
	for i := range es {
		h := es[i].h
		sum.ByStatus[string(h.Status)]++
		if h.Agent.HasItems {
			sum.ItemsCollected += h.Agent.Items
		}
		switch lq.groupBy {
		case "status":
			groups[string(h.Status)]++
		case "job":
			if h.Target != nil {
				groups[h.Target.Job]++
			} else {
				groups[""]++
			}
		case "team":
			groups[es[i].team]++
		case "group":
			groups[es[i].group]++
		}
	}

	order := make([]*entry, len(es))
	for i := range es {
		order[i] = &es[i]
	}
	switch byID := compareBy("id", false); {
	case lq.sortBy == "id" && !lq.desc && slices.IsSortedFunc(order, byID):
		// Each hands them out sorted by id already.
	case lq.sortBy == "id" && lq.desc && slices.IsSortedFunc(order, byID):
		slices.Reverse(order)
	default:
		slices.SortFunc(order, compareBy(lq.sortBy, lq.desc))
	}

	out := wire.CollectorList{Page: lq.page, Limit: lq.limit, Total: len(es), Summary: sum,
		TotalPages: (len(es) + lq.limit - 1) / lq.limit}
	lo := len(es) // past the last page: none; page-1 > len/limit cannot overflow
	if lq.page-1 <= len(es)/lq.limit {
		lo = min((lq.page-1)*lq.limit, len(es))
	}
	hi := min(lo+lq.limit, len(es))
	out.Data = make([]wire.Collector, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out.Data = append(out.Data, a.row(order[i].h))
	}
	if groups != nil {
		out.Groups = make([]wire.Group, 0, len(groups))
		for k, n := range groups {
			out.Groups = append(out.Groups, wire.Group{Key: k, Count: n})
		}
		slices.SortFunc(out.Groups, func(x, y wire.Group) int {
			if lq.groupBy == "status" {
				return cmp.Compare(statusRank[fleet.Status(x.Key)], statusRank[fleet.Status(y.Key)])
			}
			return cmp.Compare(x.Key, y.Key)
		})
	}
	writeList(w, &out)
}
