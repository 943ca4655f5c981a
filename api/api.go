// Package api serves corral's API under /api/v1: the collectors with their
// health, status history, completeness and pulled agent logs, the scrape targets in the shape of
// Prometheus's /api/v1/targets, the file_sd files; the control plane — commands
// to collectors, on-demand scrapes, registration and unregistration, bulk
// operations, the audit trail and the server's keys — and an OpenAPI document of
// it all. Every route is authenticated by [auth.Authenticator.Middleware] and every
// collector filtered by the caller's scope: a collector outside it answers
// exactly as one that does not exist.
//
// The answers and request bodies are the types of package [wire], which
// clients such as corralctl decode with; this package makes them from the
// server's own types (views.go).
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/filesd"
)

// FleetReader reads the health of the collectors; *health.Evaluator is one.
type FleetReader interface {
	Each(fn func(health.Health) bool)
	Get(id string) (health.Health, bool)
}

// HistoryReader reads the status history; *store.Store is one.
type HistoryReader interface {
	StatusHistory(ctx context.Context, collector string, from, to time.Time, limit int) ([]fleet.StatusChange, error)
}

// BucketReader reads completeness buckets; *store.Store is one.
type BucketReader interface {
	Buckets(ctx context.Context, collector, window string, from, to time.Time) ([]fleet.Bucket, error)
}

// AuditAppender records the actions the API does itself; *store.Store is one.
type AuditAppender interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
}

// AuditReader reads the audit trail; *store.Store is one.
type AuditReader interface {
	Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, int, error)
}

// DroppedLister lists the discovered targets that are not scraped; a
// *targets.Manager is one.
type DroppedLister interface {
	Dropped() []targets.DroppedTarget
}

// ConflictLister lists the collector identities discovered more than once;
// a *targets.Manager is one.
type ConflictLister interface {
	Conflicts() []targets.Conflict
}

// LatestReader hands out the latest scrape of a collector; *scrape.Manager is one.
type LatestReader interface {
	Latest(id string) (scrape.Held, bool)
}

var (
	_ FleetReader    = (*health.Evaluator)(nil)
	_ HistoryReader  = (*store.Store)(nil)
	_ BucketReader   = (*store.Store)(nil)
	_ LatestReader   = (*scrape.Manager)(nil)
	_ ConflictLister = (*targets.Manager)(nil)
)

// Options configure the API. Auth and Fleet are required; a nil History,
// Buckets, Latest, SDFiles or Logs makes its routes answer with empty data.
type Options struct {
	Fleet   FleetReader
	History HistoryReader
	Buckets BucketReader
	Latest  LatestReader
	// SDFiles lists the file_sd files of every file_sd config (the
	// Discovery.Status of each, concatenated).
	SDFiles func() []filesd.FileStatus
	// Discovery lists discovered targets that are not scraped (dropped by
	// relabel_configs, or invalid) for GET /targets; nil lists none.
	Discovery DroppedLister
	// Conflicts lists the identities discovered more than once for GET
	// /conflicts; nil lists none.
	Conflicts ConflictLister
	// Logs reads the agents' pulled logs; nil answers with none.
	Logs LogReader
	Auth *auth.Authenticator
	// DefaultOrg is the org of a stored collector (an archived one, a
	// command's) kept without one; default targets.DefaultTenancy's. A
	// scraped collector's org and team are its target's.
	DefaultOrg string
	// HealthClient fetches agents' /healthz; default a plain client. Each request
	// is bounded by HealthTimeout. Its CheckRedirect is replaced: a redirect is
	// never followed.
	HealthClient *http.Client
	Logger       *slog.Logger

	// The control plane; a nil one makes its routes answer 503 (or empty lists).
	Commands    Commander
	CommandList CommandLister
	Scraper     Scraper
	Registrar   Registrar
	Archives    Archives
	Bulk        BulkRunner
	Keys        KeyRotator
	Audit       AuditAppender // rows of actions done by the API itself (scrape on demand)
	AuditLog    AuditReader

	// People keeps users, orgs, teams and role bindings for their routes; nil
	// makes them answer 503.
	People People
	// Alerts are the built-in alerter's; nil lists none.
	Alerts AlertLister
}

// HealthTimeout bounds the proxied /healthz request of an agent.
const HealthTimeout = 5 * time.Second

type api struct {
	o Options
	// entries are the scratch slices of GET /collectors, reused across requests.
	entries sync.Pool
	walker  *walker // the fleet walks of GET /collectors, shared by requests at once
}

// route is one endpoint of the package.
type route struct {
	pattern string // Go 1.22 ServeMux pattern: "GET /api/v1/…"
	h       http.HandlerFunc
}

func (a *api) routes() []route {
	return []route{
		{"GET /api/v1/collectors", a.listCollectors},
		{"GET /api/v1/collectors/{id}", a.collector},
		{"GET /api/v1/collectors/{id}/status", a.collectorStatus},
		{"GET /api/v1/collectors/{id}/health", a.collectorHealth},
		{"GET /api/v1/collectors/{id}/metrics", a.collectorMetrics},
		{"GET /api/v1/collectors/{id}/history", a.collectorHistory},
		{"GET /api/v1/collectors/{id}/completeness", a.collectorCompleteness},
		{"GET /api/v1/collectors/{id}/logs", a.collectorLogs},
		{"POST /api/v1/collectors/{id}/stop", a.action(control.ActStop)},
		{"POST /api/v1/collectors/{id}/resume", a.action(control.ActResume)},
		{"POST /api/v1/collectors/{id}/restart", a.action(control.ActRestart)},
		{"POST /api/v1/collectors/{id}/collect", a.action(control.ActCollect)},
		{"POST /api/v1/collectors/{id}/backfill", a.action(control.ActBackfill)},
		{"POST /api/v1/collectors/{id}/test-connection", a.action(control.ActTestConnection)},
		{"POST /api/v1/collectors/{id}/update-config", a.action(control.ActUpdateConfig)},
		{"POST /api/v1/collectors/{id}/rotate-credentials", a.action(control.ActRotateCredentials)},
		{"POST /api/v1/collectors/{id}/scrape", a.scrapeNow},
		{"DELETE /api/v1/collectors/{id}", a.unregister},
		{"POST /api/v1/collectors/register", a.register},
		{"GET /api/v1/collectors/archived", a.archived},
		{"POST /api/v1/collectors/re-register", a.reregister},
		{"POST /api/v1/collectors/bulk-action", a.bulkAction},
		{"GET /api/v1/bulk-actions", a.bulkActions},
		{"GET /api/v1/bulk-actions/{bulk}", a.bulkGet},
		{"POST /api/v1/bulk-actions/{bulk}/cancel", a.bulkCancel},
		{"GET /api/v1/commands", a.commands},
		{"GET /api/v1/commands/{cmd}", a.command},
		{"GET /api/v1/audit", a.audit},
		{"GET /api/v1/keys", a.keys},
		{"POST /api/v1/keys/rotate", a.rotateKey},
		{"POST /api/v1/keys/rotate/complete", a.completeRotation},
		{"GET /api/v1/targets", a.targets},
		{"GET /api/v1/sd-files", a.sdFiles},
		{"GET /api/v1/conflicts", a.conflicts},
		{"GET /api/v1/sd", a.httpSD},
		{"GET /api/v1/alerts", a.alerts},
		{"GET /api/v1/openapi.json", serveOpenAPI},
		// People (users.go, bindings.go, orgs.go).
		{"GET /api/v1/users", a.listUsers},
		{"POST /api/v1/users", a.createUser},
		{"GET /api/v1/users/{id}", a.getUser},
		{"PATCH /api/v1/users/{id}", a.updateUser},
		{"DELETE /api/v1/users/{id}", a.deleteUser},
		{"POST /api/v1/users/{id}/disable", a.disableUser(true)},
		{"POST /api/v1/users/{id}/enable", a.disableUser(false)},
		{"POST /api/v1/users/{id}/reset-password", a.resetPassword},
		{"GET /api/v1/users/{id}/bindings", a.userBindings},
		{"POST /api/v1/users/{id}/bindings", a.bind},
		{"DELETE /api/v1/users/{id}/bindings", a.unbind},
		{"GET /api/v1/bindings", a.listBindings},
		{"POST /api/v1/me/password", a.changeOwnPassword},
		{"GET /api/v1/orgs", a.listOrgs},
		{"POST /api/v1/orgs", a.createOrg},
		{"GET /api/v1/orgs/{org}", a.getOrg},
		{"PATCH /api/v1/orgs/{org}", a.updateOrg},
		{"DELETE /api/v1/orgs/{org}", a.deleteOrg},
		{"GET /api/v1/orgs/{org}/teams", a.listTeams},
		{"POST /api/v1/orgs/{org}/teams", a.createTeam},
		{"GET /api/v1/orgs/{org}/teams/{team}", a.getTeam},
		{"PATCH /api/v1/orgs/{org}/teams/{team}", a.updateTeam},
		{"DELETE /api/v1/orgs/{org}/teams/{team}", a.deleteTeam},
	}
}

// New returns the handler of /api/v1: the read API and the identity routes of
// o.Auth (login, logout, me, tokens). Every route but login requires
// authentication. Mount it on the server's mux at "/api/v1/".
func New(o Options) http.Handler {
	mux := http.NewServeMux()
	register(mux, o)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every answer, including those of package auth and the non-JSON
		// ones (metrics, CSV exports), before any handler writes.
		secureHeaders(w.Header())
		mux.ServeHTTP(w, r)
	})
}

// register puts every route of the API on mux; the OpenAPI test walks it.
func register(mux auth.Mux, o Options) {
	if o.DefaultOrg == "" {
		o.DefaultOrg = targets.DefaultTenancy.DefaultOrg
	}
	hc := http.Client{}
	if o.HealthClient != nil {
		hc = *o.HealthClient
	}
	hc.CheckRedirect = noRedirect
	o.HealthClient = &hc
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{o: o, walker: newWalker()}
	a.entries.New = newEntries
	o.Auth.Routes(mux) // wraps its own routes in the middleware
	for _, rt := range a.routes() {
		mux.Handle(rt.pattern, o.Auth.Middleware(rt.h))
	}
	// Anything else under /api/v1/ is a JSON 404, after authentication so that
	// the route list is not probed anonymously.
	mux.Handle("/api/v1/", o.Auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such route: "+r.Method+" "+r.URL.Path, nil)
	})))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	secureHeaders(h)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, code, msg string, details map[string]any) {
	if details == nil {
		details = map[string]any{}
	}
	writeJSON(w, status, wire.Error{Message: msg, Code: code, Details: details})
}

// badParam answers 400 naming the offending query parameter.
func badParam(w http.ResponseWriter, param, msg string) {
	writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "invalid parameter "+param+": "+msg,
		map[string]any{"field": param})
}

// notFound answers for a collector that does not exist or is outside the
// caller's scope: the two are indistinguishable.
func notFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, wire.CodeNotFound, "collector not found", nil)
}

// internal answers an error the request did not cause: 503 when the store is
// unavailable (its database down, its disk full: the caller may retry once it is
// back, and nothing was acknowledged), else 500.
func (a *api) internal(w http.ResponseWriter, what string, err error) {
	if why, ok := store.Unavailable(err); ok {
		a.o.Logger.Warn(what+": the store is unavailable", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(storeRetryAfter))
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable,
			"the store is unavailable ("+why+"): not done; retry once it is back",
			map[string]any{"reason": why, "retry_after_seconds": storeRetryAfter})
		return
	}
	a.o.Logger.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, wire.CodeInternal, "internal error; see the server log", nil)
}

// storeRetryAfter is the Retry-After, in seconds, of an answer refused because
// the store is unavailable.
const storeRetryAfter = 5

// scopeOf returns the org and team of a collector: its target's.
func (a *api) scopeOf(h *health.Health) (org, team string) {
	if h.Target == nil {
		return a.o.DefaultOrg, ""
	}
	return h.Target.Org, h.Target.Team
}

// visible returns the health of collector id if the caller may read it.
func (a *api) visible(r *http.Request, id string) (health.Health, bool) {
	p, _ := auth.FromContext(r.Context())
	h, ok := a.o.Fleet.Get(id)
	if !ok {
		return health.Health{}, false
	}
	if org, team := a.scopeOf(&h); !p.CanRead(org, team) {
		return health.Health{}, false
	}
	return h, true
}

// secureHeaders forbids a browser to sniff an answer into something else and
// to run or frame anything in one.
func secureHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
}

// contentSecurityPolicy lets an API answer load, run and frame nothing: the API
// serves data, never a page, so a body that reaches a browser as one stays inert.
const contentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"
