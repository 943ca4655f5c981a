package api

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/when"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// MaxAuditExport bounds the rows one export writes.
const MaxAuditExport = 100000

// audit serves GET /api/v1/audit: who did what to which collector, newest first,
// in the caller's scope (team_lead and above); format=csv or json exports every
// matching row as a file.
func (a *api) audit(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r, "collector", "action", "result", "actor", "target", "since", "until", "format", "limit", "offset") {
		return
	}
	p, _ := auth.FromContext(r.Context())
	all, scopes := scopesOf(p, true)
	if !all && len(scopes) == 0 {
		writeError(w, http.StatusForbidden, wire.CodeForbidden, "the audit trail is for team_lead and above", nil)
		return
	}
	qs := r.URL.Query()
	f := store.AuditFilter{All: all, Scopes: scopes, Collector: qs.Get("collector"), Action: qs.Get("action"),
		Result: qs.Get("result"), Actor: qs.Get("actor"), Target: qs.Get("target")}
	now := time.Now()
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := qs.Get(tp.name); v != "" {
			t, err := when.Parse(v, now)
			if err != nil {
				badParam(w, tp.name, err.Error())
				return
			}
			*tp.dst = t
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		badParam(w, "until", "before since")
		return
	}
	format := qs.Get("format")
	switch format {
	case "", "csv", "json":
	default:
		badParam(w, "format", "want csv or json (an export), or none for a page")
		return
	}
	if a.o.AuditLog == nil {
		writeJSON(w, http.StatusOK, map[string]any{"data": []wire.AuditEntry{}, "total": 0})
		return
	}
	if format != "" {
		f.Limit = MaxAuditExport
		rows, total, err := a.o.AuditLog.Audit(r.Context(), f)
		if err != nil {
			a.internal(w, "read the audit trail", err)
			return
		}
		exportHeaders(w, fmt.Sprintf("corral-audit-%s.%s", time.Now().UTC().Format("20060102T150405Z"), format), int64(total))
		if format == "json" {
			out := make([]wire.AuditEntry, len(rows))
			for i, e := range rows {
				out[i] = viewAudit(e)
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"id", "at", "finished_at", "actor_kind", "actor", "remote", "action", "collector", "org", "team",
			"reason", "params", "result", "error", "command_id", "bulk_id"})
		for _, e := range rows {
			fin := ""
			if !e.FinishedAt.IsZero() {
				fin = e.FinishedAt.UTC().Format(time.RFC3339Nano)
			}
			if err := cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), fin, e.Actor.Kind,
				e.Actor.Name, e.Remote, e.Action, e.Collector, e.Org, e.Team, noFormula(e.Reason), string(viewAudit(e).Params), e.Result,
				noFormula(e.Error), e.CommandID, e.BulkID}); err != nil {
				return // the client went away
			}
		}
		cw.Flush()
		return
	}
	var ok bool
	if f.Limit, f.Offset, ok = pageParams(w, r, 100, 1000); !ok {
		return
	}
	rows, total, err := a.o.AuditLog.Audit(r.Context(), f)
	if err != nil {
		a.internal(w, "read the audit trail", err)
		return
	}
	out := wire.Page[wire.AuditEntry]{Data: make([]wire.AuditEntry, len(rows)), Total: total, Limit: f.Limit, Offset: f.Offset}
	for i, e := range rows {
		out.Data[i] = viewAudit(e)
	}
	writeJSON(w, http.StatusOK, out)
}
