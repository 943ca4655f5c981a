package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/fleet"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
	"github.com/corral-dev/corral/targets/selector"
)

// ActUnregister is the bulk action that unregisters collectors.
const ActUnregister = "unregister"

// BulkActions lists the actions a bulk operation takes.
func BulkActions() []string {
	return []string{ActStop, ActResume, ActRestart, ActCollect, ActUpdateConfig, ActUpdateTags, ActUpdateGroup, ActUnregister}
}

// MaxBulkItems bounds the collectors of one bulk operation.
const MaxBulkItems = 10000

// Scope is what an actor may act on; *auth.Principal is one.
type Scope interface {
	CanAct(org, team string) bool
}

// Unregisterer unregisters collectors; *Lifecycle is one.
type Unregisterer interface {
	Unregister(ctx context.Context, r UnregisterRequest, actor store.Actor, remote string) (store.ArchivedCollector, error)
}

// BulkStore keeps bulk operations; *store.Store is one.
type BulkStore interface {
	CreateBulk(ctx context.Context, b store.BulkOperation, audit store.AuditEntry) error
	ClaimBulk(ctx context.Context, id string, at time.Time) (bool, error)
	FinishBulk(ctx context.Context, id, state string, result json.RawMessage, errText string, at time.Time) error
	CancelBulk(ctx context.Context, id string, at time.Time, audit store.AuditEntry) (bool, error)
	Bulk(ctx context.Context, id string) (store.BulkOperation, error)
	Bulks(ctx context.Context, state string, limit int) ([]store.BulkOperation, error)
}

// BulkOptions configure a Bulk runner.
type BulkOptions struct {
	Dispatcher *Dispatcher
	Store      BulkStore
	Lifecycle  Unregisterer
	// Principal returns the current rights of a user, for a scheduled
	// operation run on its behalf.
	Principal func(ctx context.Context, userID string) (Scope, error)
	// AckWait is how long an operation run now waits for the agents'
	// acknowledgements before answering (default 10s).
	AckWait time.Duration
	// Parallel bounds the items carried out at once (default 16).
	Parallel int
	// TargetsReady is closed once discovery has delivered its first targets
	// (nil: at once); the operations a stopped server left running wait for
	// it, or they would find none of their collectors.
	TargetsReady <-chan struct{}
	Logger       *slog.Logger
}

// Bulk runs bulk operations, now or when scheduled; scheduled ones live in the
// store and outlive a restart.
type Bulk struct {
	o    BulkOptions
	d    *Dispatcher
	log  *slog.Logger
	wake chan struct{}
	wg   sync.WaitGroup
}

// NewBulk returns a bulk runner; call Run to run the scheduled operations.
func NewBulk(o BulkOptions) *Bulk {
	if o.AckWait <= 0 {
		o.AckWait = 10 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bulk{o: o, d: o.Dispatcher, log: o.Logger, wake: make(chan struct{}, 1)}
}

// Create runs r now (or as a dry run) and returns its results, or stores it to
// run at r.ScheduleAt.
func (b *Bulk) Create(ctx context.Context, r wire.BulkRequest, scope Scope, actor store.Actor, remote string) (wire.BulkResult, error) {
	if err := b.check(&r); err != nil {
		return wire.BulkResult{}, err
	}
	now := time.Now()
	id := newBulkID()
	req, _ := json.Marshal(r)
	op := store.BulkOperation{ID: id, Action: r.Action, Request: req, State: store.BulkRunning, CreatedAt: now, Actor: actor, StartedAt: now}
	audit := store.AuditEntry{At: now, Actor: actor, Remote: remote, Action: "bulk-" + r.Action, Reason: r.Reason,
		Params: Redact(req), Result: store.ResultPending}
	if r.DryRun {
		items := b.resolve(r, scope)
		res := b.preview(r, items)
		res.CreatedAt, res.CreatedBy = now, actor.Name // no id: a dry run is not stored
		return res, nil
	}
	if r.ScheduleAt != nil {
		op.State, op.ScheduleAt, op.StartedAt = store.BulkScheduled, *r.ScheduleAt, time.Time{}
		audit.Result, audit.FinishedAt = "scheduled", now
		audit.Reason = strings.TrimSpace(fmt.Sprintf("%s (scheduled for %s)", r.Reason, r.ScheduleAt.UTC().Format(time.RFC3339)))
		if err := b.o.Store.CreateBulk(ctx, op, audit); err != nil {
			return wire.BulkResult{}, err
		}
		b.poke()
		return b.resultOf(op, nil), nil
	}
	audit.FinishedAt = now
	audit.Result = store.ResultOK
	if err := b.o.Store.CreateBulk(ctx, op, audit); err != nil {
		return wire.BulkResult{}, err
	}
	return b.execute(ctx, op, r, scope, actor, remote), nil
}

// check validates a request before anything is resolved.
func (b *Bulk) check(r *wire.BulkRequest) error {
	if !slices.Contains(BulkActions(), r.Action) {
		return invalid("action", "unknown bulk action %q; one of %s", r.Action, strings.Join(BulkActions(), ", "))
	}
	if (len(r.CollectorIDs) == 0) == (r.Selector == "") {
		return invalid("collector_ids", "give either collector_ids or a selector such as {team=\"red\"}")
	}
	if len(r.CollectorIDs) > MaxBulkItems {
		return invalid("collector_ids", "at most %d collectors per operation", MaxBulkItems)
	}
	if r.Selector != "" {
		if _, err := selector.Parse(r.Selector); err != nil {
			return invalid("selector", "%v", strings.Replace(err.Error(), "match[] ", "", 1))
		}
	}
	for _, s := range r.Status {
		if !fleet.Status(s).Valid() {
			return invalid("status", "unknown status %q", s)
		}
	}
	if len(r.Reason) > maxReason {
		return invalid("reason", "at most %d characters", maxReason)
	}
	if r.ScheduleAt != nil {
		if r.DryRun {
			return invalid("schedule_at", "a dry run runs now; leave schedule_at out")
		}
		if until := time.Until(*r.ScheduleAt); until < time.Second || until > 366*24*time.Hour {
			return invalid("schedule_at", "must be in the future, within a year (RFC 3339, e.g. 2026-12-24T22:00:00Z)")
		}
	}
	params, err := b.params(r)
	if err != nil {
		return err
	}
	if r.Action != ActUnregister {
		// The kind only matters for query_limit, checked per item.
		if err := Check(r.Action, params, ""); err != nil {
			return err
		}
	}
	return nil
}

// params merges the request's reason into the action's params.
func (b *Bulk) params(r *wire.BulkRequest) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(r.Params) > 0 && string(r.Params) != "null" {
		if err := json.Unmarshal(r.Params, &m); err != nil {
			return nil, invalid("params", "must be a JSON object of the action's parameters")
		}
	}
	if _, ok := m["reason"]; !ok && r.Reason != "" {
		m["reason"] = jsonOf(r.Reason)
	}
	if r.Action == ActUnregister {
		var u UnregisterRequest
		if err := strict(jsonOf(m), &u); err != nil {
			return nil, err
		}
	}
	return jsonOf(m), nil
}

// target is one collector resolved for an operation; found false means it is
// not there for this actor (missing or out of scope: the same answer).
type target struct {
	id     string
	found  bool
	health health.Health
}

// resolve chooses the collectors, within scope.
func (b *Bulk) resolve(r wire.BulkRequest, scope Scope) []target {
	fleet := b.d.o.Fleet
	inScope := func(h *health.Health) bool {
		org, team := tenantOf(h)
		return scope.CanAct(org, team)
	}
	statusOK := func(h *health.Health) bool { return len(r.Status) == 0 || slices.Contains(r.Status, string(h.Status)) }
	var out []target
	if len(r.CollectorIDs) > 0 {
		seen := map[string]bool{}
		for _, id := range r.CollectorIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			h, ok := fleet.Get(id)
			ok = ok && h.Target != nil && inScope(&h)
			if ok && !statusOK(&h) {
				continue
			}
			out = append(out, target{id: id, found: ok, health: h})
		}
		return out
	}
	sel, _ := selector.Parse(r.Selector)
	fleet.Each(func(h health.Health) bool {
		if h.Target == nil || !inScope(&h) || !statusOK(&h) || !matches(sel, h.Target.Labels) {
			return true
		}
		out = append(out, target{id: h.Collector, found: true, health: h})
		return len(out) < MaxBulkItems
	})
	return out
}

func matches(sel selector.Selector, labels map[string]string) bool {
	for _, m := range sel {
		if !m.Matches(labels[m.Name]) {
			return false
		}
	}
	return true
}

const notFound = "collector not found"

// preview is a dry run: what would happen to each collector.
func (b *Bulk) preview(r wire.BulkRequest, items []target) wire.BulkResult {
	res := wire.BulkResult{Action: r.Action, State: store.BulkDone, DryRun: true, Results: []wire.BulkItem{}}
	params, _ := b.params(&r)
	for _, t := range items {
		it := wire.BulkItem{Collector: t.id}
		switch {
		case !t.found:
			it.Status, it.Error = "failed", notFound
		case r.Action == ActUnregister:
			it.Status, it.Success = "would", true
			it.Message = fmt.Sprintf("would unregister (%s, %s)", t.health.Target.Provider, t.health.Status)
		default:
			if err := Check(r.Action, params, t.health.Agent.Kind); err != nil {
				it.Status, it.Error = "failed", err.Error()
			} else if t.health.Target != nil && t.health.Scraped && !t.health.Agent.HasContract && commandOf[r.Action] != "" {
				it.Status, it.Error = "failed", ErrNotAgent.Error()
			} else {
				it.Status, it.Success = "would", true
				it.Message = fmt.Sprintf("would %s (now %s: %s)", r.Action, t.health.Status, t.health.Reason)
			}
		}
		res.Results = append(res.Results, it)
	}
	count(&res)
	return res
}

// count sums res's items by outcome.
func count(res *wire.BulkResult) {
	res.Total, res.Succeeded, res.Failed, res.Pending = len(res.Results), 0, 0, 0
	for _, it := range res.Results {
		switch it.Status {
		case "ok", "would":
			res.Succeeded++
		case "pending":
			res.Pending++
		default:
			res.Failed++
		}
	}
}

// itemID is the command id of one item: derived from the operation and the
// collector, so an operation run again after a crash creates nothing twice.
func itemID(bulk, collector string) string {
	sum := sha256.Sum256([]byte(collector))
	return bulk + "." + hex.EncodeToString(sum[:8])
}

// execute carries out op for every resolved collector, waits a while for the
// agents' acknowledgements, and records the results.
func (b *Bulk) execute(ctx context.Context, op store.BulkOperation, r wire.BulkRequest, scope Scope, actor store.Actor, remote string) wire.BulkResult {
	items := b.resolve(r, scope)
	params, _ := b.params(&r)
	results := make([]wire.BulkItem, len(items))
	sem := make(chan struct{}, b.o.Parallel)
	var wg sync.WaitGroup
	for i, t := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = b.one(ctx, op.ID, r.Action, params, t, actor, remote)
		})
	}
	wg.Wait()
	// Wait, together, for the agents to answer: an offline agent shows as
	// pending (its command is retried until it expires), not as failed.
	wctx, cancel := context.WithTimeout(ctx, b.o.AckWait)
	for i := range results {
		if results[i].CommandID == "" {
			continue
		}
		c, _ := b.d.Wait(wctx, results[i].CommandID, func(c store.Command) bool {
			return c.State != store.CommandPending && c.State != store.CommandSent
		})
		results[i] = itemOf(results[i], c)
	}
	cancel()
	now := time.Now()
	op.State, op.FinishedAt = store.BulkDone, now
	res := b.resultOf(op, results)
	sum, _ := json.Marshal(struct {
		Total     int             `json:"total"`
		Succeeded int             `json:"succeeded"`
		Failed    int             `json:"failed"`
		Pending   int             `json:"pending"`
		Results   []wire.BulkItem `json:"results"`
	}{res.Total, res.Succeeded, res.Failed, res.Pending, res.Results})
	wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.o.Store.FinishBulk(wctx, op.ID, store.BulkDone, sum, "", now); err != nil {
		b.log.Warn("recording a bulk operation's results failed", "bulk", op.ID, "err", err)
	}
	b.log.Info("bulk operation done", "bulk", op.ID, "action", r.Action, "total", res.Total, "succeeded", res.Succeeded,
		"failed", res.Failed, "pending", res.Pending, "by", actor.Name)
	return res
}

func itemOf(it wire.BulkItem, c store.Command) wire.BulkItem {
	it.State = c.State
	switch c.State {
	case store.CommandAcknowledged, store.CommandConfirmed:
		it.Status, it.Success, it.Error = "ok", true, ""
	case store.CommandFailed, store.CommandExpired:
		it.Status, it.Success, it.Error = "failed", false, c.Error
	default:
		it.Status, it.Success = "pending", false
		switch {
		case c.Error != "":
			it.Message = "not acknowledged yet (retrying): " + c.Error
		case c.Attempts == 0:
			it.Message = "queued behind an earlier command to this collector, which is not confirmed yet"
		}
	}
	return it
}

// one carries out the operation for one collector.
func (b *Bulk) one(ctx context.Context, bulkID, action string, params json.RawMessage, t target, actor store.Actor, remote string) wire.BulkItem {
	it := wire.BulkItem{Collector: t.id}
	if !t.found {
		it.Status, it.Error = "failed", notFound
		return it
	}
	if action == ActUnregister {
		var u UnregisterRequest
		_ = json.Unmarshal(params, &u)
		u.Collector = t.id
		a, err := b.o.Lifecycle.Unregister(ctx, u, actor, remote)
		var conflict *Conflict
		switch {
		case err == nil:
			it.Status, it.Success, it.Message = "ok", true, "unregistered, archive "+a.ID
		case errors.As(err, &conflict):
			// Run again after a crash, or unregistered meanwhile: it is done.
			it.Status, it.Success, it.Message = "ok", true, conflict.Msg
		default:
			it.Status, it.Error = "failed", err.Error()
		}
		return it
	}
	id := itemID(bulkID, t.id)
	res, err := b.d.Act(ctx, ActRequest{Collector: t.id, Action: action, Params: params, Actor: actor, Remote: remote, BulkID: bulkID, ID: id})
	switch {
	case errors.Is(err, store.ErrExists):
		// Created by an earlier run of this operation: follow that command.
		c, cerr := b.d.Command(ctx, id)
		if cerr != nil {
			it.Status, it.Error = "failed", cerr.Error()
			return it
		}
		it.CommandID = c.ID
		return itemOf(it, c)
	case err != nil:
		it.Status, it.Error = "failed", err.Error()
		return it
	case res.Command == nil:
		it.Status, it.Success, it.Message = "ok", true, "applied by the server"
		return it
	}
	it.CommandID, it.State = res.Command.ID, res.Command.State
	it.Status = "pending"
	return it
}

func (b *Bulk) resultOf(op store.BulkOperation, items []wire.BulkItem) wire.BulkResult {
	res := wire.BulkResult{ID: op.ID, Action: op.Action, State: op.State, CreatedAt: op.CreatedAt.UTC(), CreatedBy: op.Actor.Name,
		StartedAt: opt(op.StartedAt), FinishedAt: opt(op.FinishedAt), Error: op.Error, Results: items}
	if !op.ScheduleAt.IsZero() {
		res.ScheduleAt = opt(op.ScheduleAt)
	}
	if res.Results == nil {
		res.Results = []wire.BulkItem{}
	}
	var req wire.BulkRequest
	if json.Unmarshal(op.Request, &req) == nil {
		req.ScheduleAt = nil
		req.Params = Redact(req.Params) // the stored request keeps them, to run it
		res.Request = &req
	}
	count(&res)
	return res
}

// View renders a stored operation.
func (b *Bulk) View(op store.BulkOperation) wire.BulkResult {
	var items []wire.BulkItem
	if len(op.Result) > 0 {
		var r struct {
			Results []wire.BulkItem `json:"results"`
		}
		_ = json.Unmarshal(op.Result, &r)
		items = r.Results
	}
	return b.resultOf(op, items)
}

// Get returns an operation, if actor may see it (its owner or admin).
func (b *Bulk) Get(ctx context.Context, id string, userID string, admin bool) (wire.BulkResult, error) {
	op, err := b.o.Store.Bulk(ctx, id)
	if err != nil {
		return wire.BulkResult{}, err
	}
	if !admin && op.Actor.UserID != userID {
		return wire.BulkResult{}, store.ErrNotFound
	}
	res := b.View(op)
	// The stored results are as they were when the operation answered; the
	// items still pending then are read again from their commands.
	for i, it := range res.Results {
		if it.Status == "pending" && it.CommandID != "" {
			if c, err := b.d.Command(ctx, it.CommandID); err == nil {
				res.Results[i] = itemOf(it, c)
			}
		}
	}
	count(&res)
	return res, nil
}

// List returns the operations actor may see, newest first.
func (b *Bulk) List(ctx context.Context, state, userID string, admin bool, limit int) ([]wire.BulkResult, error) {
	ops, err := b.o.Store.Bulks(ctx, state, 0)
	if err != nil {
		return nil, err
	}
	out := []wire.BulkResult{}
	for _, op := range ops {
		if admin || op.Actor.UserID == userID {
			out = append(out, b.View(op))
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Cancel cancels a scheduled operation of actor's (or any, for an admin).
func (b *Bulk) Cancel(ctx context.Context, id string, actor store.Actor, remote string, admin bool) (wire.BulkResult, error) {
	op, err := b.o.Store.Bulk(ctx, id)
	if err != nil {
		return wire.BulkResult{}, err
	}
	if !admin && op.Actor.UserID != actor.UserID {
		return wire.BulkResult{}, store.ErrNotFound
	}
	ok, err := b.o.Store.CancelBulk(ctx, id, time.Now(), store.AuditEntry{Actor: actor, Remote: remote, Action: "bulk-cancel",
		Result: store.ResultOK, FinishedAt: time.Now(), Reason: "cancelled " + op.Action + " scheduled for " + op.ScheduleAt.UTC().Format(time.RFC3339)})
	if err != nil {
		return wire.BulkResult{}, err
	}
	if !ok {
		return b.View(op), &Conflict{Msg: fmt.Sprintf("bulk operation %s is %s, not scheduled: only a scheduled one can be cancelled", id, op.State)}
	}
	op, err = b.o.Store.Bulk(ctx, id)
	if err != nil {
		return wire.BulkResult{}, err
	}
	return b.View(op), nil
}

func (b *Bulk) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run runs scheduled operations when they are due, and on start finishes the
// ones a stopped server left running, until ctx ends.
func (b *Bulk) Run(ctx context.Context) error {
	select {
	case <-b.d.Ready():
	case <-ctx.Done():
		return nil
	}
	if b.o.TargetsReady != nil {
		select {
		case <-b.o.TargetsReady:
		case <-ctx.Done():
			return nil
		}
	}
	if running, err := b.o.Store.Bulks(ctx, store.BulkRunning, 0); err == nil {
		for _, op := range running {
			b.log.Info("finishing a bulk operation the server stopped in", "bulk", op.ID, "action", op.Action)
			b.runStored(ctx, op)
		}
	} else {
		b.log.Warn("reading interrupted bulk operations failed", "err", err)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			b.wg.Wait()
			return nil
		case <-timer.C:
		case <-b.wake:
		}
		next := b.runDue(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(50*time.Millisecond, time.Until(next)))
	}
}

// runDue starts the scheduled operations that are due and returns when the next is.
func (b *Bulk) runDue(ctx context.Context) time.Time {
	next := time.Now().Add(time.Minute)
	ops, err := b.o.Store.Bulks(ctx, store.BulkScheduled, 0)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("reading scheduled bulk operations failed; will retry", "err", err)
		}
		return time.Now().Add(5 * time.Second)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ScheduleAt.Before(ops[j].ScheduleAt) })
	for _, op := range ops {
		if time.Now().Before(op.ScheduleAt) {
			return minTime(next, op.ScheduleAt)
		}
		ok, err := b.o.Store.ClaimBulk(ctx, op.ID, time.Now())
		if err != nil || !ok {
			continue // cancelled, or another server took it
		}
		b.wg.Go(func() { b.runStored(ctx, op) })
	}
	return next
}

// runStored runs a stored operation on behalf of its owner, with the owner's
// rights as they are now.
func (b *Bulk) runStored(ctx context.Context, op store.BulkOperation) {
	var r wire.BulkRequest
	if err := json.Unmarshal(op.Request, &r); err != nil {
		b.fail(ctx, op, "the stored request is unreadable: "+err.Error())
		return
	}
	scope, err := b.o.Principal(ctx, op.Actor.UserID)
	if err != nil {
		b.fail(ctx, op, fmt.Sprintf("%s may no longer act (%v); nothing was done", op.Actor.Name, err))
		return
	}
	actor := store.Actor{Kind: store.ActorScheduler, Name: op.Actor.Name, UserID: op.Actor.UserID}
	if op.StartedAt.IsZero() {
		op.StartedAt = time.Now()
	}
	b.execute(ctx, op, r, scope, actor, "")
}

func (b *Bulk) fail(ctx context.Context, op store.BulkOperation, why string) {
	b.log.Warn("bulk operation failed", "bulk", op.ID, "reason", why)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.o.Store.FinishBulk(ctx, op.ID, store.BulkFailed, nil, why, time.Now()); err != nil {
		b.log.Warn("recording a failed bulk operation failed", "bulk", op.ID, "err", err)
	}
}

func newBulkID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "bulk-" + hex.EncodeToString(b[:])
}
