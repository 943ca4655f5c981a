package targets

import (
	"context"
	"fmt"
)

// Provider discovers groups. Run sends, on up, the full current set of groups first, then the
// full set of groups of every source that changes (a source that vanished is sent as a Group with
// that Source and no targets). Run returns when ctx ends.
//
// Every send must also select on ctx.Done(), and a group once sent is never
// changed again by the provider.
type Provider interface {
	Run(ctx context.Context, up chan<- []*Group)
}

// Kinds of provider, in the order the Manager prefers them when two of them
// find the same collector.
const (
	KindRegistry = "registry"
	KindStatic   = "static"
	KindFileSD   = "file_sd"
	KindHTTPSD   = "http_sd"
	KindDNSSD    = "dns_sd"
	KindOther    = "other"
)

// Kinder is implemented by a Provider that says what kind it is. The Manager
// treats a Provider that does not as KindOther, the lowest priority.
type Kinder interface {
	Kind() string
}

func kindOf(p Provider) string {
	if k, ok := p.(Kinder); ok {
		return k.Kind()
	}
	return KindOther
}

// priority orders kinds for conflict resolution: lower wins.
func priority(kind string) int {
	switch kind {
	case KindRegistry:
		return 0
	case KindStatic:
		return 1
	case KindFileSD:
		return 2
	case KindHTTPSD:
		return 3
	case KindDNSSD:
		return 4
	default:
		return 5
	}
}

// send delivers gs on up unless ctx ends first.
func send(ctx context.Context, up chan<- []*Group, gs []*Group) bool {
	select {
	case up <- gs:
		return true
	case <-ctx.Done():
		return false
	}
}

type static struct {
	groups []*Group
}

// NewStatic returns the Provider of a job's static_configs. Each entry is one
// group with Source "static_configs[i]". It is validated by the Manager (an
// invalid entry is rejected and logged); a config loader should call
// StaticConfig.Validate to refuse it earlier.
func NewStatic(job string, cfgs []StaticConfig) Provider {
	s := &static{groups: make([]*Group, 0, len(cfgs))}
	for i, c := range cfgs {
		g := &Group{Targets: c.Targets, Labels: c.Labels, Source: fmt.Sprintf("static_configs[%d]", i)}
		s.groups = append(s.groups, g.clone())
	}
	return s
}

func (s *static) Kind() string { return KindStatic }

// Run sends the groups once and waits for ctx to end.
func (s *static) Run(ctx context.Context, up chan<- []*Group) {
	gs := make([]*Group, len(s.groups))
	for i, g := range s.groups {
		gs[i] = g.clone()
	}
	if send(ctx, up, gs) {
		<-ctx.Done()
	}
}
