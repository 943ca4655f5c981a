package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
)

// LifecycleStore is what the lifecycle keeps; *store.Store is one.
type LifecycleStore interface {
	ListRegistered(ctx context.Context) ([]store.RegisteredCollector, error)
	Registered(ctx context.Context, id string) (store.RegisteredCollector, error)
	ArchivedCollectors(ctx context.Context, all bool) ([]store.ArchivedCollector, error)
	ArchivedCollector(ctx context.Context, id string) (store.ArchivedCollector, error)
	RegisterAudited(ctx context.Context, r store.RegisteredCollector, audit store.AuditEntry) error
	Unregister(ctx context.Context, a store.ArchivedCollector, audit store.AuditEntry) error
	Reregister(ctx context.Context, r store.Reregistration, audit store.AuditEntry) (store.ArchivedCollector, error)
	CountCollectorData(ctx context.Context, collector string) (int64, error)
	PurgeExpiredArchives(ctx context.Context, now time.Time) ([]store.ArchivedCollector, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
	SetNextToken(ctx context.Context, id, token string) error
	PromoteNextToken(ctx context.Context, id, token, sha256 string) (bool, error)
	DropNextToken(ctx context.Context, id, token string) error
	Commands(ctx context.Context, f store.CommandFilter) ([]store.Command, int, error)
}

var _ LifecycleStore = (*store.Store)(nil)

// LifecycleOptions configure a Lifecycle. Store and Fleet are required.
type LifecycleOptions struct {
	Store LifecycleStore
	// Fleet is the collectors as they are scraped now.
	Fleet Fleet
	// Events announces collector:registered and collector:unregistered (nil: no events).
	Events Publisher
	// Tenancy names the labels a collector's org and team are read from; a
	// registration may not set them as labels. Zero: targets.DefaultTenancy.
	Tenancy targets.Tenancy
	// RegistryJobs are the scrape configs with registry: true; registering
	// fails without one (nothing would scrape the collector).
	RegistryJobs func() []string
	// Changed is called after the registry or the unregistered set changed, to
	// list the registry again and filter the targets again.
	Changed func()
	// Retention is how long archived data is kept by default (90 days).
	Retention time.Duration
	Logger    *slog.Logger
}

// Lifecycle registers, unregisters and re-registers collectors. Its methods are
// safe for concurrent use.
type Lifecycle struct {
	o   LifecycleOptions
	log *slog.Logger
	// dispatch, when set (by New), gives the server's public key to new
	// agents' configs and drops an unregistered collector's commands.
	dispatch *Dispatcher

	mu      sync.Mutex
	active  map[string]store.ArchivedCollector // still unregistered, by collector
	dropped map[string]*targets.Target         // listed by discovery, dropped by Filter
}

// NewLifecycle returns a lifecycle; call Load before filtering targets.
func NewLifecycle(o LifecycleOptions) *Lifecycle {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retention <= 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	o.Tenancy = o.Tenancy.WithDefaults()
	if o.Changed == nil {
		o.Changed = func() {}
	}
	if o.RegistryJobs == nil {
		o.RegistryJobs = func() []string { return nil }
	}
	return &Lifecycle{o: o, log: o.Logger, active: map[string]store.ArchivedCollector{}, dropped: map[string]*targets.Target{}}
}

// Load reads the collectors that are unregistered.
func (l *Lifecycle) Load(ctx context.Context) error {
	as, err := l.o.Store.ArchivedCollectors(ctx, false)
	if err != nil {
		return fmt.Errorf("load unregistered collectors: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range as {
		l.active[a.Collector] = a
	}
	return nil
}

// Filter returns ts without the unregistered collectors, and remembers those it
// dropped for [Lifecycle.Dropped]. ts is not changed.
func (l *Lifecycle) Filter(ts []*targets.Target) []*targets.Target {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.dropped)
	if len(l.active) == 0 {
		return ts
	}
	out := make([]*targets.Target, 0, len(ts))
	for _, t := range ts {
		if _, gone := l.active[t.Collector]; gone {
			l.dropped[t.Collector] = t
			continue
		}
		out = append(out, t)
	}
	return out
}

// Dropped is a target discovery lists but corral ignores because its collector
// is unregistered.
type Dropped struct {
	Target  *targets.Target
	Archive store.ArchivedCollector
}

// Dropped returns the targets the last Filter dropped, by collector.
func (l *Lifecycle) Dropped() []Dropped {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Dropped, 0, len(l.dropped))
	for id, t := range l.dropped {
		out = append(out, Dropped{Target: t, Archive: l.active[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target.Collector < out[j].Target.Collector })
	return out
}

// Unregistered returns the archive of a collector that is unregistered now.
func (l *Lifecycle) Unregistered(collector string) (store.ArchivedCollector, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.active[collector]
	return a, ok
}

// Archived returns the collectors that are unregistered, newest first.
func (l *Lifecycle) Archived(ctx context.Context) ([]store.ArchivedCollector, error) {
	return l.o.Store.ArchivedCollectors(ctx, false)
}

// Archive returns one archive, unregistered or not.
func (l *Lifecycle) Archive(ctx context.Context, id string) (store.ArchivedCollector, error) {
	return l.o.Store.ArchivedCollector(ctx, id)
}

// BadRequest is an error in what was asked; Field names the offending field.
type BadRequest struct {
	Field, Msg string
}

func (e *BadRequest) Error() string { return e.Field + ": " + e.Msg }

func bad(field, format string, a ...any) error {
	return &BadRequest{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Conflict is a request that cannot be done in the present state.
type Conflict struct {
	Msg string
}

func (e *Conflict) Error() string { return e.Msg }

// nameRE is what a registered collector may be called: it becomes the collector
// label, the agent's name and the audience of its control tokens.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// reserved are names that would shadow API routes under /collectors/.
var reserved = []string{"archived", "register", "re-register", "bulk-action", "bulk-actions"}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// validate checks r and returns the target labels the registry will carry.
func (l *Lifecycle) validate(r *wire.RegisterRequest) error {
	if field, ok := invalidUTF8(r); !ok {
		// These strings become labels, audit rows and the agent's config, and
		// the exposition format and the agent refuse invalid UTF-8.
		return bad(field, "not valid UTF-8")
	}
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return bad("name", "required")
	case !nameRE.MatchString(r.Name):
		return bad("name", "%q: use 1 to 128 of A-Z a-z 0-9 . _ : - (starting with a letter or digit)", r.Name)
	case slices.Contains(reserved, r.Name):
		return bad("name", "%q is reserved by the API; pick another name", r.Name)
	}
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		return bad("url", "required: the agent's /metrics URL, e.g. http://10.0.0.5:9187/metrics")
	case err != nil:
		return bad("url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("url", "%q must start with http:// or https://", r.URL)
	case u.Host == "":
		return bad("url", "%q has no host", r.URL)
	case u.User != nil:
		return bad("url", "must not hold credentials: corral gives the collector a scrape token of its own")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/metrics"
	}
	r.URL = u.String()
	for k := range r.Labels {
		switch {
		case !labelRE.MatchString(k):
			return bad("labels", "%q is not a Prometheus label name", k)
		case strings.HasPrefix(k, "__"):
			return bad("labels", "%q: labels starting with __ are reserved; set thresholds with the thresholds field", k)
		case k == targets.LabelCollector || k == targets.LabelJob || k == targets.LabelInstance:
			return bad("labels", "%q is set by corral (collector is the name, job the scrape config)", k)
		case k == l.o.Tenancy.OrgLabel || k == l.o.Tenancy.TeamLabel:
			return bad("labels", "%q: give the org and team in their own fields", k)
		}
	}
	if r.Team != "" && r.Org == "" {
		return bad("org", "required with a team")
	}
	meta := map[string]string{}
	for k, v := range r.Thresholds {
		label, ok := health.ThresholdLabels[k]
		if !ok {
			keys := slices.Sorted(maps.Keys(health.ThresholdLabels))
			return bad("thresholds", "unknown threshold %q; known: %s", k, strings.Join(keys, ", "))
		}
		meta[label] = v
	}
	if _, err := (health.Thresholds{}).FromLabels(meta); err != nil {
		return bad("thresholds", "%v", err)
	}
	return nil
}

// invalidUTF8 names the first field of r that is not valid UTF-8.
func invalidUTF8(r *wire.RegisterRequest) (string, bool) {
	for _, f := range []struct{ name, v string }{{"name", r.Name}, {"url", r.URL}, {"org", r.Org}, {"team", r.Team}} {
		if !utf8.ValidString(f.v) {
			return f.name, false
		}
	}
	for _, f := range []struct {
		name string
		m    map[string]string
	}{{"labels", r.Labels}, {"thresholds", r.Thresholds}} {
		for k, v := range f.m {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return f.name, false
			}
		}
	}
	return "", true
}

// Register registers r, audited, and answers with its token (once) and a
// ready agent config. The caller checked that actor may act in r's org/team.
func (l *Lifecycle) Register(ctx context.Context, r wire.RegisterRequest, actor store.Actor, remote string) (wire.Registration, error) {
	if err := l.validate(&r); err != nil {
		return wire.Registration{}, err
	}
	if len(l.o.RegistryJobs()) == 0 {
		return wire.Registration{}, &Conflict{Msg: "no scrape config has registry: true, so nothing would scrape a registered collector; add one to corral.yml"}
	}
	if a, ok := l.Unregistered(r.Name); ok {
		return wire.Registration{}, &Conflict{Msg: fmt.Sprintf("%s is unregistered (archive %s); re-register it with POST /api/v1/collectors/re-register", r.Name, a.ID)}
	}
	if cur, ok := l.o.Fleet.Get(r.Name); ok && cur.Target != nil && cur.Target.Provider != targets.KindRegistry {
		return wire.Registration{}, &Conflict{Msg: fmt.Sprintf("a collector named %s is already discovered by %s (%s); pick another name or unregister that one",
			r.Name, cur.Target.Provider, cur.Target.Source)}
	}
	token, sum := newToken()
	now := time.Now()
	rc := store.RegisteredCollector{ID: r.Name, Name: r.Name, URL: r.URL, Labels: r.Labels, Org: r.Org, Team: r.Team,
		Thresholds: r.Thresholds, Token: token, TokenSHA256: sum, CreatedAt: now}
	audit := store.AuditEntry{At: now, FinishedAt: now, Actor: actor, Remote: remote, Action: "register", Collector: r.Name,
		Org: l.orgOr(r.Org), Team: r.Team, Params: jsonOf(map[string]any{"url": r.URL, "labels": r.Labels, "org": r.Org, "team": r.Team,
			"thresholds": r.Thresholds}), Result: store.ResultOK}
	if err := l.o.Store.RegisterAudited(ctx, rc, audit); err != nil {
		if errors.Is(err, store.ErrExists) {
			return wire.Registration{}, &Conflict{Msg: fmt.Sprintf("%s is registered already; unregister it first or pick another name", r.Name)}
		}
		return wire.Registration{}, err
	}
	l.o.Changed()
	l.event(wire.EventRegistered, r.Name, l.orgOr(r.Org), r.Team, map[string]any{"url": r.URL, "by": actor.Name})
	l.log.Info("collector registered", "collector", r.Name, "url", r.URL, "by", actor.Name)
	return l.registration(rc, token), nil
}

func (l *Lifecycle) orgOr(org string) string {
	if org == "" {
		return l.o.Tenancy.DefaultOrg
	}
	return org
}

func (l *Lifecycle) registration(rc store.RegisteredCollector, token string) wire.Registration {
	reg := wire.Registration{ID: rc.ID, Name: rc.Name, URL: rc.URL, Labels: rc.Labels, Org: l.orgOr(rc.Org), Team: rc.Team,
		Thresholds: rc.Thresholds, TokenSHA256: rc.TokenSHA256, CreatedAt: rc.CreatedAt.UTC()}
	if reg.Labels == nil {
		reg.Labels = map[string]string{}
	}
	if token != "" {
		reg.Token = token
		reg.AgentConfig = AgentConfig(rc.Name, rc.URL, rc.TokenSHA256, l.publicKey())
	}
	return reg
}

// newToken returns a scrape token and its hex SHA-256.
func newToken() (string, string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := "corral_scrape_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	return tok, hex.EncodeToString(sum[:])
}

// AgentConfig is a corral-agent config for a registered collector; the
// collector kind and its source are the operator's to fill in.
func AgentConfig(name, metricsURL, tokenSHA256, publicKey string) string {
	port := "9187"
	if u, err := url.Parse(metricsURL); err == nil && u.Port() != "" {
		port = u.Port()
	}
	type control struct {
		TrustedKeys []string `yaml:"trusted_keys"`
	}
	type listen struct {
		Address            string `yaml:"address"`
		MetricsTokenSHA256 string `yaml:"metrics_token_sha256"`
	}
	type collector struct {
		Name string `yaml:"name"`
		Kind string `yaml:"kind"`
	}
	cfg := struct {
		Collector collector `yaml:"collector"`
		Listen    listen    `yaml:"listen"`
		Control   control   `yaml:"control"`
		StateFile string    `yaml:"state_file"`
	}{collector{Name: name, Kind: "synthetic"}, listen{Address: ":" + port, MetricsTokenSHA256: tokenSHA256},
		control{TrustedKeys: []string{publicKey}}, name + ".state.json"}
	b, _ := yaml.Marshal(cfg)
	return "# corral-agent config for " + name + ", made when it was registered.\n" +
		"# Set collector.kind (postgres, mysql or synthetic) and its section, then:\n" +
		"#   corral-agent run --config " + name + ".yml\n" + string(b)
}

// UnregisterRequest is a collector to unregister.
type UnregisterRequest struct {
	Collector string `json:"-"`
	Reason    string `json:"reason"`
	// ArchiveMetrics keeps the history, buckets, logs and audit for
	// RetentionDays (default true); false deletes them now.
	ArchiveMetrics *bool `json:"archive_metrics,omitempty"`
	RetentionDays  int   `json:"retention_days,omitempty"`
	// DeleteAudit deletes the collector's audit rows with its data (now, or when
	// the retention ends); by default they are kept.
	DeleteAudit bool `json:"delete_audit,omitempty"`
}

// MaxRetentionDays bounds retention_days.
const MaxRetentionDays = 3650

// Unregister stops scraping a collector and archives or deletes its data. The
// caller checked that actor may act on it.
func (l *Lifecycle) Unregister(ctx context.Context, r UnregisterRequest, actor store.Actor, remote string) (store.ArchivedCollector, error) {
	if len(r.Reason) > 1000 {
		return store.ArchivedCollector{}, bad("reason", "at most 1000 characters")
	}
	archive := r.ArchiveMetrics == nil || *r.ArchiveMetrics
	days := r.RetentionDays
	switch {
	case days == 0:
		days = int(l.o.Retention / (24 * time.Hour))
	case days < 1 || days > MaxRetentionDays:
		return store.ArchivedCollector{}, bad("retention_days", "must be between 1 and %d", MaxRetentionDays)
	case !archive:
		return store.ArchivedCollector{}, bad("retention_days", "applies only with archive_metrics: true")
	}
	if a, ok := l.Unregistered(r.Collector); ok {
		return store.ArchivedCollector{}, &Conflict{Msg: fmt.Sprintf("%s is unregistered already (archive %s)", r.Collector, a.ID)}
	}
	cur, ok := l.o.Fleet.Get(r.Collector)
	if !ok || cur.Target == nil {
		return store.ArchivedCollector{}, store.ErrNotFound
	}
	t := cur.Target
	records, err := l.o.Store.CountCollectorData(ctx, r.Collector)
	if err != nil {
		return store.ArchivedCollector{}, err
	}
	now := time.Now()
	a := store.ArchivedCollector{ID: newArchiveID(), Collector: r.Collector, Provider: t.Provider, Source: t.Source, URL: t.URL,
		Labels: t.Labels, Org: t.Org, Team: t.Team, Reason: r.Reason, ArchivedBy: actor.Name, ArchivedAt: now,
		MetricsArchived: archive, DeleteAudit: r.DeleteAudit, Records: records}
	if archive {
		a.RetainUntil = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	audit := store.AuditEntry{At: now, FinishedAt: now, Actor: actor, Remote: remote, Action: "unregister", Collector: r.Collector,
		Org: t.Org, Team: t.Team, Reason: r.Reason, Result: store.ResultOK,
		Params: jsonOf(map[string]any{"archive_metrics": archive, "retention_days": days, "delete_audit": r.DeleteAudit,
			"provider": t.Provider, "records": records, "archive_id": a.ID})}
	if !archive {
		a.PurgedAt = now
	}
	if err := l.o.Store.Unregister(ctx, a, audit); err != nil {
		if errors.Is(err, store.ErrExists) {
			return store.ArchivedCollector{}, &Conflict{Msg: fmt.Sprintf("%s is unregistered already", r.Collector)}
		}
		return store.ArchivedCollector{}, err
	}
	a.ArchivedAt, a.RetainUntil, a.PurgedAt = ms(a.ArchivedAt), ms(a.RetainUntil), ms(a.PurgedAt)
	l.mu.Lock()
	l.active[r.Collector] = a
	l.mu.Unlock()
	if l.dispatch != nil {
		l.dispatch.Forget(r.Collector)
	}
	l.o.Changed()
	l.event(wire.EventUnregistered, r.Collector, t.Org, t.Team, map[string]any{"archive_id": a.ID, "reason": r.Reason,
		"by": actor.Name, "metrics_archived": archive, "records": records})
	l.log.Info("collector unregistered", "collector", r.Collector, "provider", t.Provider, "archived", archive, "records", records, "by", actor.Name)
	return a, nil
}

func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

func newArchiveID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "arc-" + hex.EncodeToString(b[:])
}

// Reregister brings an archived collector back. The caller checked that actor
// may act in the archive's org/team.
func (l *Lifecycle) Reregister(ctx context.Context, r wire.ReregisterRequest, actor store.Actor, remote string) (wire.Registration, store.ArchivedCollector, error) {
	if r.ArchiveID == "" {
		return wire.Registration{}, store.ArchivedCollector{}, bad("archived_collector_id", "required: the id from GET /api/v1/collectors/archived")
	}
	a, err := l.o.Store.ArchivedCollector(ctx, r.ArchiveID)
	if err != nil {
		return wire.Registration{}, store.ArchivedCollector{}, err
	}
	if !a.Active() {
		return wire.Registration{}, a, &Conflict{Msg: fmt.Sprintf("archive %s was re-registered already, at %s by %s", a.ID, a.ReregisteredAt.Format(time.RFC3339), a.ReregisteredBy)}
	}
	freshToken := r.GenerateNewToken == nil || *r.GenerateNewToken
	restore := r.RestoreMetrics == nil || *r.RestoreMetrics
	var notes []string
	if restore && !a.PurgedAt.IsZero() {
		notes = append(notes, fmt.Sprintf("nothing to restore: the archived data was deleted at %s", a.PurgedAt.Format(time.RFC3339)))
	}
	rr := store.Reregistration{ArchiveID: a.ID, By: actor.Name, At: time.Now(), Fresh: !restore}
	var rc store.RegisteredCollector
	var token string
	if a.Provider == targets.KindRegistry {
		rc, err = l.o.Store.Registered(ctx, a.Collector)
		if err != nil {
			return wire.Registration{}, a, fmt.Errorf("the registry row of %s: %w", a.Collector, err)
		}
		if freshToken || rc.Token == "" {
			token, rc.TokenSHA256 = newToken()
			rc.Token = token
		} else {
			notes = append(notes, "kept the archived scrape token (not recommended: whoever held it can scrape the agent again)")
		}
		rc.CreatedAt = rr.At
		rr.Registry = &rc
	} else {
		notes = append(notes, fmt.Sprintf("a %s collector has no corral scrape token; it is scraped again as %s lists it", a.Provider, a.Source))
		rc = store.RegisteredCollector{ID: a.Collector, Name: a.Collector, URL: a.URL, Labels: a.Labels, Org: a.Org, Team: a.Team, CreatedAt: rr.At}
	}
	audit := store.AuditEntry{At: rr.At, FinishedAt: rr.At, Actor: actor, Remote: remote, Action: "re-register", Collector: a.Collector,
		Org: a.Org, Team: a.Team, Result: store.ResultOK,
		Params: jsonOf(map[string]any{"archived_collector_id": a.ID, "generate_new_token": freshToken, "restore_metrics": restore})}
	back, err := l.o.Store.Reregister(ctx, rr, audit)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return wire.Registration{}, a, &Conflict{Msg: fmt.Sprintf("archive %s was re-registered meanwhile", a.ID)}
		}
		return wire.Registration{}, a, err
	}
	l.mu.Lock()
	delete(l.active, a.Collector)
	l.mu.Unlock()
	l.o.Changed()
	l.event(wire.EventRegistered, a.Collector, a.Org, a.Team, map[string]any{"archive_id": a.ID, "restored": restore, "by": actor.Name})
	l.log.Info("collector re-registered", "collector", a.Collector, "archive", a.ID, "restored", restore, "new_token", token != "", "by", actor.Name)
	reg := l.registration(rc, token)
	if a.Provider != targets.KindRegistry {
		reg.AgentConfig = ""
	}
	reg.Note = strings.Join(notes, "; ")
	return reg, back, nil
}

// RunPurge deletes the data of archives whose retention ended, at start and
// then every interval, until ctx ends.
func (l *Lifecycle) RunPurge(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := l.Purge(ctx, time.Now()); err != nil && ctx.Err() == nil {
			l.log.Warn("purging expired archives failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes the data of the archives whose retention ended by now.
func (l *Lifecycle) Purge(ctx context.Context, now time.Time) ([]store.ArchivedCollector, error) {
	done, err := l.o.Store.PurgeExpiredArchives(ctx, now)
	for _, a := range done {
		l.log.Info("archived data purged", "collector", a.Collector, "archive", a.ID, "archived_at", a.ArchivedAt, "records", a.Records)
		if _, aerr := l.o.Store.AppendAudit(ctx, store.AuditEntry{At: now, FinishedAt: now, Actor: store.Actor{Kind: store.ActorSystem, Name: "retention"},
			Action: "purge", Collector: a.Collector, Org: a.Org, Team: a.Team, Result: store.ResultOK,
			Reason: fmt.Sprintf("retention of archive %s ended %s", a.ID, a.RetainUntil.Format(time.RFC3339)),
			Params: jsonOf(map[string]any{"archive_id": a.ID, "delete_audit": a.DeleteAudit})}); aerr != nil {
			l.log.Warn("purge: audit row not written", "collector", a.Collector, "err", aerr)
		}
		l.mu.Lock()
		if cur, ok := l.active[a.Collector]; ok && cur.ID == a.ID {
			cur.PurgedAt = a.PurgedAt
			l.active[a.Collector] = cur
		}
		l.mu.Unlock()
	}
	return done, err
}

// NextToken makes a new scrape token for a registered collector and keeps it
// beside the current one until the agent acknowledged it; it returns the
// token's hex SHA-256 for the agent.
func (l *Lifecycle) NextToken(ctx context.Context, collector string) (string, error) {
	r, err := l.o.Store.Registered(ctx, collector)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.ArchivedAt != nil) {
		return "", bad("scrape_token", "%s is not registered through the API: it has no corral scrape token", collector)
	}
	if err != nil {
		return "", err
	}
	token, sum := newToken()
	if err := l.o.Store.SetNextToken(ctx, collector, token); err != nil {
		return "", err
	}
	return sum, nil
}

func tokenSum(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenAcknowledged switches to the next token: the agent has acknowledged its
// SHA-256 (and accepts the old token for a grace period meanwhile).
func (l *Lifecycle) TokenAcknowledged(ctx context.Context, collector, sum string) error {
	r, err := l.o.Store.Registered(ctx, collector)
	if err != nil {
		return err
	}
	if r.NextToken == "" || tokenSum(r.NextToken) != sum {
		return nil // switched already, or replaced by a newer rotation
	}
	ok, err := l.o.Store.PromoteNextToken(ctx, collector, r.NextToken, sum)
	if err != nil {
		return err
	}
	if ok {
		l.log.Info("scrape token rotated", "collector", collector, "token_sha256", sum[:12])
		l.o.Changed()
	}
	return nil
}

// TokenAbandoned forgets a next token the agent never acknowledged.
func (l *Lifecycle) TokenAbandoned(ctx context.Context, collector, sum string) error {
	r, err := l.o.Store.Registered(ctx, collector)
	if err != nil || r.NextToken == "" || tokenSum(r.NextToken) != sum {
		return err
	}
	return l.o.Store.DropNextToken(ctx, collector, r.NextToken)
}

// RecoverTokens finishes token rotations a stopped server left half done: a
// next token whose command was confirmed becomes the token, one whose command
// failed or expired is dropped; one still open is left to its command.
func (l *Lifecycle) RecoverTokens(ctx context.Context) error {
	rs, err := l.o.Store.ListRegistered(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.NextToken == "" {
			continue
		}
		sum := tokenSum(r.NextToken)
		cs, _, err := l.o.Store.Commands(ctx, store.CommandFilter{Collector: r.ID})
		if err != nil {
			return err
		}
		for _, c := range cs { // newest first
			var a struct {
				SHA string `json:"metrics_token_sha256"`
			}
			if json.Unmarshal(c.Args, &a) != nil || a.SHA != sum {
				continue
			}
			switch c.State {
			case store.CommandConfirmed, store.CommandAcknowledged:
				err = l.TokenAcknowledged(ctx, r.ID, sum)
			case store.CommandFailed, store.CommandExpired:
				err = l.TokenAbandoned(ctx, r.ID, sum)
			}
			if err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// event announces a change of the registry.
func (l *Lifecycle) event(typ, collector, org, team string, data any) {
	if l.o.Events != nil {
		l.o.Events.Publish(events.Event{Type: typ, Collector: collector, Org: org, Team: team, Data: data})
	}
}

// publicKey is the server's control key for a new agent's config.
func (l *Lifecycle) publicKey() string {
	if l.dispatch == nil {
		return ""
	}
	return l.dispatch.PublicKey()
}
