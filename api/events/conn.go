package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/corral-dev/corral/api/wire"
)

// notice is a message of the hub itself rather than an event.
type notice wire.Event[any]

func reply(typ string, data any) notice {
	return notice{Type: typ, Time: time.Now().UTC(), Data: data}
}

func (n notice) bytes() []byte {
	b, _ := json.Marshal(n) // plain strings and numbers: cannot fail
	return b
}

const resyncReason = "slow consumer: events were dropped; reload state from the REST API"

var errShutdown = errors.New("server shutting down")

// Credential is what the hub knows of how a client authenticated.
type Credential struct {
	Scope Scope
	// Key names the credential (a session or an API token) for [Hub.Revoke];
	// "" if it cannot be revoked.
	Key string
	// Valid reports whether the credential still authenticates, and if not why
	// (the close reason); it is called every Options.RecheckInterval. nil: never
	// checked again.
	Valid func(ctx context.Context) (ok bool, reason string)
}

// Handler serves the WebSocket. scopeOf returns the caller's scope, or false when
// the request is not authenticated (401). The credential is never checked again;
// see [Hub.CredentialHandler].
func (h *Hub) Handler(scopeOf func(r *http.Request) (Scope, bool)) http.Handler {
	return h.CredentialHandler(func(r *http.Request) (Credential, bool) {
		scope, ok := scopeOf(r)
		return Credential{Scope: scope}, ok
	})
}

// CredentialHandler serves the WebSocket. credOf returns the caller's
// credential, or false when the request is not authenticated (401). A browser
// Origin other than the server's own host and Options.AllowedOrigins gets 403.
// A connection whose credential is revoked ([Hub.Revoke]) or found no longer
// valid (Credential.Valid) is closed with status 1008 (policy violation).
func (h *Hub) CredentialHandler(credOf func(r *http.Request) (Credential, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.checkOrigin(r); err != nil {
			writeError(w, http.StatusForbidden, "forbidden", err.Error())
			return
		}
		cred, ok := credOf(r)
		if !ok || cred.Scope == nil {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "authentication required")
			return
		}
		var batch bool
		switch v := r.URL.Query().Get("batch"); v {
		case "", "0", "false":
		case "1", "true":
			batch = true
		default:
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("batch=%q: want 1 (messages sent as JSON arrays) or 0", v))
			return
		}
		// Registered before the handshake answers: once a client's Dial returns, it
		// receives every event published (events meanwhile wait in its queue).
		c := newClient(cred.Scope, h.o.BufferSize)
		c.key = cred.Key
		c.batch = batch
		if !h.add(c) {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "server shutting down; reconnect shortly")
			return
		}
		defer h.remove(c)
		// The origin is checked above, with our error shape.
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return // Accept has answered (426 and the like)
		}
		h.serve(r.Context(), conn, c, cred.Valid, h.log.With("remote", r.RemoteAddr))
	})
}

// checkOrigin allows requests without Origin (non-browser clients), from the
// server's own host, and from Options.AllowedOrigins.
func (h *Hub) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid Origin %q", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range h.o.AllowedOrigins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return fmt.Errorf("origin %s is not allowed for host %s; add it to the allowed origins", origin, r.Host)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "code": code, "details": map[string]any{}})
}

// serve runs one connection: this goroutine writes, one reads client messages,
// one pings. It returns when the connection is closed and both have ended.
func (h *Hub) serve(ctx context.Context, conn *websocket.Conn, c *client, valid func(context.Context) (bool, string), log *slog.Logger) {
	conn.SetReadLimit(h.o.ReadLimit)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log.Debug("websocket client connected")
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel()
		h.read(ctx, conn, c)
	})
	wg.Go(func() { h.keepalive(ctx, conn, cancel) })
	if valid != nil {
		wg.Go(func() { h.recheck(ctx, c, valid) })
	}
	err := h.write(ctx, conn, c)
	var rev revokedError
	switch {
	case errors.Is(err, errShutdown):
		conn.Close(websocket.StatusGoingAway, errShutdown.Error())
	case errors.As(err, &rev):
		log.Info("closed a websocket client whose credential no longer holds", "reason", string(rev))
		conn.Close(websocket.StatusPolicyViolation, string(rev))
	case errors.Is(err, context.DeadlineExceeded):
		log.Info("closed a websocket client that did not take a write in time", "write_timeout", h.o.WriteTimeout)
	}
	cancel()
	conn.CloseNow()
	wg.Wait()
	log.Debug("websocket client disconnected", "reason", err)
}

// read applies the client's messages until the connection ends. A bad message
// gets an error reply; only a protocol error or an oversized message closes.
func (h *Hub) read(ctx context.Context, conn *websocket.Conn, c *client) {
	sb := subscriber{c: c}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		r, err := parseRequest(b)
		var n notice
		if err == nil {
			n, err = sb.handle(r)
		}
		if err != nil {
			n = reply(wire.MessageError, map[string]string{"error": err.Error()})
		}
		// Through the queue, so it comes after every event published before.
		if !c.offer(n.bytes()) {
			h.m.dropped.Inc()
		}
	}
}

// write sends queued messages until the connection ends, the hub shuts down, or
// a write fails or times out. After a miss it drops what is queued and sends one
// resync, so what a client receives is always a gap-free run of events.
func (h *Hub) write(ctx context.Context, conn *websocket.Conn, c *client) error {
	for {
		if missed := c.missed.Swap(0); missed > 0 {
			drained := 0
			for empty := false; !empty; {
				select {
				case <-c.queue:
					drained++
				default:
					empty = true
				}
			}
			h.m.dropped.Add(float64(drained)) // the misses were counted by Publish
			h.m.resyncs.Inc()
			n := notice{Type: wire.MessageResync, Reason: resyncReason, Time: time.Now().UTC(), Data: map[string]int64{"dropped": missed + int64(drained)}}
			if err := h.send(ctx, conn, n.bytes()); err != nil {
				return err
			}
			// Misses while the resync itself was stuck in the socket need another:
			// the client may reload before they happened.
			continue
		}
		select {
		case <-h.done:
			return errShutdown
		case reason := <-c.revoked:
			return revokedError(reason)
		case <-ctx.Done():
			return ctx.Err()
		case b := <-c.queue:
			if c.batch {
				b = h.drain(c, b)
			}
			if err := h.send(ctx, conn, b); err != nil {
				return err
			}
		}
	}
}

// Bounds of one batch frame (?batch=1).
const (
	batchMessages = 512
	batchBytes    = 256 << 10
)

// drain makes one frame of first and the messages queued behind it, at most
// batchMessages or batchBytes: a JSON array of them, in queue order. A burst
// then costs the client a handful of frames (one task each in a browser)
// instead of one per event.
func (h *Hub) drain(c *client, first []byte) []byte {
	buf := append(append(make([]byte, 0, 2*len(first)+2), '['), first...)
	for n := 1; n < batchMessages && len(buf) < batchBytes; n++ {
		select {
		case b := <-c.queue:
			buf = append(append(buf, ','), b...)
		default:
			n = batchMessages
		}
	}
	return append(buf, ']')
}

func (h *Hub) send(ctx context.Context, conn *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.o.WriteTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, b)
}

// revokedError ends a connection whose credential no longer holds; it is the
// close reason.
type revokedError string

func (e revokedError) Error() string { return "credential no longer valid: " + string(e) }

// recheck asks valid every Options.RecheckInterval whether the client's
// credential still holds, and revokes the client once it does not. An error of
// the check itself (the store unreachable) counts as valid: valid says so by
// returning true.
func (h *Hub) recheck(ctx context.Context, c *client, valid func(context.Context) (bool, string)) {
	t := time.NewTicker(h.o.RecheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ok, reason := valid(ctx); !ok {
				c.revoke(reason)
				return
			}
		}
	}
}

// keepalive pings the client; one that does not answer within the write timeout
// is disconnected.
func (h *Hub) keepalive(ctx context.Context, conn *websocket.Conn, disconnect context.CancelFunc) {
	t := time.NewTicker(h.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, h.o.WriteTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				disconnect()
				return
			}
		}
	}
}
