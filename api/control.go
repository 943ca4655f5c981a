package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/jsontext"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
)

// Commander carries out actions on collectors and follows their commands;
// *control.Dispatcher is one.
type Commander interface {
	Act(ctx context.Context, r control.ActRequest) (control.ActResult, error)
	Wait(ctx context.Context, id string, done func(store.Command) bool) (store.Command, error)
	Command(ctx context.Context, id string) (store.Command, error)
	Desired(collector string) (store.DesiredState, bool)
}

// Scraper scrapes a collector at once; *scrape.Manager is one.
type Scraper interface {
	ScrapeNow(ctx context.Context, id string) (*scrape.Result, error)
}

var (
	_ Commander = (*control.Dispatcher)(nil)
	_ Scraper   = (*scrape.Manager)(nil)
)

// maxBody bounds a request body of the control routes.
const maxBody = 1 << 20

// actor is who makes the request, for the audit trail.
func actorOf(r *http.Request) (store.Actor, string) {
	p, _ := auth.FromContext(r.Context())
	kind := store.ActorUser
	if p.Via == auth.ViaToken {
		kind = store.ActorToken
	}
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	return store.Actor{Kind: kind, Name: p.Username, UserID: p.UserID}, remote
}

// readBody reads a JSON request body (an empty one is {}).
func readBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if !errors.As(err, &tooLarge) {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "could not read the request body: "+err.Error(), nil)
			return nil, false
		}
		writeError(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
			fmt.Sprintf("request body over the limit of %d bytes (1 MiB); send less, e.g. split a bulk request", maxBody),
			map[string]any{"limit_bytes": maxBody})
		return nil, false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return json.RawMessage("{}"), true
	}
	if !json.Valid(b) {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "the request body is not valid JSON", nil)
		return nil, false
	}
	// encoding/json would turn invalid UTF-8 and an escaped lone surrogate
	// ("\ud800") into U+FFFD, and the replaced text would be stored, audited
	// and sent to the agent: refused, naming the field that holds it.
	if field, ok := jsontext.Check(b); !ok {
		msg := "the request body is not valid UTF-8"
		if field != "" {
			msg = field + ": not valid UTF-8, or a lone UTF-16 surrogate escape such as \\ud800 (in a name or a value)"
		}
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, msg, map[string]any{"field": field})
		return nil, false
	}
	return b, true
}

// actable finds collector id for an action: 404 when the caller may not see
// it, 410 when it is unregistered, 403 when the caller may see but not act.
func (a *api) actable(w http.ResponseWriter, r *http.Request, id string) (health.Health, bool) {
	p, _ := auth.FromContext(r.Context())
	h, ok := a.visible(r, id)
	if !ok {
		a.notFoundOrGone(w, r, id)
		return h, false
	}
	if org, team := a.scopeOf(&h); !p.CanAct(org, team) {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "your role may read this collector but not act on it (team_lead or above is needed)", nil)
		return h, false
	}
	return h, true
}

// notFoundOrGone answers for a collector that is not scraped: 410 with its
// archive for one unregistered in the caller's scope, else 404.
func (a *api) notFoundOrGone(w http.ResponseWriter, r *http.Request, id string) {
	if a.o.Archives != nil {
		if arc, ok := a.o.Archives.Unregistered(id); ok {
			p, _ := auth.FromContext(r.Context())
			if p.CanRead(orgOr(arc.Org, a.o.DefaultOrg), arc.Team) {
				writeError(w, http.StatusGone, wire.CodeUnregistered,
					fmt.Sprintf("collector %s is unregistered (since %s, by %s); re-register it with POST /api/v1/collectors/re-register", id,
						arc.ArchivedAt.UTC().Format(time.RFC3339), arc.ArchivedBy),
					map[string]any{"archived_collector_id": arc.ID, "provider": arc.Provider})
				return
			}
		}
	}
	notFound(w, id)
}

func orgOr(org, def string) string {
	if org == "" {
		return def
	}
	return org
}

// waitFor parses wait= (none, ack, confirmed) and timeout=.
func waitFor(w http.ResponseWriter, r *http.Request) (string, time.Duration, bool) {
	qs := r.URL.Query()
	mode := qs.Get("wait")
	timeout := 10 * time.Second
	switch mode {
	case "", "ack":
		mode = "ack"
	case "confirmed":
		timeout = 30 * time.Second
	case "none":
	default:
		badParam(w, "wait", "want none, ack (the default) or confirmed")
		return "", 0, false
	}
	if v := qs.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 2*time.Minute {
			badParam(w, "timeout", `want a duration up to 2m, such as "20s"`)
			return "", 0, false
		}
		timeout = d
	}
	return mode, timeout, true
}

// action serves POST /api/v1/collectors/{id}/{action}.
func (a *api) action(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, ok := a.actable(w, r, id); !ok {
			return
		}
		mode, timeout, ok := waitFor(w, r)
		if !ok {
			return
		}
		params, ok := readBody(w, r)
		if !ok {
			return
		}
		if a.o.Commands == nil {
			writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "control is not available on this server", nil)
			return
		}
		actor, remote := actorOf(r)
		res, err := a.o.Commands.Act(r.Context(), control.ActRequest{Collector: id, Action: name, Params: params, Actor: actor, Remote: remote})
		if err != nil {
			a.actError(w, err)
			return
		}
		a.answerAct(w, r, res, mode, timeout)
	}
}

// actError answers an error of Act.
func (a *api) actError(w http.ResponseWriter, err error) {
	var inv *control.InvalidParams
	var bad *control.BadRequest
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, bad.Error(), map[string]any{"field": bad.Field})
	case errors.As(err, &inv):
		details := map[string]any{}
		if inv.Field != "" {
			details["field"] = inv.Field
		}
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, inv.Error(), details)
	case errors.Is(err, control.ErrNotScraped), errors.Is(err, control.ErrNotAgent):
		writeError(w, http.StatusConflict, wire.CodeConflict, err.Error(), nil)
	case errors.Is(err, control.ErrNotStarted):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, err.Error(), nil)
	default:
		a.internal(w, "carry out an action", err)
	}
}

// answerAct waits as asked and answers: 200 acknowledged or confirmed (or
// applied by the server), 202 still on its way, 409 failed, 504 expired.
func (a *api) answerAct(w http.ResponseWriter, r *http.Request, res control.ActResult, mode string, timeout time.Duration) {
	out := wire.CommandResponse{}
	if res.Desired != nil {
		d := viewDesired(*res.Desired)
		out.Desired = &d
	}
	if res.Command == nil {
		out.Success, out.Message = true, "applied by the server (nothing to send to the agent)"
		writeJSON(w, http.StatusOK, out)
		return
	}
	c := *res.Command
	if mode != "none" {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		c, _ = a.o.Commands.Wait(ctx, c.ID, func(c store.Command) bool {
			if mode == "ack" {
				return c.State != store.CommandPending && c.State != store.CommandSent
			}
			return store.CommandFinal(c.State)
		})
		cancel()
	}
	v := control.View(c)
	out.Command = &v
	status := http.StatusOK
	switch c.State {
	case store.CommandConfirmed:
		out.Success, out.Message = true, fmt.Sprintf("%s confirmed: a scrape shows the effect", c.Command)
		if c.FinishedAt.Equal(c.AckedAt) {
			out.Message = fmt.Sprintf("%s done: no scrape shows its effect, so the agent's answer confirms it", c.Command)
		}
	case store.CommandAcknowledged:
		out.Success, out.Message = true, fmt.Sprintf("%s acknowledged by the agent; the next scrapes confirm it (GET /api/v1/commands/%s)", c.Command, c.ID)
	case store.CommandFailed:
		writeError(w, http.StatusConflict, wire.CodeCommandFailed, c.Error, map[string]any{"command": v})
		return
	case store.CommandExpired:
		writeError(w, http.StatusGatewayTimeout, wire.CodeCommandExpired, c.Error, map[string]any{"command": v})
		return
	default:
		status = http.StatusAccepted
		out.Success = true
		out.Message = fmt.Sprintf("%s queued; not acknowledged yet", c.Command)
		if c.Error != "" {
			out.Message += " (retrying: " + c.Error + ")"
		}
		out.Message += fmt.Sprintf("; follow it with GET /api/v1/commands/%s", c.ID)
	}
	writeJSON(w, status, out)
}

// scrapeNow serves POST /api/v1/collectors/{id}/scrape: the server scrapes the
// collector now, outside its schedule, and answers with the result.
func (a *api) scrapeNow(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.actable(w, r, id); !ok {
		return
	}
	if a.o.Scraper == nil {
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "scraping on demand is not available on this server", nil)
		return
	}
	res, err := a.o.Scraper.ScrapeNow(r.Context(), id)
	if errors.Is(err, scrape.ErrUnknownCollector) {
		notFound(w, id)
		return
	}
	if err != nil {
		a.internal(w, "scrape on demand", err)
		return
	}
	h, _ := a.o.Fleet.Get(id)
	out := wire.ScrapeResult{Collector: id, Up: res.Err == nil, ScrapedAt: res.Start.UTC(), Duration: res.Duration.Seconds(), Samples: res.Samples,
		Bytes: res.Bytes, Reason: res.Reason, Status: string(h.Status), StatusReason: h.Reason}
	if res.Err != nil {
		out.Error = res.Err.Error()
	} else {
		out.AgentState = res.Agent.State
		out.ConfigGeneration = numIf(res.Agent.HasGeneration, res.Agent.ConfigGeneration)
		out.ItemsCollected = numIf(res.Agent.HasItems, res.Agent.Items)
	}
	if a.o.Audit != nil {
		actor, remote := actorOf(r)
		org, team := a.scopeOf(&h)
		result := store.ResultOK
		if res.Err != nil {
			result = store.ResultFailed
		}
		now := time.Now()
		if _, err := a.o.Audit.AppendAudit(r.Context(), store.AuditEntry{At: res.Start, FinishedAt: now, Actor: actor, Remote: remote,
			Action: "scrape", Collector: id, Org: org, Team: team, Result: result, Error: out.Error}); err != nil {
			a.o.Logger.Warn("audit row of a scrape not written", "collector", id, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// commandVisible reports whether the caller may read command c.
func (a *api) commandVisible(r *http.Request, c store.Command) bool {
	p, _ := auth.FromContext(r.Context())
	return p.CanRead(orgOr(c.Org, a.o.DefaultOrg), c.Team)
}

// command serves GET /api/v1/commands/{cmd}.
func (a *api) command(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("cmd")
	if a.o.Commands == nil {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "command not found", nil)
		return
	}
	c, err := a.o.Commands.Command(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.commandVisible(r, c)) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "command not found", nil)
		return
	}
	if err != nil {
		a.internal(w, "read a command", err)
		return
	}
	writeJSON(w, http.StatusOK, control.View(c))
}

// CommandLister lists commands; *store.Store is one.
type CommandLister interface {
	Commands(ctx context.Context, f store.CommandFilter) ([]store.Command, int, error)
}

// commands serves GET /api/v1/commands?collector=&state=&limit=&offset=.
func (a *api) commands(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r, "collector", "state", "bulk_id", "limit", "offset") {
		return
	}
	qs := r.URL.Query()
	f := store.CommandFilter{Collector: qs.Get("collector"), State: qs.Get("state"), BulkID: qs.Get("bulk_id"), Limit: 50}
	switch f.State {
	case "", store.CommandPending, store.CommandSent, store.CommandAcknowledged, store.CommandConfirmed, store.CommandFailed, store.CommandExpired:
	default:
		badParam(w, "state", "want pending, sent, acknowledged, confirmed, failed or expired")
		return
	}
	var ok bool
	if f.Limit, f.Offset, ok = pageParams(w, r, 50, 1000); !ok {
		return
	}
	out := wire.Page[wire.Command]{Data: []wire.Command{}, Limit: f.Limit, Offset: f.Offset}
	if f.Collector != "" {
		_, seen := a.visible(r, f.Collector)
		if _, gone := a.archiveVisible(r, f.Collector); !seen && !gone {
			notFound(w, f.Collector)
			return
		}
	}
	p, _ := auth.FromContext(r.Context())
	all, scopes := scopesOf(p, false)
	f.Scoped, f.Scopes = !all, scopes
	if a.o.CommandList != nil {
		cs, total, err := a.o.CommandList.Commands(r.Context(), f)
		if err != nil {
			a.internal(w, "list commands", err)
			return
		}
		for _, c := range cs {
			out.Data = append(out.Data, control.View(c))
		}
		out.Total = total
	}
	writeJSON(w, http.StatusOK, out)
}

// scopesOf returns where p may read (act false) or act: everywhere, or in these
// org and team scopes.
func scopesOf(p *auth.Principal, act bool) (all bool, out []store.Scope) {
	if p == nil {
		return false, nil
	}
	for _, b := range p.Bindings {
		switch {
		case b.Role == auth.SuperAdmin:
			return true, nil
		case b.Role == auth.Viewer && act:
		case b.Role == auth.OrgAdmin:
			out = append(out, store.Scope{Org: b.Org})
		default:
			out = append(out, store.Scope{Org: b.Org, Team: b.Team})
		}
	}
	return false, out
}

// archiveVisible returns the archive of an unregistered collector in scope.
func (a *api) archiveVisible(r *http.Request, id string) (store.ArchivedCollector, bool) {
	if a.o.Archives == nil {
		return store.ArchivedCollector{}, false
	}
	arc, ok := a.o.Archives.Unregistered(id)
	if !ok {
		return arc, false
	}
	p, _ := auth.FromContext(r.Context())
	return arc, p.CanRead(orgOr(arc.Org, a.o.DefaultOrg), arc.Team)
}

// pageParams parses limit and offset.
func pageParams(w http.ResponseWriter, r *http.Request, def, most int) (limit, offset int, ok bool) {
	qs := r.URL.Query()
	var err error
	if limit, err = intParam(qs, "limit", def, 1, most); err != nil {
		badParam(w, "limit", err.Error())
		return 0, 0, false
	}
	if offset, err = intParam(qs, "offset", 0, 0, MaxOffset); err != nil {
		badParam(w, "offset", err.Error())
		return 0, 0, false
	}
	return limit, offset, true
}
