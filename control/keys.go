package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/wire"
	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
)

// KeyStore keeps the server's signing keys; *store.Store is one.
type KeyStore interface {
	ServerKeys(ctx context.Context) ([]store.ServerKey, error)
	AddServerKey(ctx context.Context, k store.ServerKey) (bool, error)
}

// EnsureKey returns the server's active signing key, making one if the store has
// none. Two servers starting at once on one store end up with the same key.
func EnsureKey(ctx context.Context, ks KeyStore) (store.ServerKey, error) {
	for range 3 {
		keys, err := ks.ServerKeys(ctx)
		if err != nil {
			return store.ServerKey{}, fmt.Errorf("read the server's signing keys: %w", err)
		}
		for _, k := range keys {
			if k.State == store.KeyActive {
				return k, nil
			}
		}
		k, err := newKey(store.KeyActive)
		if err != nil {
			return store.ServerKey{}, err
		}
		if _, err := ks.AddServerKey(ctx, k); err != nil {
			return store.ServerKey{}, err
		}
	}
	return store.ServerKey{}, errors.New("no active signing key after three attempts to make one")
}

// ServerKeys returns the active key and the next one (zero KID when none).
func ServerKeys(ctx context.Context, ks KeyStore) (active, next store.ServerKey, err error) {
	keys, err := ks.ServerKeys(ctx)
	if err != nil {
		return active, next, fmt.Errorf("read the server's signing keys: %w", err)
	}
	for _, k := range keys {
		switch k.State {
		case store.KeyActive:
			active = k
		case store.KeyNext:
			next = k
		}
	}
	return active, next, nil
}

func newKey(state string) (store.ServerKey, error) {
	pub, priv, err := agentctl.GenerateKey()
	if err != nil {
		return store.ServerKey{}, err
	}
	pem, err := agentctl.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return store.ServerKey{}, err
	}
	now := time.Now()
	k := store.ServerKey{KID: agentctl.KeyID(pub), PrivateKeyPEM: string(pem), PublicKey: agentctl.FormatPublicKey(pub), State: state, CreatedAt: now}
	if state == store.KeyActive {
		k.ActivatedAt = now
	}
	return k, nil
}

func signerOf(k store.ServerKey) (*agentctl.Signer, error) {
	priv, err := agentctl.ParsePrivateKeyPEM([]byte(k.PrivateKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("the server's signing key %s: %w", k.KID, err)
	}
	return agentctl.NewSigner(priv), nil
}

// PublicKey is the public key agents must trust ("ed25519:…"); "" before Run.
func (d *Dispatcher) PublicKey() string {
	s := d.signer.Load()
	if s == nil {
		return ""
	}
	return s.PublicKey()
}

func infoOf(k store.ServerKey) *wire.KeyInfo {
	if k.KID == "" {
		return nil
	}
	return &wire.KeyInfo{KID: k.KID, PublicKey: k.PublicKey, CreatedAt: k.CreatedAt, ActivatedAt: opt(k.ActivatedAt)}
}

const (
	rotationPrefix = "rotation-"
	retirePrefix   = "retire-"
)

func isRotation(bulkID string) bool { return strings.HasPrefix(bulkID, rotationPrefix) }

// ErrNoRotation: there is no rotation to complete.
var ErrNoRotation = errors.New("no key rotation in progress; start one with POST /api/v1/keys/rotate")

// RotationStatus reports the keys and, during a rotation, where each agent is.
func (d *Dispatcher) RotationStatus(ctx context.Context) (wire.Rotation, error) {
	active, next, err := ServerKeys(ctx, d.o.Store)
	if err != nil {
		return wire.Rotation{}, err
	}
	r := wire.Rotation{Active: infoOf(active), Next: infoOf(next), InProgress: next.KID != "", Agents: []wire.RotationAgent{}}
	if next.KID == "" {
		return r, nil
	}
	cs, _, err := d.o.Store.Commands(ctx, store.CommandFilter{BulkID: rotationPrefix + next.KID})
	if err != nil {
		return wire.Rotation{}, err
	}
	latest := map[string]store.Command{} // Commands is newest first
	for _, c := range cs {
		if _, ok := latest[c.Collector]; !ok {
			latest[c.Collector] = c
		}
	}
	seen := map[string]bool{}
	for _, c := range latest {
		// The live copy is fresher than the row while the command is open.
		if live, err := d.Command(ctx, c.ID); err == nil {
			c = live
		}
		a := wire.RotationAgent{Collector: c.Collector, CommandID: c.ID, Error: c.Error}
		switch c.State {
		case store.CommandConfirmed, store.CommandAcknowledged:
			a.State = "acknowledged"
		case store.CommandFailed, store.CommandExpired:
			a.State = "missed"
		default:
			a.State = "pending"
		}
		seen[c.Collector] = true
		r.Agents = append(r.Agents, a)
	}
	for _, id := range d.agents() {
		if !seen[id] {
			r.Agents = append(r.Agents, wire.RotationAgent{Collector: id, State: "missed", Error: "not sent: the agent joined after the rotation started; retry the rotation"})
		}
	}
	slices.SortFunc(r.Agents, func(a, b wire.RotationAgent) int { return strings.Compare(a.Collector, b.Collector) })
	for _, a := range r.Agents {
		switch a.State {
		case "acknowledged":
			r.Acknowledged++
		case "pending":
			r.Pending++
		default:
			r.Missed++
		}
	}
	return r, nil
}

// agents lists the collectors that are corral agents, sorted.
func (d *Dispatcher) agents() []string {
	var out []string
	d.o.Fleet.Each(func(h health.Health) bool {
		if h.Target != nil && h.Agent.HasContract {
			out = append(out, h.Collector)
		}
		return true
	})
	return out
}

// StartRotation makes a next key and sends it to every agent, signed with the
// active key. During a rotation it sends it again to the agents that missed it.
// The server switches to the new key once every agent acknowledged it.
func (d *Dispatcher) StartRotation(ctx context.Context, actor store.Actor, remote string) (wire.Rotation, error) {
	select {
	case <-d.loaded:
	default:
		return wire.Rotation{}, ErrNotStarted
	}
	_, next, err := ServerKeys(ctx, d.o.Store)
	if err != nil {
		return wire.Rotation{}, err
	}
	action := "rotate-server-key"
	if next.KID == "" {
		k, err := newKey(store.KeyNext)
		if err != nil {
			return wire.Rotation{}, err
		}
		if ok, err := d.o.Store.AddServerKey(ctx, k); err != nil {
			return wire.Rotation{}, err
		} else if !ok {
			return wire.Rotation{}, errors.New("another rotation started at the same moment; look at GET /api/v1/keys")
		}
		next = k
	} else {
		action = "rotate-server-key-retry"
	}
	status, err := d.RotationStatus(ctx)
	if err != nil {
		return wire.Rotation{}, err
	}
	args, _ := json.Marshal(agentctl.RotateArgs{AddKeys: []string{next.PublicKey}})
	sent := 0
	for _, a := range status.Agents {
		if a.State != "missed" {
			continue
		}
		_, err := d.Submit(ctx, Request{Collector: a.Collector, Command: agentctl.RotateCredentials, Args: args, Actor: actor, Remote: remote,
			Action: action, Reason: "trust the server's next key " + next.KID, BulkID: rotationPrefix + next.KID})
		if err != nil {
			d.log.Warn("key rotation: could not send the next key", "collector", a.Collector, "err", err)
			continue
		}
		sent++
	}
	if _, err := d.o.Store.AppendAudit(ctx, store.AuditEntry{Actor: actor, Remote: remote, Action: action, Result: store.ResultOK,
		Reason: fmt.Sprintf("next key %s sent to %d agents", next.KID, sent), BulkID: rotationPrefix + next.KID, FinishedAt: time.Now()}); err != nil {
		d.log.Warn("key rotation: audit row not written", "err", err)
	}
	d.log.Info("key rotation: next key sent", "kid", next.KID, "agents", sent)
	d.checkRotation()
	return d.RotationStatus(ctx)
}

// CompleteRotation switches to the next key now. Unless force, every agent must
// have acknowledged it; with force, the agents that missed it keep trusting only
// the old key and can no longer be steered until their config trusts the new one.
func (d *Dispatcher) CompleteRotation(ctx context.Context, actor store.Actor, remote string, force bool) (wire.Rotation, error) {
	status, err := d.RotationStatus(ctx)
	if err != nil {
		return wire.Rotation{}, err
	}
	if !status.InProgress {
		return status, ErrNoRotation
	}
	if !force && (status.Pending > 0 || status.Missed > 0) {
		var names []string
		for _, a := range status.Agents {
			if a.State != "acknowledged" {
				names = append(names, a.Collector)
			}
		}
		return status, fmt.Errorf("%d agents have not acknowledged the next key (%s): retry the rotation for them, or force the switch",
			len(names), strings.Join(names, ", "))
	}
	if err := d.promote(ctx, actor, remote, status); err != nil {
		return wire.Rotation{}, err
	}
	return d.RotationStatus(ctx)
}

// checkRotation switches keys once every agent acknowledged the next one.
func (d *Dispatcher) checkRotation() {
	d.mu.Lock()
	if d.rotating {
		d.mu.Unlock()
		return
	}
	d.rotating = true
	d.mu.Unlock()
	d.spawn(func() {
		defer func() {
			d.mu.Lock()
			d.rotating = false
			d.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 30*time.Second)
		defer cancel()
		status, err := d.RotationStatus(ctx)
		if err != nil || !status.InProgress || status.Pending > 0 || status.Missed > 0 {
			if err == nil && status.InProgress && status.Pending == 0 && status.Missed > 0 {
				d.log.Warn("key rotation waits: agents missed the next key", "kid", status.Next.KID, "missed", status.Missed)
			}
			return
		}
		if err := d.promote(ctx, store.Actor{Kind: store.ActorSystem, Name: "key-rotation"}, "", status); err != nil {
			d.log.Error("key rotation: switching to the next key failed", "err", err)
		}
	})
}

// promote makes the next key active, signs with it from now on, and withdraws
// the old key from the agents that trust the new one.
func (d *Dispatcher) promote(ctx context.Context, actor store.Actor, remote string, status wire.Rotation) error {
	active, next, err := ServerKeys(ctx, d.o.Store)
	if err != nil {
		return err
	}
	if next.KID == "" {
		return ErrNoRotation
	}
	signer, err := signerOf(next)
	if err != nil {
		return err
	}
	if err := d.o.Store.PromoteServerKey(ctx, next.KID, time.Now()); err != nil {
		return err
	}
	d.signer.Store(signer)
	var missed []string
	for _, a := range status.Agents {
		if a.State != "acknowledged" {
			missed = append(missed, a.Collector)
		}
	}
	reason := fmt.Sprintf("signing with %s; %s retired", next.KID, active.KID)
	if len(missed) > 0 {
		reason += fmt.Sprintf("; forced with %d agents that missed it: %s", len(missed), strings.Join(missed, ", "))
	}
	if _, err := d.o.Store.AppendAudit(ctx, store.AuditEntry{Actor: actor, Remote: remote, Action: "activate-server-key",
		Result: store.ResultOK, Reason: reason, FinishedAt: time.Now()}); err != nil {
		d.log.Warn("key rotation: audit row not written", "err", err)
	}
	d.log.Info("key rotation: switched to the next key", "kid", next.KID, "retired", active.KID, "missed", len(missed))
	if active.KID == "" {
		return nil
	}
	args, _ := json.Marshal(agentctl.RotateArgs{RemoveKeys: []string{active.PublicKey}})
	for _, a := range status.Agents {
		if a.State != "acknowledged" {
			continue
		}
		sum := sha256.Sum256([]byte(a.Collector))
		_, err := d.Submit(ctx, Request{ID: retirePrefix + active.KID + "." + hex.EncodeToString(sum[:8]), Collector: a.Collector,
			Command: agentctl.RotateCredentials, Args: args, Actor: actor, Action: "retire-server-key",
			Reason: "stop trusting the retired key " + active.KID, BulkID: retirePrefix + active.KID})
		if err != nil && !errors.Is(err, store.ErrExists) {
			d.log.Warn("key rotation: could not withdraw the old key", "collector", a.Collector, "err", err)
		}
	}
	return nil
}
