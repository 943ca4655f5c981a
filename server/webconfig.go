package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
	"gopkg.in/yaml.v3"
)

// webConfig is --web.config.file: Prometheus's web configuration file
// (exporter-toolkit's format: tls_server_config, http_server_config,
// basic_auth_users, rate_limit). TLS covers the whole listener, the API
// included; basic auth and the rate limit guard only what Prometheus's own
// guards — /metrics, /federate and /debug/pprof — because the API, the UI and
// the WebSocket have corral's own authentication. As with the toolkit, the
// file is read again when it changes: new users and certificates apply
// without a restart.
type webConfig struct {
	path string

	mu      sync.Mutex
	stamp   string // size and mtime of the file last read
	cfg     *web.Config
	limiter *rate.Limiter
	// ok caches successful checks by a hash of user, hash and password:
	// bcrypt takes tens of milliseconds, a scrape comes every few seconds.
	ok map[[32]byte]bool
	// bcryptMu runs one bcrypt comparison at a time, as the toolkit does.
	bcryptMu sync.Mutex
}

// loadWebConfig reads and checks the file; "" is no web config.
func loadWebConfig(path string) (*webConfig, error) {
	if path == "" {
		return nil, nil
	}
	w := &webConfig{path: path}
	if _, err := w.config(); err != nil {
		return nil, err
	}
	return w, nil
}

// readWebConfig decodes path strictly over the toolkit's defaults (TLS 1.2 to
// 1.3, HTTP/2 on) and checks what the toolkit checks at start: the users'
// bcrypt hashes, the headers, and the certificates when TLS is set.
func readWebConfig(path string) (*web.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read web config: %w", err)
	}
	c := &web.Config{
		TLSConfig:  web.TLSConfig{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
		HTTPConfig: web.HTTPConfig{HTTP2: true},
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("web config %s: %w", path, err)
	}
	c.TLSConfig.SetDirectory(filepath.Dir(path))
	for user, hash := range c.Users {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("web config %s: basic_auth_users.%s: want a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n'): %w", path, user, err)
		}
	}
	// web.Validate checks the headers and loads the certificates.
	if err := web.Validate(path); err != nil {
		return nil, fmt.Errorf("web config %s: %w", path, err)
	}
	return c, nil
}

// config is the file's current content, read again when it changed.
func (w *webConfig) config() (*web.Config, error) {
	fi, err := os.Stat(w.path)
	if err != nil {
		return nil, fmt.Errorf("web config: %w", err)
	}
	stamp := fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg != nil && stamp == w.stamp {
		return w.cfg, nil
	}
	c, err := readWebConfig(w.path)
	if err != nil {
		return nil, err
	}
	w.cfg, w.stamp, w.ok = c, stamp, map[[32]byte]bool{}
	w.limiter = nil
	if c.RateLimiterConfig.Interval > 0 {
		w.limiter = rate.NewLimiter(rate.Every(c.RateLimiterConfig.Interval), c.RateLimiterConfig.Burst)
	}
	return c, nil
}

// tlsConfig is the listener's TLS configuration, nil without
// tls_server_config. Each new connection reads the file again, so renewed
// certificates apply at once.
func (w *webConfig) tlsConfig() (*tls.Config, bool, error) {
	c, err := w.config()
	if err != nil {
		return nil, false, err
	}
	if !c.TLSConfig.IsEnabled() {
		return nil, false, nil
	}
	tc, err := web.ConfigToTLSConfig(&c.TLSConfig)
	if err != nil {
		return nil, false, fmt.Errorf("web config %s: %w", w.path, err)
	}
	tc.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := w.config()
		if err != nil {
			return nil, err
		}
		next, err := web.ConfigToTLSConfig(&c.TLSConfig)
		if err != nil {
			return nil, err
		}
		next.NextProtos = tc.NextProtos
		return next, nil
	}
	return tc, c.HTTPConfig.HTTP2, nil
}

// hasUsers reports whether the file has basic_auth_users now.
func (w *webConfig) hasUsers() bool {
	if w == nil {
		return false
	}
	c, err := w.config()
	return err == nil && len(c.Users) > 0
}

// headers sets http_server_config.headers on every answer.
func (w *webConfig) headers(next http.Handler) http.Handler {
	if w == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if c, err := w.config(); err == nil {
			for k, v := range c.HTTPConfig.Header {
				rw.Header().Set(k, v)
			}
		}
		next.ServeHTTP(rw, r)
	})
}

// guard asks for one of basic_auth_users (when the file has any) and applies
// rate_limit, as the toolkit does for a whole exporter.
func (w *webConfig) guard(next http.Handler) http.Handler {
	if w == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := w.config()
		if err != nil {
			// Refuse rather than serve unprotected; the file is fixed by its owner.
			http.Error(rw, "the web config file cannot be read; see the server's log", http.StatusInternalServerError)
			return
		}
		w.mu.Lock()
		lim := w.limiter
		w.mu.Unlock()
		if lim != nil && !lim.Allow() {
			http.Error(rw, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
			return
		}
		if len(c.Users) == 0 || w.authorized(c, r) {
			next.ServeHTTP(rw, r)
			return
		}
		rw.Header().Set("WWW-Authenticate", `Basic realm="corral"`)
		http.Error(rw, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	})
}

// fakeHash is compared for an unknown user, so that timing does not tell
// which users exist (the toolkit's, of "fakepassword").
const fakeHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

func (w *webConfig) authorized(c *web.Config, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	hash, known := c.Users[user]
	if !known {
		hash = fakeHash
	}
	key := sha256.Sum256([]byte(user + "\x00" + string(hash) + "\x00" + pass))
	w.mu.Lock()
	good, cached := w.ok[key]
	w.mu.Unlock()
	if !cached {
		w.bcryptMu.Lock()
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass))
		w.bcryptMu.Unlock()
		good = err == nil && known
		w.mu.Lock()
		if len(w.ok) > 1000 {
			clear(w.ok)
		}
		w.ok[key] = good
		w.mu.Unlock()
	}
	return good
}
