package exporter

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/corral-dev/corral/exporter/control"
)

// recentCommandsKept bounds the answers kept for idempotency by command id.
const recentCommandsKept = 256

// commandError is a command that could not be carried out; status is the HTTP status
// of the answer (400 for bad arguments, 200 for a refusal or a failure of the command
// itself: the request was fine, the command's result is "not ok").
type commandError struct {
	status int
	msg    string
}

func (e *commandError) Error() string { return e.msg }

func badArgs(format string, a ...any) error {
	return &commandError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

func refused(format string, a ...any) error {
	return &commandError{status: http.StatusOK, msg: fmt.Sprintf(format, a...)}
}

// Execute carries out one verified control request. It returns the answer, the
// HTTP status to send, and a function to call once the answer is on the wire (the
// restart command restarts only then). A command id seen before returns the first
// answer again without running the command twice.
//
// The same id arriving again while its first request is still being carried
// out (the server timed out and retried, or a restarted server resent what its
// predecessor had in flight) waits for that first answer instead of running the
// command a second time.
func (a *Agent) Execute(ctx context.Context, req control.Request) (control.Response, int, func()) {
	a.mu.Lock()
	for {
		if r, ok := a.answeredLocked(req.ID); ok {
			a.mu.Unlock()
			if r.Command != req.Command {
				return control.Response{ID: req.ID, Command: req.Command, Error: fmt.Sprintf("command id %q was already used for %s; use a new id", req.ID, r.Command)}, http.StatusConflict, nil
			}
			return r, http.StatusOK, nil
		}
		busy, ok := a.executing[req.ID]
		if !ok {
			break
		}
		a.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return control.Response{ID: req.ID, Command: req.Command, Error: fmt.Sprintf("command id %q is still being carried out; ask again for its answer", req.ID)}, http.StatusServiceUnavailable, nil
		}
		a.mu.Lock()
	}
	if a.executing == nil {
		a.executing = map[string]chan struct{}{}
	}
	done := make(chan struct{})
	a.executing[req.ID] = done
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.executing, req.ID)
		a.mu.Unlock()
		close(done)
	}()

	var (
		result any
		err    error
		after  func()
	)
	switch req.Command {
	case control.Pause:
		result, err = a.pause(req.Args)
	case control.Resume:
		result, err = a.resume()
	case control.Restart:
		result, err = a.restartCmd()
		if err == nil {
			after = func() {
				select {
				case a.restart <- struct{}{}:
				default:
				}
			}
		}
	case control.Collect:
		result, err = a.collectCmd(ctx)
	case control.Backfill:
		result, err = a.startBackfill(req.Args)
	case control.UpdateConfig:
		result, err = a.updateConfig(ctx, req.Args)
	case control.TestConnection:
		result, err = a.testConnection(ctx)
	case control.RotateCredentials:
		result, err = a.rotateCredentials(ctx, req.Args)
	default:
		err = badArgs("unknown command %q", req.Command)
	}
	resp := control.Response{ID: req.ID, Command: req.Command, OK: err == nil, Result: result}
	status := http.StatusOK
	outcome := "ok"
	if err != nil {
		resp.Error = err.Error()
		outcome = "failed"
		var ce *commandError
		if errors.As(err, &ce) && ce.status != http.StatusOK {
			status = ce.status
			outcome = "rejected"
		}
	}
	a.m.commands.WithLabelValues(req.Command, outcome).Inc()
	a.log.Info("command handled", "command", req.Command, "id", req.ID, "ok", resp.OK, "error", resp.Error)
	if status == http.StatusOK {
		a.remember(resp)
	}
	return resp, status, after
}

// answeredLocked returns the kept answer to command id, if there is one.
func (a *Agent) answeredLocked(id string) (control.Response, bool) {
	for _, r := range a.st.RecentCommands {
		if r.ID == id {
			return r, true
		}
	}
	return control.Response{}, false
}

// remember keeps the answer for idempotency and persists it with the state, so a
// command retried across an agent restart (restart itself, above all) is not run twice.
func (a *Agent) remember(resp control.Response) {
	// Round-trip the result so what is kept is what a retry would have been sent.
	if b, err := json.Marshal(resp.Result); err == nil {
		resp.Result = json.RawMessage(b)
	}
	a.mu.Lock()
	a.st.RecentCommands = append(a.st.RecentCommands, resp)
	if n := len(a.st.RecentCommands); n > recentCommandsKept {
		a.st.RecentCommands = append([]control.Response(nil), a.st.RecentCommands[n-recentCommandsKept:]...)
	}
	st := a.st
	a.mu.Unlock()
	a.persist(st)
}

func (a *Agent) persist(st persistedState) {
	if err := saveState(a.opts.StatePath, st); err != nil {
		a.log.Error("saving state failed; the change holds until the agent restarts", "err", err)
	}
}

type pauseArgs struct {
	Reason string `json:"reason"`
}

func (a *Agent) pause(raw json.RawMessage) (any, error) {
	var args pauseArgs
	if len(raw) > 0 && string(raw) != "null" {
		if err := strictJSON(raw, &args); err != nil {
			return nil, badArgs("pause args: %v", err)
		}
	}
	a.mu.Lock()
	was := a.st.Paused
	a.st.Paused = true
	a.st.PausedReason = args.Reason
	a.setStateLocked(StatePaused)
	if a.backfill != nil && a.backfill.Running {
		a.backfill.cancel()
	}
	st := a.st
	a.mu.Unlock()
	a.persist(st)
	return map[string]any{"state": StatePaused, "was_paused": was}, nil
}

func (a *Agent) resume() (any, error) {
	a.mu.Lock()
	was := a.st.Paused
	a.st.Paused = false
	a.st.PausedReason = ""
	if a.state == StatePaused {
		a.setStateLocked(StateRunning)
	}
	st := a.st
	a.mu.Unlock()
	a.persist(st)
	if was {
		a.poke(true)
	}
	return map[string]any{"state": a.State(), "was_paused": was}, nil
}

func (a *Agent) restartCmd() (any, error) {
	if !a.opts.RestartSupported {
		return nil, refused("restart is not supported by this agent (it runs embedded; restart its host process instead)")
	}
	return map[string]any{"restarting": true, "pid": pidNow()}, nil
}

func (a *Agent) collectCmd(ctx context.Context) (any, error) {
	a.mu.Lock()
	paused := a.st.Paused
	runCtx := a.runCtx
	a.mu.Unlock()
	if paused {
		return nil, refused("collector is paused; resume it first")
	}
	if runCtx == nil {
		runCtx = ctx
	}
	res, err := a.collect(runCtx)
	if err != nil {
		a.mu.Lock()
		a.consecutive++
		a.m.consecutiveFailures.Set(float64(a.consecutive))
		if a.consecutive >= a.opts.ErrorAfter && !a.st.Paused {
			a.setStateLocked(StateError)
		}
		a.mu.Unlock()
		return nil, refused("collection failed: %v", err)
	}
	a.mu.Lock()
	d := a.last.Seconds
	a.mu.Unlock()
	out := map[string]any{"items": res.Items, "duration_seconds": d}
	if !res.Newest.IsZero() {
		out["newest_item"] = res.Newest
	}
	return out, nil
}

func (a *Agent) startBackfill(raw json.RawMessage) (any, error) {
	bf, ok := a.c.(Backfiller)
	if !ok {
		return nil, refused("collector kind %q does not support backfill", a.opts.Kind)
	}
	args, err := control.ParseBackfillArgs(raw)
	if err != nil {
		return nil, badArgs("backfill args: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st.Paused {
		return nil, refused("collector is paused; resume it before a backfill")
	}
	if b := a.backfill; b != nil && b.Running {
		return nil, refused("a backfill of %s to %s is already running (started %s, %.0f%% done); wait for it or pause the collector to stop it",
			b.From.Format(time.RFC3339), b.To.Format(time.RFC3339), b.Started.Format(time.RFC3339), b.Progress*100)
	}
	parent := a.runCtx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	b := &backfillStatus{Running: true, From: args.From, To: args.To, Started: time.Now(), cancel: cancel}
	a.backfill = b
	a.m.backfillProgress.Set(0)
	a.m.backfillRunning.Set(1)
	a.log.Info("backfill started", "from", args.From, "to", args.To)
	go a.runBackfill(ctx, cancel, bf, b)
	return map[string]any{"started": true, "from": args.From, "to": args.To}, nil
}

func (a *Agent) runBackfill(ctx context.Context, cancel context.CancelFunc, bf Backfiller, b *backfillStatus) {
	defer cancel()
	reported := 0
	err := bf.Backfill(ctx, b.From, b.To, func(ratio float64, items int) {
		ratio = max(0, min(1, ratio))
		a.mu.Lock()
		b.Progress = ratio
		if items > reported {
			a.m.backfillItems.Add(float64(items - reported))
			reported = items
		}
		b.Items = reported
		a.mu.Unlock()
		a.m.backfillProgress.Set(ratio)
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.m.backfillRunning.Set(0) // after the final progress, so a scrape never sees 0 with a stale ratio
	b.Running = false
	b.Finished = time.Now()
	switch {
	case err == nil:
		b.Progress = 1
		a.m.backfillProgress.Set(1)
		a.log.Info("backfill finished", "items", b.Items)
	case ctx.Err() != nil:
		b.Error = "stopped: the collector was paused or is shutting down"
		a.log.Info("backfill stopped", "items", b.Items, "progress", b.Progress)
	default:
		b.Error = err.Error()
		a.log.Warn("backfill failed", "err", err, "items", b.Items)
	}
}

// runnerKeys are the update_config keys the runner applies itself; every other key
// goes to the collector.
var runnerKeys = map[string]bool{"interval": true, "jitter": true, "timeout": true, "expected_items": true, "expected_interval": true}

func (a *Agent) updateConfig(ctx context.Context, raw json.RawMessage) (any, error) {
	patch, err := jsonObject(raw)
	if err != nil {
		return nil, badArgs("update_config: %v", err)
	}
	if len(patch) == 0 {
		return nil, badArgs("update_config: args hold no keys to change")
	}
	if err := a.applyPatch(ctx, patch); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.st.ConfigPatch == nil {
		a.st.ConfigPatch = map[string]json.RawMessage{}
	}
	keys := make([]string, 0, len(patch))
	for k, v := range patch {
		a.st.ConfigPatch[k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	a.st.ConfigGeneration++
	a.m.configGeneration.Set(float64(a.st.ConfigGeneration))
	gen := a.st.ConfigGeneration
	st := a.st
	a.mu.Unlock()
	a.persist(st)
	a.poke(false)
	a.log.Info("config updated", "keys", keys, "config_generation", gen)
	return map[string]any{"config_generation": gen, "applied": keys}, nil
}

// applyPatch validates every key first and applies nothing unless all are valid.
func (a *Agent) applyPatch(ctx context.Context, patch map[string]json.RawMessage) error {
	a.mu.Lock()
	interval, jitter, timeout := a.interval, a.jitter, a.timeout
	expItems, expInterval := a.expectedItems, a.expectedInterval
	a.mu.Unlock()
	rest := map[string]json.RawMessage{}
	for k, v := range patch {
		if !runnerKeys[k] {
			rest[k] = v
			continue
		}
		var err error
		switch k {
		case "interval":
			interval, err = jsonDuration(v)
			if err == nil && interval < time.Second {
				err = errors.New("must be at least 1s")
			}
		case "jitter":
			jitter, err = jsonDuration(v)
		case "timeout":
			timeout, err = jsonDuration(v)
			if err == nil && timeout <= 0 {
				err = errors.New("must be positive")
			}
		case "expected_interval":
			expInterval, err = jsonDuration(v)
			if err == nil && expInterval <= 0 {
				err = errors.New("must be positive")
			}
		case "expected_items":
			err = json.Unmarshal(v, &expItems)
			if err == nil && expItems < 0 {
				err = errors.New("must not be negative")
			}
		}
		if err != nil {
			return badArgs("update_config: %s: %v", k, err)
		}
	}
	if len(rest) > 0 {
		cfg, ok := a.c.(Configurable)
		if !ok {
			keys := make([]string, 0, len(rest))
			for k := range rest {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return badArgs("update_config: collector kind %q accepts no config keys of its own (got %v); runner keys are interval, jitter, timeout, expected_items, expected_interval", a.opts.Kind, keys)
		}
		b, _ := json.Marshal(rest)
		if err := cfg.ApplyConfig(ctx, b); err != nil {
			return badArgs("update_config: %v", err)
		}
	}
	a.mu.Lock()
	a.interval, a.jitter, a.timeout = interval, jitter, timeout
	if _, ok := patch["interval"]; ok {
		if _, set := patch["timeout"]; !set && a.timeout > interval {
			a.timeout = interval
		}
	}
	a.expectedItems, a.expectedInterval = expItems, expInterval
	a.publishExpectation()
	a.mu.Unlock()
	return nil
}

func jsonDuration(v json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, errors.New(`must be a duration string such as "30s"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as \"30s\"", s)
	}
	return d, nil
}

func (a *Agent) testConnection(ctx context.Context) (any, error) {
	t, ok := a.c.(ConnectionTester)
	if !ok {
		return nil, refused("collector kind %q has no connection test", a.opts.Kind)
	}
	a.mu.Lock()
	timeout := a.timeout
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, err := t.TestConnection(ctx)
	if err != nil {
		return nil, refused("connection test failed: %v", err)
	}
	if res == nil {
		res = map[string]any{}
	}
	res["duration_seconds"] = time.Since(start).Seconds()
	return res, nil
}

func (a *Agent) rotateCredentials(ctx context.Context, raw json.RawMessage) (any, error) {
	args, err := control.ParseRotateArgs(raw)
	if err != nil {
		return nil, badArgs("rotate_credentials args: %v", err)
	}
	if args.AddKeys, err = normalizeKeys(args.AddKeys); err != nil {
		return nil, badArgs("rotate_credentials: add_keys: %v", err)
	}
	if args.RemoveKeys, err = normalizeKeys(args.RemoveKeys); err != nil {
		return nil, badArgs("rotate_credentials: remove_keys: %v", err)
	}
	a.mu.Lock()
	added := appendNew(a.st.AddedKeys, args.AddKeys)
	removed := appendNew(a.st.RemovedKeys, args.RemoveKeys)
	// A key added again after a removal is trusted again.
	removed = without(removed, args.AddKeys)
	added = without(added, args.RemoveKeys)
	a.mu.Unlock()
	keys, err := a.trustedKeys(added, removed)
	if err != nil {
		return nil, badArgs("rotate_credentials: %v", err)
	}
	if len(keys) == 0 {
		return nil, badArgs("rotate_credentials: the change would leave no trusted key; add the new key before removing the last one")
	}
	var tokenHash []byte
	if args.MetricsTokenSHA256 != "" {
		if tokenHash, err = parseTokenHash(args.MetricsTokenSHA256); err != nil {
			return nil, badArgs("rotate_credentials: metrics_token_sha256: %v", err)
		}
	}
	reloaded := false
	if r, ok := a.c.(CredentialReloader); ok {
		if err := r.ReloadCredentials(ctx); err != nil {
			return nil, refused("reloading the collector's credentials failed, nothing was changed: %v", err)
		}
		reloaded = true
	}
	a.verifier.SetKeys(keys...)
	a.mu.Lock()
	a.st.AddedKeys, a.st.RemovedKeys = added, removed
	var prevUntil time.Time
	if tokenHash != nil {
		// The old token stays good for a grace period: the server switches to
		// the new one after this answer, and a scrape in between must not fail.
		if a.tokenHash != nil && subtle.ConstantTimeCompare(a.tokenHash, tokenHash) != 1 {
			prevUntil = time.Now().Add(a.opts.TokenGrace)
			a.prevTokenHash, a.prevTokenUntil = a.tokenHash, prevUntil
			a.st.PrevTokenSHA256, a.st.PrevTokenUntil = hex.EncodeToString(a.tokenHash), prevUntil
		}
		a.tokenHash, a.tokenSource = tokenHash, tokenSourceRotation
		a.st.MetricsTokenSHA256 = args.MetricsTokenSHA256
		// What the rotation replaced of the config: a config with another
		// token at the next start is newer than this rotation.
		config := strings.ToLower(a.opts.MetricsTokenSHA256)
		a.st.ReplacedConfigToken = &config
	}
	st := a.st
	a.mu.Unlock()
	a.persist(st)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = control.KeyID(k)
	}
	out := map[string]any{"trusted_keys": ids, "metrics_token_rotated": tokenHash != nil, "collector_credentials_reloaded": reloaded}
	if !prevUntil.IsZero() {
		out["previous_token_valid_until"] = prevUntil.UTC()
	}
	return out, nil
}

// normalizeKeys writes every key in one form, so the same key given as PEM once and
// as ed25519:… another time is one key.
func normalizeKeys(keys []string) ([]string, error) {
	out := make([]string, len(keys))
	for i, s := range keys {
		k, err := control.ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		out[i] = control.FormatPublicKey(k)
	}
	return out, nil
}

func appendNew(have, add []string) []string {
	out := append([]string(nil), have...)
	for _, s := range add {
		found := false
		for _, h := range out {
			if h == s {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}

func without(list, drop []string) []string {
	var out []string
	for _, s := range list {
		keep := true
		for _, d := range drop {
			if s == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
