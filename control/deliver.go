package control

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	agentctl "github.com/corral-dev/corral/exporter/control"
	"github.com/corral-dev/corral/store"
)

// deliver makes one delivery attempt of e, the head of its collector's queue.
func (d *Dispatcher) deliver(e *entry) {
	d.mu.Lock()
	c := e.c
	d.mu.Unlock()
	h, ok := d.o.Fleet.Get(c.Collector)
	if !ok || h.Target == nil {
		d.retry(e, "the collector is not being scraped now (dropped by discovery?)", false)
		return
	}
	base, err := agentBase(h.Target.URL)
	if err != nil {
		d.fail(e, fmt.Sprintf("the collector's URL %q is not usable: %v", h.Target.URL, err), nil)
		return
	}
	// Recorded as sent before the request leaves: a server that dies now sends
	// it again on start, and the agent's memory of ids keeps it from running twice.
	sent := time.Now()
	d.change(e, func(c *store.Command) {
		c.State, c.Attempts, c.SentAt = store.CommandSent, c.Attempts+1, sent
	})
	if err := d.persist(e); err != nil {
		d.retry(e, "recording the attempt failed: "+err.Error(), true)
		return
	}
	req := agentctl.Request{ID: c.ID, Command: c.Command}
	if len(c.Args) > 0 && string(c.Args) != "{}" {
		req.Args = c.Args
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.o.Timeout)
	resp, status, err := d.signer.Load().Send(ctx, d.o.Client, base, c.Collector, req)
	cancel()
	switch {
	case err != nil:
		d.m.deliveries.WithLabelValues("unreachable").Inc()
		d.retry(e, err.Error(), false)
	case status == http.StatusOK && resp.OK:
		d.m.deliveries.WithLabelValues("acknowledged").Inc()
		d.acknowledge(e, resp)
	case status == http.StatusOK, status == http.StatusBadRequest, status == http.StatusForbidden,
		status == http.StatusConflict, status == http.StatusRequestEntityTooLarge:
		d.m.deliveries.WithLabelValues("refused").Inc()
		d.fail(e, agentError(c, status, resp), resp.Result)
	case status == http.StatusUnauthorized:
		// The agent does not trust the key (yet): its operator may be adding it.
		d.m.deliveries.WithLabelValues("unauthorized").Inc()
		d.retry(e, fmt.Sprintf("the agent rejected the signature (%s); does it trust the server's key %s? (corral keys show)", resp.Error, d.signer.Load().KeyID()), false)
	default:
		d.m.deliveries.WithLabelValues("unavailable").Inc()
		msg := fmt.Sprintf("HTTP %d", status)
		if resp.Error != "" {
			msg += ": " + resp.Error
		}
		d.retry(e, msg, false)
	}
}

func agentError(c store.Command, status int, resp agentctl.Response) string {
	why := resp.Error
	if why == "" {
		why = fmt.Sprintf("HTTP %d", status)
	}
	// The agent often starts with the command's name; say it once.
	why = strings.TrimPrefix(why, c.Command+": ")
	return fmt.Sprintf("%s refused %s: %s", c.Collector, c.Command, why)
}

// agentBase is the agent's base URL: the target URL without its path.
func agentBase(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", fmt.Errorf("no host")
	}
	return u.Scheme + "://" + u.Host, nil
}

// retry puts e back to pending with a backoff. soon retries at the least
// backoff (the store, not the agent, failed).
func (d *Dispatcher) retry(e *entry, why string, soon bool) {
	now := time.Now()
	c, ok := d.change(e, func(c *store.Command) {
		wait := d.o.MinBackoff
		if !soon {
			wait = d.backoff(c.Attempts)
		}
		c.State, c.NextAttemptAt, c.Error = store.CommandPending, now.Add(wait), why
	})
	d.mu.Lock()
	e.inflight = false
	d.mu.Unlock()
	if ok {
		d.persistAsync(e)
		d.publishCommand(c)
	}
	d.poke()
}

// backoff is the wait after the attempts-th failed attempt: doubling from
// MinBackoff up to MaxBackoff, with ±10% jitter so a fleet does not retry in step.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.o.MinBackoff
	for i := 1; i < attempts && b < d.o.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.o.MaxBackoff)
	return time.Duration(float64(b) * (0.9 + 0.2*rand.Float64()))
}

func (d *Dispatcher) fail(e *entry, why string, result any) {
	now := time.Now()
	c, ok := d.change(e, func(c *store.Command) {
		c.State, c.Error, c.FinishedAt = store.CommandFailed, why, now
		if result != nil {
			c.Result = rawJSON(result)
		}
	})
	d.mu.Lock()
	e.inflight = false
	d.mu.Unlock()
	if ok {
		d.finished(e, c)
	}
	d.poke()
}

// confirmedAtAck are the commands whose effect no scrape shows: the agent's
// answer is the confirmation.
func confirmedAtAck(cmd string, b baseline) bool {
	switch cmd {
	case agentctl.TestConnection, agentctl.RotateCredentials:
		return true
	case agentctl.Restart:
		return b.StartTime == 0 // no process_start_time_seconds to compare
	}
	return false
}

func (d *Dispatcher) acknowledge(e *entry, resp agentctl.Response) {
	now := time.Now()
	var final bool
	c, ok := d.change(e, func(c *store.Command) {
		c.State, c.AckedAt, c.Error = store.CommandAcknowledged, now, ""
		c.Result = rawJSON(resp.Result)
		if c.Command == agentctl.UpdateConfig {
			var r struct {
				Generation float64 `json:"config_generation"`
			}
			_ = json.Unmarshal(c.Result, &r)
			e.base.TargetGeneration = r.Generation
			c.Baseline, _ = json.Marshal(e.base)
		}
		if confirmedAtAck(c.Command, e.base) {
			c.State, c.FinishedAt, final = store.CommandConfirmed, now, true
		}
		// A backfill runs for as long as it needs while it makes progress.
		if c.Command == agentctl.Backfill {
			c.ExpiresAt = now.Add(d.o.Expiry)
		}
	})
	d.mu.Lock()
	e.inflight = false
	if ok && !final {
		d.queues[c.Collector] = without(d.queues[c.Collector], e)
		if len(d.queues[c.Collector]) == 0 {
			delete(d.queues, c.Collector)
		}
		d.acked[c.Collector] = append(d.acked[c.Collector], e)
	}
	d.mu.Unlock()
	if !ok {
		return
	}
	d.m.ackTime.Observe(now.Sub(c.CreatedAt).Seconds())
	if sha := tokenOf(c); sha != "" && d.o.Tokens != nil {
		// The agent has the new token (and keeps the old one for a grace
		// period): the server scrapes with the new one from now on.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
		if err := d.o.Tokens.TokenAcknowledged(ctx, c.Collector, sha); err != nil {
			d.log.Warn("switching to the new scrape token failed; the agent accepts the old one for its grace period", "collector", c.Collector, "err", err)
		}
		cancel()
	}
	if final {
		d.finished(e, c)
	} else {
		d.persistAsync(e)
		d.publishCommand(c)
	}
	d.poke()
}

// rawJSON encodes an agent's result (nil stays nil).
func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	if r, ok := v.(json.RawMessage); ok {
		return r
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
