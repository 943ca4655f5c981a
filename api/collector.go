package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/corral-dev/corral/api/when"
	"github.com/corral-dev/corral/api/wire"
)

// collector serves GET /api/v1/collectors/{id}.
func (a *api) collector(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.visible(r, id)
	if !ok {
		a.notFoundOrGone(w, r, id)
		return
	}
	writeJSON(w, http.StatusOK, a.detail(&h))
}

// collectorStatus serves GET /api/v1/collectors/{id}/status.
func (a *api) collectorStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.visible(r, id)
	if !ok {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, wire.Status{ID: h.Collector, Status: string(h.Status), Reason: h.Reason,
		StatusSince: ts(h.StatusSince), Up: h.Up, LastSeen: ts(h.LastSeen), LastScrape: ts(h.LastScrape)})
}

// maxHealthBody bounds the agent's /healthz answer relayed; a longer one is
// answered 502, never cut short.
const maxHealthBody = 1 << 20

// healthURL is the agent's /healthz: the target URL with its path replaced.
func healthURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = "/healthz", "", "", ""
	return u.String(), nil
}

// noRedirect is the CheckRedirect of the health client: a redirect is the
// agent's answer, never followed, so /healthz cannot send corral to another
// host or path (its own /debug/pprof, a metadata address) and relay that.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// collectorHealth serves GET /api/v1/collectors/{id}/health: the agent's own
// /healthz as a [wire.AgentHealth], always JSON, whatever the agent sent, so
// that nothing the agent serves runs on corral's origin; 502 when the agent
// cannot be reached, redirects or answers more than maxHealthBody.
func (a *api) collectorHealth(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.visible(r, id)
	if !ok {
		notFound(w, id)
		return
	}
	if h.Target == nil {
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway, "the collector has no target URL", map[string]any{"id": id})
		return
	}
	u, err := healthURL(h.Target.URL)
	if err != nil {
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway, "the collector's URL is invalid", map[string]any{"id": id})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway, "the collector's URL is invalid", map[string]any{"id": id})
		return
	}
	shown := redactURL(u)
	resp, err := a.o.HealthClient.Do(req)
	if err != nil {
		reason := "unreachable"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("no answer within %s", HealthTimeout)
		}
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway, "the agent did not answer its /healthz",
			map[string]any{"id": id, "reason": reason, "url": shown})
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway,
			"the agent's /healthz answered with a redirect, which corral does not follow; serve /healthz at the target itself",
			map[string]any{"id": id, "url": shown, "status": resp.StatusCode, "location": redactURL(resp.Header.Get("Location"))})
		return
	}
	tooLarge := func() {
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway,
			fmt.Sprintf("the agent's /healthz answer exceeds %dMiB, the most corral relays; make it shorter", maxHealthBody>>20),
			map[string]any{"id": id, "url": shown, "status": resp.StatusCode, "limit_bytes": maxHealthBody})
	}
	if resp.ContentLength > maxHealthBody {
		tooLarge()
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody+1))
	if err != nil {
		writeError(w, http.StatusBadGateway, wire.CodeBadGateway, "reading the agent's /healthz failed",
			map[string]any{"id": id, "url": shown, "reason": err.Error()})
		return
	}
	if len(body) > maxHealthBody {
		tooLarge()
		return
	}
	out := wire.AgentHealth{ID: id, URL: shown, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if json.Valid(body) {
		out.Body, out.JSON = body, true
	} else {
		out.Body, _ = json.Marshal(string(body)) // a string cannot fail; invalid UTF-8 becomes U+FFFD
	}
	writeJSON(w, http.StatusOK, out)
}

// collectorMetrics serves GET /api/v1/collectors/{id}/metrics: the samples of
// the latest successful scrape, in the Prometheus text format.
func (a *api) collectorMetrics(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.visible(r, id); !ok {
		notFound(w, id)
		return
	}
	if a.o.Latest == nil {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no successful scrape of the collector yet", nil)
		return
	}
	held, ok := a.o.Latest.Latest(id)
	if !ok {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no successful scrape of the collector yet", nil)
		return
	}
	defer held.Release()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bw := bufio.NewWriterSize(w, 32<<10)
	fams := held.Families()
	last := int32(-1)
	var num []byte
	for _, s := range held.Samples() {
		if s.Family >= 0 && s.Family != last && int(s.Family) < len(fams) {
			f := fams[s.Family]
			if f.Help != nil {
				name, _ := f.InText(s.Name)
				bw.WriteString("# HELP ")
				bw.WriteString(name)
				bw.WriteByte(' ')
				bw.Write(f.Help)
				bw.WriteByte('\n')
			}
			// The family as the text format names it: the snapshot may
			// have been parsed from OpenMetrics (counter foo → foo_total).
			name, typ := f.InText(s.Name)
			bw.WriteString("# TYPE ")
			bw.WriteString(name)
			bw.WriteByte(' ')
			bw.WriteString(typ.String())
			bw.WriteByte('\n')
			last = s.Family
		}
		bw.Write(s.Name)
		if len(s.Labels) > 0 {
			bw.WriteByte('{')
			bw.Write(s.Labels)
			bw.WriteByte('}')
		}
		bw.WriteByte(' ')
		num = appendValue(num[:0], s.Value)
		bw.Write(num)
		if s.HasTimestamp {
			bw.WriteByte(' ')
			bw.WriteString(strconv.FormatInt(s.Timestamp, 10))
		}
		bw.WriteByte('\n')
	}
	_ = bw.Flush() // the client went away
}

func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// timeRange parses from and to; a missing one is the zero time.
func timeRange(w http.ResponseWriter, r *http.Request) (from, to time.Time, ok bool) {
	qs := r.URL.Query()
	now := time.Now()
	var err error
	if v := qs.Get("from"); v != "" {
		if from, err = when.Parse(v, now); err != nil {
			badParam(w, "from", err.Error())
			return from, to, false
		}
	}
	if v := qs.Get("to"); v != "" {
		if to, err = when.Parse(v, now); err != nil {
			badParam(w, "to", err.Error())
			return from, to, false
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		badParam(w, "to", "before from")
		return from, to, false
	}
	return from, to, true
}

// History limits.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 10000
)

// collectorHistory serves GET /api/v1/collectors/{id}/history: status changes,
// newest first.
func (a *api) collectorHistory(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.visible(r, id); !ok {
		notFound(w, id)
		return
	}
	from, to, ok := timeRange(w, r)
	if !ok {
		return
	}
	limit := DefaultHistoryLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistoryLimit {
			badParam(w, "limit", fmt.Sprintf("%q: want a number from 1 to %d", v, MaxHistoryLimit))
			return
		}
		limit = n
	}
	out := wire.History{ID: id, Data: []wire.Change{}}
	if a.o.History != nil {
		cs, err := a.o.History.StatusHistory(r.Context(), id, from, to, limit)
		if err != nil {
			a.internal(w, "read status history", err)
			return
		}
		for _, c := range cs {
			out.Data = append(out.Data, wire.Change{Kind: c.Kind, From: c.From, To: c.To, Reason: c.Reason, At: c.At.UTC()})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBuckets bounds the buckets one completeness request may span.
const maxBuckets = 5000

// align returns the start of the window of length step that holds t (UTC).
func align(t time.Time, step time.Duration) time.Time {
	return t.UTC().Truncate(step)
}

// collectorCompleteness serves GET /api/v1/collectors/{id}/completeness: the
// aligned buckets of the window (1h or 24h) from from to to, oldest first,
// each bucket without a stored row as {start, missing: true}. Defaults: to now,
// from 24 buckets before to.
func (a *api) collectorCompleteness(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.visible(r, id); !ok {
		notFound(w, id)
		return
	}
	window := r.URL.Query().Get("window")
	var step time.Duration
	switch window {
	case "", "1h":
		window, step = "1h", time.Hour
	case "24h":
		step = 24 * time.Hour
	default:
		badParam(w, "window", fmt.Sprintf("%q: want 1h or 24h", window))
		return
	}
	from, to, ok := timeRange(w, r)
	if !ok {
		return
	}
	if to.IsZero() {
		to = time.Now()
	}
	if from.IsZero() {
		from = to.Add(-23 * step)
	}
	from, to = align(from, step), align(to, step)
	if n := int(to.Sub(from)/step) + 1; n > maxBuckets {
		badParam(w, "from", fmt.Sprintf("the range spans %d buckets of %s; at most %d", n, window, maxBuckets))
		return
	}
	have := map[int64]wire.Bucket{}
	if a.o.Buckets != nil {
		bs, err := a.o.Buckets.Buckets(r.Context(), id, window, from, to)
		if err != nil {
			a.internal(w, "read completeness buckets", err)
			return
		}
		for _, b := range bs {
			j := wire.Bucket{Start: b.Start.UTC(), Expected: num(b.ExpectedItems), Actual: num(b.ActualItems),
				ActiveSeconds: num(b.ActiveSeconds), ScrapesOK: &b.ScrapesOK, ScrapesTotal: &b.ScrapesTotal}
			if b.ExpectedItems > 0 {
				j.Completeness = num(min(1, b.ActualItems/b.ExpectedItems))
			}
			if b.ScrapesTotal > 0 {
				j.Availability = num(float64(b.ScrapesOK) / float64(b.ScrapesTotal))
			}
			have[b.Start.UnixMilli()] = j
		}
	}
	out := wire.Completeness{ID: id, Window: window, From: from, To: to}
	for t := from; !t.After(to); t = t.Add(step) {
		if b, ok := have[t.UnixMilli()]; ok {
			out.Data = append(out.Data, b)
		} else {
			out.Data = append(out.Data, wire.Bucket{Start: t, Missing: true})
			out.Missing++
		}
	}
	writeJSON(w, http.StatusOK, out)
}
